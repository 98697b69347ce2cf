"""Shielding and unshielding records, with their history and their household, audited.

Handlers do not commit: the request's one commit keeps the decision and its audit event
together, or neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_, select

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.children.models import Child
from index_service.children.shielding_decisions import ShieldingDecision
from index_service.extensions import db
from shielding.policy import ShieldAction, ShieldReason

UPCOMING = timedelta(days=30)


def _decide(
    child: Child,
    action: ShieldAction,
    note: str,
    user: User,
    *,
    reason: ShieldReason | None = None,
    review_date: date | None = None,
    household_of: Child | None = None,
) -> ShieldingDecision:
    decision = ShieldingDecision(
        child_id=child.id,
        action=action,
        reason=reason,
        note=note,
        review_date=review_date,
        household_of_id=household_of.id if household_of else None,
        decided_by_id=user.id,
    )
    db.session.add(decision)
    child.is_shielded = action is ShieldAction.SHIELD
    db.session.flush()
    record_event(
        AuditTag.SHIELD_ADD if action is ShieldAction.SHIELD else AuditTag.SHIELD_REMOVE,
        user=user,
        target_ids=[child.index_id],
        reason=reason.value if reason else None,
        details={
            "decision": decision.id,
            "review_date": review_date.isoformat() if review_date else None,
            "household_of": household_of.index_id if household_of else None,
        },
    )
    return decision


def shield(
    child: Child, reason: ShieldReason, note: str, review_date: date, user: User, household: Iterable[Child] = ()
) -> list[ShieldingDecision]:
    """Shield the child, and the chosen children of the same household in the same step.

    Shielding a record already shielded records a fresh decision (after a review, say).
    """
    decisions = [_decide(child, ShieldAction.SHIELD, note, user, reason=reason, review_date=review_date)]
    for other in household:
        decisions.append(
            _decide(other, ShieldAction.SHIELD, note, user, reason=reason, review_date=review_date, household_of=child)
        )
    return decisions


def unshield(child: Child, note: str, user: User) -> ShieldingDecision:
    """Remove shielding: the whole record shows again to everyone allowed to view records."""
    return _decide(child, ShieldAction.UNSHIELD, note, user)


def shield_by_load(child_id: int, index_id: str, note: str, load_id: int, user: User | None) -> None:
    """A load shields a record: a row flagged for shielding, or a new record made from a row that
    resembled a shielded one. The review date is today, so a shielder looks at it at once.

    The caller sets the record's flag (a load writes it with the rest of the batch).
    """
    db.session.add(
        ShieldingDecision(
            child_id=child_id,
            action=ShieldAction.SHIELD,
            reason=ShieldReason.OTHER,
            note=note,
            review_date=date.today(),
            decided_by_id=user.id if user else None,
            load_id=load_id,
        )
    )
    record_event(
        AuditTag.SHIELD_ADD,
        user=user,
        target_ids=[index_id],
        reason=ShieldReason.OTHER.value,
        details={"load": load_id, "note": note},
    )


@dataclass(frozen=True)
class DueReview:
    """A shielded record whose shielding is due for review: by its review date, or because no decision is recorded."""

    child: Child
    decision: ShieldingDecision | None

    @property
    def review_date(self) -> date | None:
        return self.decision.review_date if self.decision else None


def due_reviews(
    today: date, *, within: timedelta = UPCOMING, page: int = 1, per_page: int = 20
) -> tuple[list[DueReview], int]:
    """Shielded records to review by `today + within`, soonest first; those with no decision on record first of all.

    A load shields with a review date of the day it ran, so a shielder finds what a source flagged here.
    """
    latest = (
        select(ShieldingDecision.child_id, func.max(ShieldingDecision.id).label("decision_id"))
        .group_by(ShieldingDecision.child_id)
        .subquery()
    )
    due = or_(
        latest.c.decision_id.is_(None),
        ShieldingDecision.review_date.is_(None),
        ShieldingDecision.review_date <= today + within,
    )
    statement = (
        select(Child, ShieldingDecision)
        .outerjoin(latest, latest.c.child_id == Child.id)
        .outerjoin(ShieldingDecision, ShieldingDecision.id == latest.c.decision_id)
        .where(Child.is_shielded.is_(True), Child.merged_into_id.is_(None), due)
    )
    total = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db.session.execute(
        statement.order_by(ShieldingDecision.review_date.is_not(None), ShieldingDecision.review_date, Child.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [DueReview(child, decision) for child, decision in rows], total
