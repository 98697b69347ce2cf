"""The index team's approval of roles that need it (shielder, override, auditor, index team).

A user administrator can ask for such a role but it takes effect only once someone in the index
team approves it; nobody approves their own. An approval suspended by a password reset or a new
token (accounts/operations.py) comes back here, and whoever suspended it may not approve it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from accreditation.permissions import ROLES_NEEDING_APPROVAL, Role
from index_service.accounts.operations import SUSPENDED_BY_PASSWORD_RESET, AccountRefused
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User, UserRole
from index_service.database import utcnow
from index_service.extensions import db


def _waiting():  # type: ignore[no-untyped-def]
    return (
        select(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(
            UserRole.approved_at.is_(None), UserRole.role.in_(list(ROLES_NEEDING_APPROVAL)), User.is_active.is_(True)
        )
    )


def waiting(page: int, per_page: int) -> tuple[Sequence[UserRole], int]:
    total = db.session.scalar(select(func.count()).select_from(_waiting().subquery())) or 0
    rows = db.session.scalars(
        _waiting().order_by(UserRole.granted_at, UserRole.user_id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return rows, total


def _grant(user_id: int, role: str) -> UserRole:
    try:
        wanted = Role(role)
    except ValueError as error:
        raise NotFound("No such role") from error
    grant = db.session.scalar(_waiting().where(UserRole.user_id == user_id, UserRole.role == wanted))
    if grant is None:
        raise NotFound("No request for this role is waiting")
    return grant


def _action(grant: UserRole) -> str:
    if grant.suspended_because == SUSPENDED_BY_PASSWORD_RESET:
        return "reset their password"
    return "issued them a new token"


def decide(approver: User, user_id: int, role: str, approve: bool) -> UserRole:
    grant = _grant(user_id, role)
    if grant.user_id == approver.id:
        raise AccountRefused("You cannot approve or refuse a role for yourself")
    if approve and grant.suspended_by_id == approver.id:
        raise AccountRefused(
            f"You suspended this role when you {_action(grant)}: someone else in the index team must approve it again"
        )
    if approve:
        details = {"role": grant.role.value}
        if grant.is_suspended:
            details["suspended_because"] = str(grant.suspended_because)
        grant.approved_at = utcnow()
        grant.approved_by_id = approver.id
        grant.suspended_at = grant.suspended_by_id = grant.suspended_because = None
        record_event(AuditTag.ROLE_APPROVE, target_ids=[str(user_id)], details=details)
    else:
        record_event(AuditTag.ROLE_REFUSE, target_ids=[str(user_id)], details={"role": grant.role.value})
        db.session.delete(grant)
    return grant
