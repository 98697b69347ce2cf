"""Possible duplicates in the review queue: who sees them, and the decisions on them.

An item is seen and decided by the data administrators of every organisation whose data sources
supplied either record (a health record and a school record of one child: both organisations),
and, when either record is shielded, only by those among them who may see shielded records (as a
load's review item never shows them a shielded candidate). To anyone else it does not exist.

The decisions are a load review's: merge the two records (the existing merge, which can be undone
exactly), or "not the same child". The item is kept either way, so the sweep never proposes the
pair again; a merge undone from the item leaves it "unmerged", not proposed again either.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select

from accreditation.permissions import Permission, is_allowed
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.merges import MergeError, merge_children, undo_merge
from index_service.children.models import Child, SourceIdentifier
from index_service.database import utcnow
from index_service.duplicates.models import DuplicateItem, DuplicateStatus
from index_service.extensions import db
from index_service.sources.models import DataSource

LABEL = "Possible duplicate found by the sweep"


class DuplicateError(ValueError):
    """A decision that cannot be made as asked; the message says why."""


def _supplied_by(child_id: Any, organisation_id: int) -> ColumnElement[bool]:
    return exists().where(
        SourceIdentifier.child_id == child_id,
        SourceIdentifier.source_id == DataSource.id,
        DataSource.organisation_id == organisation_id,
    )


def _visible(user: User) -> ColumnElement[bool]:
    """Items of a record the user's organisation supplied, and none of a shielded record unless the
    user may see shielded records."""
    mine = or_(
        _supplied_by(DuplicateItem.first_child_id, user.organisation_id),
        _supplied_by(DuplicateItem.second_child_id, user.organisation_id),
    )
    if is_allowed(user.roles, Permission.SHIELDED_RECORD_VIEW):
        return mine
    shielded = exists().where(
        or_(Child.id == DuplicateItem.first_child_id, Child.id == DuplicateItem.second_child_id),
        Child.is_shielded.is_(True),
    )
    return and_(mine, not_(shielded))


def queue(user: User, page: int = 1, per_page: int = 20) -> tuple[list[DuplicateItem], int]:
    """The open items the user may see, oldest first."""
    where = (DuplicateItem.status == DuplicateStatus.OPEN, _visible(user))
    total = db.session.scalar(select(func.count()).select_from(DuplicateItem).where(*where)) or 0
    items = db.session.scalars(
        select(DuplicateItem)
        .where(*where)
        .order_by(DuplicateItem.created_at, DuplicateItem.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(items), total


def open_count(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(DuplicateItem)
            .where(DuplicateItem.status == DuplicateStatus.OPEN, _visible(user))
        )
        or 0
    )


def visible_item(user: User, item_id: int) -> DuplicateItem | None:
    """The item, if the user may see it; None as for an item that does not exist."""
    return db.session.scalar(select(DuplicateItem).where(DuplicateItem.id == item_id, _visible(user)))


def _checked(item: DuplicateItem, user: User, *, status: DuplicateStatus = DuplicateStatus.OPEN) -> None:
    if visible_item(user, item.id) is None:
        raise DuplicateError("This item belongs to other organisations' data sources")
    if item.status is not status:
        raise DuplicateError("This item has already been decided")


def _decided(item: DuplicateItem, status: DuplicateStatus, user: User) -> None:
    item.status = status
    item.decided_by_id = user.id
    item.decided_at = utcnow()
    db.session.flush()
    record_event(
        AuditTag.REVIEW_DECISION,
        user=user,
        target_ids=[item.first.index_id, item.second.index_id],
        details={"duplicate_item": item.id, "decision": status.value},
    )


def merge_item(item: DuplicateItem, kept_index_id: str, user: User) -> DuplicateItem:
    """Merge the two records, keeping the one chosen; the other's index id then leads to it."""
    _checked(item, user)
    if not is_allowed(user.roles, Permission.RECORD_MERGE):
        raise DuplicateError("You may not merge records")
    pair = {item.first.index_id: item.first, item.second.index_id: item.second}
    if kept_index_id not in pair:
        raise DuplicateError("Choose one of the two records to keep")
    kept = pair.pop(kept_index_id)
    [retired] = pair.values()
    try:
        item.merge = merge_children(kept, retired, user, checked=True)
    except MergeError as error:
        raise DuplicateError(str(error)) from error
    _decided(item, DuplicateStatus.MERGED, user)
    return item


def not_the_same(item: DuplicateItem, user: User) -> None:
    """Two children: the sweep never proposes this pair again."""
    _checked(item, user)
    _decided(item, DuplicateStatus.NOT_SAME, user)


def unmerge_item(item: DuplicateItem, user: User) -> None:
    """Undo the merge made from this item: both records stand alone again, and the pair is not
    proposed again."""
    _checked(item, user, status=DuplicateStatus.MERGED)
    if not is_allowed(user.roles, Permission.RECORD_MERGE):
        raise DuplicateError("You may not undo merges")
    if item.merge is None:
        raise DuplicateError("This item's records were not merged from it")
    try:
        undo_merge(item.merge, user)
    except MergeError as error:
        raise DuplicateError(str(error)) from error
    _decided(item, DuplicateStatus.UNMERGED, user)
