"""Writes of user administration, each audited in the request's transaction.

Every query is scoped to the administrator's organisation: another organisation's user is not
found, whatever id, search or guess reaches for them. Roles that need the index team's approval
are granted pending and take effect only when approved; nobody changes their own roles, status
or token.

Privileged accounts stay with the index team. Whoever resets a person's password or issues them
a new token can sign in as them (the one-time password is shown to the administrator; a new token
is enrolled by whoever signs in first), so either change suspends every approved shielder,
override, auditor and index-team role the person holds until the index team approves it again
(accounts/approvals.py, after confirming with the person). This, rather than leaving resets of
such people to the index team alone, keeps the organisation's administrator able to let a person
back in after a lost phone or a forgotten password the same day (as a practitioner, or to change
their password) while the powers the index team vouched for wait for the index team; and it adds
no second reset procedure whose absence would lock people out. See docs/accounts.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from werkzeug.exceptions import NotFound

from accreditation.permissions import Role, needs_approval
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth import tokens
from index_service.auth.models import AdminNotice, User, UserRole
from index_service.auth.passwords import hash_password, password_problem, random_password
from index_service.auth.sessions import end_sessions_for_user
from index_service.auth.totp import new_secret
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation, OrganisationType
from index_service.paging import page_count

NOT_FOUND = "No user with this id is in your organisation."


class AccountRefused(Exception):
    """A change an administrator may not make, with the message to show them."""


def add_user(email: str, organisation: Organisation, roles: list[Role], password: str, name: str) -> User:
    """A user made by an operator on the server: their token is enrolled and their roles approved at once.

    Their checks (vetting, training, approval) are recorded separately; without them the access
    decision keeps them out.
    """
    email = email.strip().lower()
    problem = password_problem(password, email, [name, organisation.name])
    if problem:
        raise AccountRefused(problem)
    if db.session.scalar(select(User).where(func.lower(User.email) == email)) is not None:
        raise AccountRefused(f"A user with the email address {email} already exists")
    now = utcnow()
    user = User(
        email=email,
        display_name=name,
        organisation=organisation,
        password_hash=hash_password(password),
        token_issued_at=now,
        token_enrolled_at=now,
        role_grants=[UserRole(role=role, approved_at=now) for role in sorted(set(roles))],
    )
    user.totp_secret = new_secret()
    db.session.add(user)
    db.session.flush()
    return user


def record_checks(user: User, vetting_expires: date | None, trained_on: date | None, approved_on: date | None) -> None:
    if vetting_expires is not None:
        user.vetting_expires_on = vetting_expires
    if trained_on is not None:
        user.training_completed_on = trained_on
    if approved_on is not None:
        user.approved_on = approved_on


@dataclass(frozen=True)
class Checks:
    vetting_reference: str | None
    vetting_expires_on: date | None
    training_completed_on: date | None
    approved_on: date | None
    # Not a check, but kept beside them: the outward code of the person's home postcode, which the
    # audit's unusual-use report compares with the places of their searches for their own family name.
    home_postcode_district: str | None = None


@dataclass(frozen=True)
class Page:
    users: Sequence[User]
    total: int
    page: int
    pages: int


def grantable_roles(admin: User) -> list[Role]:
    """The roles an administrator may ask for: the index team's role only within the national index."""
    national = admin.organisation.type is OrganisationType.NATIONAL_INDEX
    return [role for role in Role if role is not Role.INDEX_TEAM or national]


def own_user(admin: User, user_id: int) -> User:
    """A user of the administrator's own organisation, or 404 (audited) for anyone else or no one."""
    user = db.session.scalar(select(User).where(User.id == user_id, User.organisation_id == admin.organisation_id))
    if user is None:
        record_event(
            AuditTag.ACCESS_DENIED,
            Outcome.DENIED,
            reason="user outside organisation",
            target_ids=[str(user_id)],
            details={"why": "another organisation's user, or none"},
        )
        raise NotFound(NOT_FOUND)
    return user


def search_users(admin: User, query: str, page: int, per_page: int) -> Page:
    """The organisation's users whose name or email contains the query, closed ones last."""
    condition = User.organisation_id == admin.organisation_id
    typed = query.strip().lower()
    if typed:
        pattern = "%" + typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        condition = condition & or_(
            func.lower(User.email).like(pattern, escape="\\"), func.lower(User.display_name).like(pattern, escape="\\")
        )
    total = db.session.scalar(select(func.count()).select_from(User).where(condition)) or 0
    pages = page_count(total, per_page)
    page = min(max(page, 1), pages)
    users = db.session.scalars(
        select(User)
        .where(condition)
        .order_by(User.is_active.desc(), User.display_name, User.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(users, total, page, pages)


def managers_for(admin: User, exclude: User | None = None) -> list[User]:
    """Who may be named as a line manager: the organisation's open accounts."""
    users = db.session.scalars(
        select(User)
        .where(User.organisation_id == admin.organisation_id, User.is_active.is_(True))
        .order_by(User.display_name, User.email)
    ).all()
    return [user for user in users if exclude is None or user.id != exclude.id]


def _not_self(admin: User, user: User, what: str) -> None:
    if admin.id == user.id:
        record_event(
            AuditTag.ACCESS_DENIED,
            Outcome.DENIED,
            reason="own account",
            target_ids=[str(user.id)],
            details={"why": f"tried to {what} their own account"},
        )
        raise AccountRefused(f"You cannot {what} your own account: ask another user administrator.")


def _set_roles(admin: User, user: User, roles: Iterable[Role]) -> tuple[list[str], list[str]]:
    """Grant and remove roles; returns (added, removed). Roles needing approval are granted pending."""
    allowed = set(grantable_roles(admin))
    wanted = {Role(role) for role in roles}
    refused = wanted - allowed
    if refused:
        raise AccountRefused("You cannot grant " + ", ".join(sorted(role.label for role in refused)))
    current = {grant.role: grant for grant in user.role_grants}
    removed = [role for role in current if role not in wanted]
    added = [role for role in wanted if role not in current]
    for role in removed:
        user.role_grants.remove(current[role])
    for role in added:
        user.role_grants.append(UserRole(role=role, granted_at=utcnow()))
    return sorted(role.value for role in added), sorted(role.value for role in removed)


def _set_checks(user: User, checks: Checks) -> None:
    user.vetting_reference = checks.vetting_reference or None
    user.vetting_expires_on = checks.vetting_expires_on
    user.training_completed_on = checks.training_completed_on
    user.approved_on = checks.approved_on
    user.home_postcode_district = checks.home_postcode_district


def _manager(admin: User, manager_id: int | None) -> User | None:
    return own_user(admin, manager_id) if manager_id else None


def create_user(
    admin: User, email: str, name: str, roles: Iterable[Role], checks: Checks, manager_id: int | None
) -> tuple[User, str]:
    """A new account with a token issued and a one-time password it must change; returns both."""
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise AccountRefused("An account with this email address already exists")
    password = random_password()
    user = User(
        email=email,
        display_name=name.strip(),
        organisation_id=admin.organisation_id,
        password_hash=hash_password(password),
        password_must_change=True,
        line_manager=_manager(admin, manager_id),
    )
    _set_checks(user, checks)
    tokens.issue_token(user)
    db.session.add(user)
    added, _ = _set_roles(admin, user, roles)
    db.session.flush()
    record_event(
        AuditTag.ACCOUNT_CREATE,
        target_ids=[str(user.id)],
        details={
            "email": email,
            "roles": added,
            "pending_approval": _pending(added),
            "vetting_expires_on": _iso(checks.vetting_expires_on),
        },
    )
    return user, password


def _pending(roles: Iterable[str]) -> list[str]:
    return [role for role in roles if needs_approval(Role(role))]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def update_user(
    admin: User, user: User, name: str, roles: Iterable[Role], checks: Checks, manager_id: int | None
) -> None:
    wanted = {Role(role) for role in roles}
    if admin.id == user.id and wanted != {grant.role for grant in user.role_grants}:
        _not_self(admin, user, "change the roles of")
    if manager_id == user.id:
        raise AccountRefused("A person cannot be their own line manager")
    user.display_name = name.strip()
    user.line_manager = _manager(admin, manager_id)
    _set_checks(user, checks)
    added, removed = _set_roles(admin, user, wanted)
    record_event(
        AuditTag.ACCOUNT_CHANGE,
        target_ids=[str(user.id)],
        details={
            "roles_added": added,
            "roles_removed": removed,
            "pending_approval": _pending(added),
            "vetting_expires_on": _iso(checks.vetting_expires_on),
            "training_completed_on": _iso(checks.training_completed_on),
            "approved_on": _iso(checks.approved_on),
            "line_manager_id": manager_id,
            "home_postcode_district": checks.home_postcode_district,
        },
    )


def suspend(admin: User, user: User) -> int:
    _not_self(admin, user, "suspend")
    if not user.is_active:
        raise AccountRefused("This account is closed")
    user.suspended_at = utcnow()
    ended = end_sessions_for_user(user.id)
    record_event(AuditTag.ACCOUNT_SUSPEND, target_ids=[str(user.id)], details={"sessions_ended": ended})
    return ended


def reinstate(admin: User, user: User) -> None:
    _not_self(admin, user, "reinstate")
    if not user.is_active:
        raise AccountRefused("A closed account cannot be reopened: create a new one")
    user.suspended_at = None
    record_event(AuditTag.ACCOUNT_REINSTATE, target_ids=[str(user.id)])


def close(admin: User, user: User) -> int:
    """Close for good: the token is revoked and every session ends at once."""
    _not_self(admin, user, "close")
    if not user.is_active:
        raise AccountRefused("This account is already closed")
    user.is_active = False
    user.closed_at = utcnow()
    ended = tokens.revoke_token(user)
    record_event(AuditTag.ACCOUNT_CLOSE, target_ids=[str(user.id)], details={"sessions_ended": ended})
    return ended


# Why an approval was suspended (UserRole.suspended_because), as the index team's list shows it.
SUSPENDED_BY_PASSWORD_RESET = "password reset"  # noqa: S105 - a reason, not a secret
SUSPENDED_BY_NEW_TOKEN = "new token issued"  # noqa: S105 - a reason, not a secret


def _suspend_approvals(admin: User, user: User, because: str) -> list[str]:
    """Withdraw the approval of every approved role that needs one; returns those roles (values).

    The grants go back on the index team's list, marked with why and by whom; the organisation's other
    administrators get a notice, and the person is told when they next sign in.
    """
    now = utcnow()
    approved = user.approved_roles
    suspended = []
    for grant in user.role_grants:
        if grant.role in approved:
            grant.approved_at = None
            grant.approved_by_id = None
            grant.suspended_at = now
            grant.suspended_by_id = admin.id
            grant.suspended_because = because
            suspended.append(grant.role)
    if suspended:
        labels = ", ".join(sorted(role.label for role in suspended))
        message = (
            f"{admin.display_name} ({admin.email}): {because} for {user.display_name} ({user.email}). "
            f"Their roles {labels} are suspended until the index team approves them again."
        )
        db.session.add(
            AdminNotice(
                organisation_id=user.organisation_id,
                user_id=user.id,
                message=message[: AdminNotice.message.type.length],
            )
        )
    return sorted(role.value for role in suspended)


def revoke_token(admin: User, user: User) -> int:
    _not_self(admin, user, "revoke the token of")
    if user.totp_secret_encrypted is None and user.token_issued_at is None:
        raise AccountRefused("This account has no token to revoke")
    ended = tokens.revoke_token(user)
    record_event(AuditTag.TOKEN_REVOKE, target_ids=[str(user.id)], details={"sessions_ended": ended})
    return ended


def issue_token(admin: User, user: User) -> list[str]:
    """Let the person enrol a new token at their next sign-in; returns the roles this suspends (values)."""
    _not_self(admin, user, "issue a token for")
    if user.totp_secret_encrypted is not None:
        raise AccountRefused("This account already has a token: revoke it first")
    if not user.is_active:
        raise AccountRefused("This account is closed")
    tokens.issue_token(user)
    suspended = _suspend_approvals(admin, user, SUSPENDED_BY_NEW_TOKEN)
    record_event(
        AuditTag.TOKEN_ISSUE, target_ids=[str(user.id)], details={"roles_suspended": suspended} if suspended else None
    )
    return suspended


def reset_password(admin: User, user: User) -> str:
    """A new one-time password, to be changed at the next sign-in; every session ends, and the roles
    that need the index team's approval are suspended until it approves them again."""
    _not_self(admin, user, "reset the password of")
    if not user.is_active:
        raise AccountRefused("This account is closed")
    password = random_password()
    user.password_hash = hash_password(password)
    user.password_must_change = True
    ended = end_sessions_for_user(user.id)
    suspended = _suspend_approvals(admin, user, SUSPENDED_BY_PASSWORD_RESET)
    record_event(
        AuditTag.PASSWORD_RESET,
        target_ids=[str(user.id)],
        details={"sessions_ended": ended, **({"roles_suspended": suspended} if suspended else {})},
    )
    return password


def notices(admin: User, page: int, per_page: int) -> tuple[Sequence[AdminNotice], int]:
    condition = AdminNotice.organisation_id == admin.organisation_id
    total = db.session.scalar(select(func.count()).select_from(AdminNotice).where(condition)) or 0
    rows = db.session.scalars(
        select(AdminNotice)
        .where(condition)
        .order_by(AdminNotice.created_at.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return rows, total


def unread_notices(admin: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(AdminNotice)
            .where(AdminNotice.organisation_id == admin.organisation_id, AdminNotice.read_at.is_(None))
        )
        or 0
    )


def mark_notices_read(admin: User, shown: Iterable[AdminNotice]) -> None:
    now = utcnow()
    for notice in shown:
        if notice.read_at is None and notice.organisation_id == admin.organisation_id:
            notice.read_at = now
