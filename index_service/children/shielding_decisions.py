"""Shielding decisions: every shield and unshield, kept as history, as part of the child's record
(the child's flag is the current state); and the history as plain data for the record page.

They live with the children, not with the shielders' pages (index_service/record_shielding/),
because the record page shows them and shielding acts on children: the shielders' feature imports
them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.auth.models import User
from index_service.children.models import Address, Child
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db
from shielding.policy import ShieldAction, ShieldReason, same_household


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
    # Typed loosely: the loads' models import children's, so naming Load here would make a loop.
    load: Mapped[Any] = relationship("Load")


def household_of(child: Child) -> list[Child]:
    """The other children whose current address is this child's (first line and postcode), eldest first."""
    address = child.current_address
    if address is None or not address.postcode_key:
        return []
    rows = db.session.execute(
        select(Address.child_id, Address.line1)
        .join(Child, Child.id == Address.child_id)
        .where(
            Address.postcode_key == address.postcode_key,
            Address.is_current.is_(True),
            Address.child_id != child.id,
            Child.merged_into_id.is_(None),
        )
    )
    ids = {
        child_id
        for child_id, line1 in rows
        if same_household((line1, address.postcode_key), (address.line1, address.postcode_key))
    }
    if not ids:
        return []
    return list(db.session.scalars(select(Child).where(Child.id.in_(ids)).order_by(Child.date_of_birth, Child.id)))


def _person(decision: ShieldingDecision) -> dict[str, str]:
    user = decision.decided_by
    if user is None:
        load = decision.load
        return {"name": f"Load {decision.load_id}", "email": "", "organisation": load.source.name if load else ""}
    return {"name": user.display_name, "email": user.email, "organisation": user.organisation.name}


def shielding_details(child: Child) -> dict[str, Any]:
    """The shielding decisions and unshielded household as plain data, for redact() to keep or drop.

    Only shielders and auditors ever see this: it holds the reason and the note.
    """
    decisions = db.session.scalars(
        select(ShieldingDecision)
        .where(ShieldingDecision.child_id == child.id)
        .order_by(ShieldingDecision.decided_at.desc(), ShieldingDecision.id.desc())
    ).all()
    history = [
        {
            "action": decision.action.value,
            "reason": decision.reason.value if decision.reason else None,
            "reason_label": decision.reason.label if decision.reason else None,
            "note": decision.note,
            "review_date": decision.review_date,
            "decided_at": decision.decided_at,
            "decided_by": _person(decision),
            "household_of": decision.household_of.index_id if decision.household_of else None,
        }
        for decision in decisions
    ]
    current = history[0] if history and child.is_shielded and history[0]["action"] == ShieldAction.SHIELD else None
    if current is not None:
        current = {**current, "review_overdue": current["review_date"] <= date.today()}
    unshielded = [
        {
            "index_id": other.index_id,
            "given_name": other.given_name,
            "family_name": other.family_name,
            "date_of_birth": other.date_of_birth,
        }
        for other in (household_of(child) if child.is_shielded else [])
        if not other.is_shielded
    ]
    return {"current": current, "history": history, "unshielded_household": unshielded}
