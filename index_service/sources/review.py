"""The match-review queue: a data administrator's decisions on incoming rows, each audited.

A review item is an incoming row that resembled a child too closely to create a new record
and not closely enough to link. The data administrator links it to one of its candidates,
creates a new child from it, or defers it. Two records later found to be one child are merged
in index_service.children.merges.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import selectinload

from accreditation.permissions import Permission, is_allowed
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.held import read_held
from index_service.children.lookup import surviving
from index_service.children.models import (
    Child,
)
from index_service.children.present import viewer_for
from index_service.children.writes import Writes
from index_service.database import utcnow
from index_service.extensions import db
from index_service.load_models import LoadRow, ReviewItem, ReviewStatus
from index_service.record_shielding.operations import shield_by_load
from index_service.sources.applying import apply_to_record, create_from_row
from index_service.sources.models import DataSource
from index_service.sources.validation import ValidRow
from shielding.redaction import hides_review_item

PENDING = (ReviewStatus.OPEN, ReviewStatus.DEFERRED)


class ReviewError(ValueError):
    """A decision that cannot be made as asked; the message says why."""


def may_manage(user: User, source: DataSource) -> bool:
    """Data administrators work on their own organisation's sources only."""
    return source.organisation_id == user.organisation_id


def may_see(user: User, item: ReviewItem) -> bool:
    """An item of the user's organisation's sources; one whose best candidate is a shielded record
    only if the user may see shielded records."""
    return may_manage(user, item.source) and not hides_review_item(item.best_shielded, viewer_for(user))


def _visible(user: User) -> tuple[ColumnElement[bool], ...]:
    """The pending items of the user's organisation's sources that the user may see."""
    where: tuple[ColumnElement[bool], ...] = (
        ReviewItem.status.in_(PENDING),
        DataSource.organisation_id == user.organisation_id,
    )
    if hides_review_item(True, viewer_for(user)):
        where += (ReviewItem.best_shielded.is_(False),)
    return where


def queue(user: User, page: int = 1, per_page: int = 20) -> tuple[list[ReviewItem], int]:
    """Pending items of the user's organisation's sources (those the user may see): open ones
    oldest first, then deferred."""
    where = _visible(user)
    total = db.session.scalar(select(func.count()).select_from(ReviewItem).join(DataSource).where(*where)) or 0
    deferred_last = case((ReviewItem.status == ReviewStatus.DEFERRED, 1), else_=0)
    items = db.session.scalars(
        select(ReviewItem)
        .join(DataSource)
        .where(*where)
        .order_by(deferred_last, ReviewItem.created_at, ReviewItem.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(items), total


def queue_counts(user: User) -> dict[str, int]:
    rows = db.session.execute(
        select(ReviewItem.status, func.count()).join(DataSource).where(*_visible(user)).group_by(ReviewItem.status)
    ).all()
    counts = {status.value: 0 for status in PENDING}
    counts.update({status.value: count for status, count in rows})
    return counts


def held_for_shielded_viewers(user: User) -> int:
    """How many pending items of the user's organisation's sources wait for someone who may see
    shielded records, when the user may not (else none: the user sees them in the queue)."""
    if not hides_review_item(True, viewer_for(user)):
        return 0
    return (
        db.session.scalar(
            select(func.count())
            .select_from(ReviewItem)
            .join(DataSource)
            .where(
                ReviewItem.status.in_(PENDING),
                DataSource.organisation_id == user.organisation_id,
                ReviewItem.best_shielded.is_(True),
            )
        )
        or 0
    )


def incoming_row(item: ReviewItem) -> ValidRow:
    """The validated row the item was made from, as it was when it arrived."""
    values = dict(item.incoming)
    for name in ("date_of_birth", "involvement_start_date", "involvement_end_date"):
        if values.get(name):
            values[name] = date.fromisoformat(values[name])
    values["warnings"] = tuple(values.get("warnings") or ())
    return ValidRow(**values)


def _pending(item: ReviewItem, user: User) -> None:
    if item.status not in PENDING:
        raise ReviewError("This item has already been decided")
    if not may_manage(user, item.source):
        raise ReviewError("This item belongs to another organisation's data source")
    if not may_see(user, item):
        raise ReviewError("This item resembles a shielded record: someone who may see shielded records decides it")


def _decided(item: ReviewItem, status: ReviewStatus, child: Child | None, user: User) -> None:
    item.status = status
    item.child = child
    item.decided_by_id = user.id
    item.decided_at = utcnow()
    db.session.flush()
    report = db.session.scalar(
        select(LoadRow).where(LoadRow.load_id == item.load_id, LoadRow.row_number == item.row_number)
    )
    if report is not None and child is not None:
        report.child_id = child.id
        report.reasons = [*report.reasons, f"reviewed: {status.value} by a data administrator"]
    record_event(
        AuditTag.REVIEW_DECISION,
        user=user,
        target_ids=[child.index_id] if child is not None else [],
        details={
            "review_item": item.id,
            "decision": status.value,
            "source": item.source.name,
            "source_record_id": item.source_record_id,
        },
    )


def link_item(item: ReviewItem, index_id: str, user: User) -> Child:
    """Link the incoming row to one of the item's candidates, and apply what it says."""
    _pending(item, user)
    if index_id not in {candidate["index_id"] for candidate in item.candidates}:
        raise ReviewError("Choose one of the candidates shown")
    child = db.session.scalar(select(Child).where(Child.index_id == index_id))
    if child is None:
        raise ReviewError("That candidate is no longer in the index")
    child = surviving(child)
    if child.is_shielded and not is_allowed(user.roles, Permission.SHIELDED_RECORD_VIEW):
        raise ReviewError("That record is shielded: the index team links rows to it")
    row = incoming_row(item)
    writes = Writes(utcnow())
    apply_to_record(read_held([child.id], [item.source_id])[child.id], row, item.source, writes)
    writes.flush()
    db.session.expire(child)
    if row.shield and not child.is_shielded:
        child.is_shielded = True
        shield_by_load(
            child.id,
            child.index_id,
            f"Flagged for shielding by {item.source.name}, row "
            f"{item.row_number} of load {item.load_id}; linked by review.",
            item.load_id,
            user,
        )
    _decided(item, ReviewStatus.LINKED, child, user)
    return child


def create_from_item(item: ReviewItem, user: User) -> Child:
    """The row is a child the index does not hold yet."""
    _pending(item, user)
    row = incoming_row(item)
    writes = Writes(utcnow())
    record = create_from_row(row, item.source, writes)
    writes.flush()
    child = db.session.get_one(Child, record.id)
    why = _why_shielded(item, row)
    if why:
        # Maybe a second record of a shielded child: shielded until a shielder decides.
        child.is_shielded = True
        shield_by_load(child.id, child.index_id, why, item.load_id, user)
    _decided(item, ReviewStatus.CREATED, child, user)
    return child


def _why_shielded(item: ReviewItem, row: ValidRow) -> str | None:
    """Why a record made from the item must be shielded, if it must."""
    where = f"row {item.row_number} of load {item.load_id} from {item.source.name}"
    if row.shield:
        return f"Flagged for shielding by the source: {where}."
    ids = [candidate["index_id"] for candidate in item.candidates]
    if ids and db.session.scalar(select(exists().where(Child.index_id.in_(ids), Child.is_shielded.is_(True)))):
        return f"Made in review from {where}, which resembled a shielded record."
    return None


def defer_item(item: ReviewItem, user: User) -> None:
    """Not now: the item goes behind the open ones, still pending."""
    _pending(item, user)
    _decided(item, ReviewStatus.DEFERRED, None, user)


def item_by_id(item_id: int) -> ReviewItem | None:
    return db.session.get(ReviewItem, item_id)


def candidate_records(item: ReviewItem) -> list[Child]:
    """The records the item's candidates name, with what a page shows of each (still unredacted)."""
    ids = [candidate["index_id"] for candidate in item.candidates]
    return list(
        db.session.scalars(
            select(Child)
            .where(Child.index_id.in_(ids))
            .options(
                selectinload(Child.addresses),
                selectinload(Child.carers),
                selectinload(Child.identifiers),
                selectinload(Child.other_names),
                selectinload(Child.involvements),
            )
        )
    )
