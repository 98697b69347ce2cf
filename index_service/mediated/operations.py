"""What auditors read of mediated access: the events made on someone's behalf, newest first."""

from __future__ import annotations

from sqlalchemy import func, select

from index_service.audit.models import AuditEvent
from index_service.auth.models import User
from index_service.extensions import db


def events_on_behalf(page: int, per_page: int) -> tuple[list[tuple[AuditEvent, User | None]], int]:
    """One page of the events that carry an on-behalf-of, with the user who made each; and how many in all."""
    on_behalf = AuditEvent.on_behalf_of_name.is_not(None)
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(on_behalf)) or 0
    rows = db.session.execute(
        select(AuditEvent, User)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .where(on_behalf)
        .order_by(AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [(event, user) for event, user in rows], total
