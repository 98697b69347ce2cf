"""The duplicate sweep's rows: one possible-duplicate pair of held records each, kept whatever is
decided, so that a pair is never proposed twice."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.children.merges import Merge
from index_service.children.models import Child
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db


class DuplicateStatus(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    NOT_SAME = "not_same"
    UNMERGED = "unmerged"


class DuplicateItem(db.Model):
    """Two held records the duplicate sweep found alike enough for a person to decide whether they
    are one child (index_service.duplicates). One row per pair, whatever became of it, so a pair
    decided once is never proposed again."""

    __tablename__ = "duplicate_items"
    __table_args__ = (
        UniqueConstraint("first_child_id", "second_child_id", name="uq_duplicate_items_first_child_id_second_child_id"),
        Index("ix_duplicate_items_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_child_id: Mapped[int] = mapped_column(ForeignKey("children.id"))  # the lower id of the two
    second_child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    comparison: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as a load's review candidate
    status: Mapped[DuplicateStatus] = mapped_column(
        enum_column(DuplicateStatus, "duplicate_status"), default=DuplicateStatus.OPEN
    )
    merge_id: Mapped[int | None] = mapped_column(ForeignKey("merges.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    first: Mapped[Child] = relationship(foreign_keys=[first_child_id])
    second: Mapped[Child] = relationship(foreign_keys=[second_child_id])
    merge: Mapped[Merge | None] = relationship()
