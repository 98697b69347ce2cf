"""Loads and what became of every row: the report, the quarantine, the review queue, merges (the rows
shielding decisions and reports point to, apart from the sources feature that makes them).

A load is applied in batches, each committed with the report rows of the extract rows it
applied, so a load that is interrupted resumes after its last committed row and no row is
applied twice or lost.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.auth.models import User
from index_service.children.models import Child, DataSource
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db


class LoadKind(StrEnum):
    FULL = "full"
    DELTA = "delta"


class LoadStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class RowOutcome(StrEnum):
    LINKED = "linked"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REVIEW = "review"
    REJECTED = "rejected"
    # Landed on a record that was shielded: how it compared and what it changed are not said (see sources.shielded).
    SHIELDED = "shielded"


class ReviewStatus(StrEnum):
    OPEN = "open"
    DEFERRED = "deferred"
    LINKED = "linked"
    CREATED = "created"


class Load(db.Model):
    __tablename__ = "loads"
    __table_args__ = (Index("ix_loads_source_id_file_sha256", "source_id", "file_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), index=True)
    kind: Mapped[LoadKind] = mapped_column(enum_column(LoadKind, "load_kind"))
    is_dry_run: Mapped[bool] = mapped_column(default=False)
    status: Mapped[LoadStatus] = mapped_column(enum_column(LoadStatus, "load_status"), default=LoadStatus.QUEUED)
    file_name: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(10))
    file_sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    rows_expected: Mapped[int | None]
    rows_done: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    source: Mapped[DataSource] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship()


class LoadRow(db.Model):
    """One line of a load's report: what became of one row of the extract."""

    __tablename__ = "load_rows"
    __table_args__ = (
        UniqueConstraint("load_id", "row_number", name="uq_load_rows_load_id_row_number"),
        # By child within a load (a full load's involvements not supplied): a load's entries lie together.
        Index("ix_load_rows_load_id_child_id", "load_id", "child_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("loads.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    source_record_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[RowOutcome] = mapped_column(enum_column(RowOutcome, "row_outcome"))
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)

    child: Mapped[Child | None] = relationship()


class QuarantinedRow(db.Model):
    """A row that failed validation, kept with its raw values and every reason."""

    __tablename__ = "quarantined_rows"
    __table_args__ = (UniqueConstraint("load_id", "row_number", name="uq_quarantined_rows_load_id_row_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("loads.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    raw_values: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)


class ReviewItem(db.Model):
    """An incoming row that matched no child surely enough to link, nor weakly enough to create."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_status_created_at", "status", "created_at"),
        Index("ix_review_items_source_id_source_record_id", "source_id", "source_record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("loads.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"))
    row_number: Mapped[int]
    source_record_id: Mapped[str] = mapped_column(String(64))
    incoming: Mapped[dict[str, Any]] = mapped_column(JSON)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[ReviewStatus] = mapped_column(enum_column(ReviewStatus, "review_status"), default=ReviewStatus.OPEN)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    load: Mapped[Load] = relationship()
    source: Mapped[DataSource] = relationship()
    child: Mapped[Child | None] = relationship()


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
