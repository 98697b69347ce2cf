"""Merging two records found to be one child, and undoing it exactly.

The merge moves every row the retired record holds onto the kept one and keeps a list of each
row it moved (`Merge.moved`), so an undo puts back exactly those. The retired index ID then
leads to the kept record. A data administrator merges only records their own organisation's
sources supplied. Each merge and undo is audited; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, exists, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.lookup import refresh_blocking_keys
from index_service.children.models import (
    Address,
    CarerContact,
    Child,
    ChildName,
    Involvement,
    NameKind,
    SourceIdentifier,
)
from index_service.children.shielding_decisions import ShieldingDecision
from index_service.database import UTCDateTime, utcnow
from index_service.extensions import db

MOVABLE: dict[str, type[Any]] = {
    "child_names": ChildName,
    "addresses": Address,
    "carer_contacts": CarerContact,
    "source_identifiers": SourceIdentifier,
    "involvements": Involvement,
    # The shielding history goes with the record whose shielding it explains.
    "shielding_decisions": ShieldingDecision,
}


class Merge(db.Model):
    """Two index records found to be one child; `moved` lists every row moved, so it can be undone."""

    __tablename__ = "merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    surviving_child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    retired_child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    moved: Mapped[dict[str, list[int]]] = mapped_column(JSON, default=dict)
    retired_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    surviving: Mapped[Child] = relationship(foreign_keys=[surviving_child_id])
    retired: Mapped[Child] = relationship(foreign_keys=[retired_child_id])


class MergeError(ValueError):
    """A merge or an undo that cannot be made as asked; the message says why."""


def supplied_by_organisation(child: Child, organisation_id: int) -> bool:
    """Whether one of the organisation's data sources supplied this record (its own record id for it)."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    SourceIdentifier.child_id == child.id,
                    SourceIdentifier.source.has(organisation_id=organisation_id),
                )
            )
        )
    )


def _may_merge(user: User, *children: Child) -> None:
    """A data administrator merges only records their own organisation's sources supplied."""
    if not all(supplied_by_organisation(child, user.organisation_id) for child in children):
        raise MergeError("You can merge only records that your organisation's data sources supplied")


def merge_children(kept: Child, retired: Child, user: User, *, checked: bool = False) -> Merge:
    """Move everything the retired record holds onto the kept one; the retired id redirects to it.

    `checked`: the caller has checked that the user may merge these two (a possible duplicate the
    sweep put in their organisation's queue, index_service.duplicates), which their organisation's
    sources need not both have supplied."""
    if kept.id == retired.id:
        raise MergeError("A record cannot be merged with itself")
    if kept.merged_into_id is not None or retired.merged_into_id is not None:
        raise MergeError("One of these records has already been merged into another")
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
        raise MergeError("This merge has already been undone")
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


def merge_by_id(merge_id: int) -> Merge | None:
    return db.session.get(Merge, merge_id)


def recent_merges(organisation_id: int, limit: int) -> list[Merge]:
    """The latest merges made by the organisation's users, newest first."""
    return list(
        db.session.scalars(
            select(Merge)
            .join(User, User.id == Merge.merged_by_id)
            .where(User.organisation_id == organisation_id)
            .order_by(Merge.id.desc())
            .limit(limit)
        )
    )


def record_by_index_id(index_id: str) -> Child | None:
    """The record with this index id itself (a retired one too, not the record it was merged into), with its details."""
    return db.session.scalar(
        select(Child)
        .where(Child.index_id == index_id)
        .options(
            selectinload(Child.addresses),
            selectinload(Child.identifiers),
            selectinload(Child.involvements),
            selectinload(Child.other_names),
            selectinload(Child.carers),
        )
    )
