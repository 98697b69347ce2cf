"""The match-review queue and merges: a data administrator's decisions, each audited and reversible.

A review item is an incoming row that resembled a child too closely to create a new record
and not closely enough to link. The data administrator links it to one of its candidates,
creates a new child from it, or defers it. Two records later found to be one child are
merged; the merge keeps a list of every row it moved, so it can be undone exactly.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import case, exists, func, select

from accreditation.permissions import Permission, is_allowed
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.held import read_held
from index_service.children.lookup import refresh_blocking_keys, surviving
from index_service.children.models import (
    Address,
    CarerContact,
    Child,
    ChildName,
    DataSource,
    Involvement,
    NameKind,
    SourceIdentifier,
)
from index_service.children.shielding_decisions import ShieldingDecision
from index_service.children.writes import Writes
from index_service.database import utcnow
from index_service.extensions import db
from index_service.load_models import LoadRow, Merge, ReviewItem, ReviewStatus
from index_service.shields.operations import shield_by_load
from index_service.sources.applying import apply_to_record, create_from_row
from index_service.sources.validation import ValidRow

PENDING = (ReviewStatus.OPEN, ReviewStatus.DEFERRED)
MOVABLE: dict[str, type[Any]] = {
    "child_names": ChildName,
    "addresses": Address,
    "carer_contacts": CarerContact,
    "source_identifiers": SourceIdentifier,
    "involvements": Involvement,
    # The shielding history goes with the record whose shielding it explains.
    "shielding_decisions": ShieldingDecision,
}


class ReviewError(ValueError):
    """A decision that cannot be made as asked; the message says why."""


def may_manage(user: User, source: DataSource) -> bool:
    """Data administrators work on their own organisation's sources only."""
    return source.organisation_id == user.organisation_id


def queue(user: User, page: int = 1, per_page: int = 20) -> tuple[list[ReviewItem], int]:
    """Pending items of the user's organisation's sources: open ones oldest first, then deferred."""
    where = (ReviewItem.status.in_(PENDING), DataSource.organisation_id == user.organisation_id)
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
        select(ReviewItem.status, func.count())
        .join(DataSource)
        .where(ReviewItem.status.in_(PENDING), DataSource.organisation_id == user.organisation_id)
        .group_by(ReviewItem.status)
    ).all()
    counts = {status.value: 0 for status in PENDING}
    counts.update({status.value: count for status, count in rows})
    return counts


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


def supplied_by_organisation(child: Child, organisation_id: int) -> bool:
    """Whether one of the organisation's data sources supplied this record (its own record id for it)."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    SourceIdentifier.child_id == child.id,
                    SourceIdentifier.source_id == DataSource.id,
                    DataSource.organisation_id == organisation_id,
                )
            )
        )
    )


def _may_merge(user: User, *children: Child) -> None:
    """A data administrator merges only records their own organisation's sources supplied."""
    if not all(supplied_by_organisation(child, user.organisation_id) for child in children):
        raise ReviewError("You can merge only records that your organisation's data sources supplied")


def merge_children(kept: Child, retired: Child, user: User, *, checked: bool = False) -> Merge:
    """Move everything the retired record holds onto the kept one; the retired id redirects to it.

    `checked`: the caller has checked that the user may merge these two (a possible duplicate the
    sweep put in their organisation's queue, index_service.duplicates), which their organisation's
    sources need not both have supplied."""
    if kept.id == retired.id:
        raise ReviewError("A record cannot be merged with itself")
    if kept.merged_into_id is not None or retired.merged_into_id is not None:
        raise ReviewError("One of these records has already been merged into another")
    if not checked:
        _may_merge(user, kept, retired)
    moved: dict[str, list[int]] = {}
    for table, model in MOVABLE.items():
        rows = db.session.scalars(select(model).where(model.child_id == retired.id)).all()
        moved[table] = [row.id for row in rows]
        for row in rows:
            row.child_id = kept.id
    demoted = []
    if kept.current_address is not None:
        demoted = [
            a.id
            for a in db.session.scalars(
                select(Address).where(Address.id.in_(moved["addresses"]), Address.is_current.is_(True))
            )
        ]
        for address in db.session.scalars(select(Address).where(Address.id.in_(demoted))):
            address.is_current = False
    name = ChildName(kind=NameKind.ALIAS, given_name=retired.given_name, family_name=retired.family_name)
    kept.other_names.append(name)
    retired.merged_into_id = kept.id
    retired.blocking_keys = []
    state = {"demoted_addresses": demoted, "kept_was_shielded": kept.is_shielded}
    kept.is_shielded = kept.is_shielded or retired.is_shielded
    db.session.flush()
    state["added_name"] = name.id
    db.session.expire(kept)
    refresh_blocking_keys(kept)
    merge = Merge(
        surviving_child_id=kept.id, retired_child_id=retired.id, moved=moved, retired_state=state, merged_by_id=user.id
    )
    db.session.add(merge)
    db.session.flush()
    record_event(
        AuditTag.RECORD_MERGE,
        user=user,
        target_ids=[kept.index_id, retired.index_id],
        details={"merge": merge.id, "kept": kept.index_id, "retired": retired.index_id},
    )
    return merge


def undo_merge(merge: Merge, user: User) -> None:
    """Put back every row the merge moved; both records stand alone again."""
    if merge.undone_at is not None:
        raise ReviewError("This merge has already been undone")
    kept, retired = merge.surviving, merge.retired
    _may_merge(user, kept)
    for table, ids in merge.moved.items():
        model = MOVABLE[table]
        for row in db.session.scalars(select(model).where(model.id.in_(ids))):
            row.child_id = retired.id
    state = merge.retired_state
    for address in db.session.scalars(select(Address).where(Address.id.in_(state.get("demoted_addresses", [])))):
        address.is_current = True
    added = db.session.get(ChildName, state.get("added_name"))
    if added is not None:
        db.session.delete(added)
    kept.is_shielded = bool(state.get("kept_was_shielded", kept.is_shielded))
    retired.merged_into_id = None
    merge.undone_at = utcnow()
    merge.undone_by_id = user.id
    db.session.flush()
    db.session.expire(kept)
    db.session.expire(retired)
    refresh_blocking_keys(kept)
    refresh_blocking_keys(retired)
    record_event(
        AuditTag.RECORD_UNMERGE, user=user, target_ids=[kept.index_id, retired.index_id], details={"merge": merge.id}
    )
