"""Emergency overrides: a practitioner broke the glass on a shielded record, and someone else reviews it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.auth.models import User
from index_service.children.models import Child
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db
from index_service.organisation_models import Organisation
from shielding.policy import OverrideOutcome, OverrideReason


class EmergencyOverride(db.Model):
    """One override: granted for one view before `expires_at`, used when `viewed_at` is set.

    The reference is what alerts and summaries carry instead of the child's details; the
    review (outcome, note, reviewer) is made by someone other than the practitioner.
    """

    __tablename__ = "emergency_overrides"
    __table_args__ = (Index("ix_emergency_overrides_outcome_created_at", "outcome", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    reason: Mapped[OverrideReason] = mapped_column(enum_column(OverrideReason, "override_reason"))
    justification: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[OverrideOutcome | None] = mapped_column(enum_column(OverrideOutcome, "override_outcome"))
    review_note: Mapped[str | None] = mapped_column(String(2000))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    child: Mapped[Child] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
