"""Shielding decisions: every shield and unshield, kept as history; the child's flag is the current state."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.auth.models import User
from index_service.children.models import Child
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db
from shielding.policy import ShieldAction, ShieldReason

if TYPE_CHECKING:
    from index_service.load_models import Load


class ShieldingDecision(db.Model):
    """One decision by a shielder. The note is for shielders and auditors only.

    `household_of` names the child whose shielding brought this one in, when a brother or
    sister at the same address was shielded in the same step. A decision taken by a load (a
    row flagged for shielding, or a record made from a row that resembled a shielded one) names
    the load, and the person who ran it if anyone did: it always shields, never unshields.
    """

    __tablename__ = "shielding_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    action: Mapped[ShieldAction] = mapped_column(enum_column(ShieldAction, "shield_action"))
    reason: Mapped[ShieldReason | None] = mapped_column(enum_column(ShieldReason, "shield_reason"))
    note: Mapped[str] = mapped_column(String(2000))
    review_date: Mapped[date | None] = mapped_column(Date)
    household_of_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    child: Mapped[Child] = relationship(foreign_keys=[child_id])
    household_of: Mapped[Child | None] = relationship(foreign_keys=[household_of_id])
    decided_by: Mapped[User | None] = relationship(lazy="joined")
    load: Mapped[Load | None] = relationship()
