"""A fresh two-factor code before a dangerous action: shielding, unshielding, an emergency override,
and changes to accounts and tokens.

The code is checked by sign-in's own `accept_code`, so a code already used (to sign in, or for
another action) is refused, as is one outside the allowed drift; failures count towards the
same account and address lockouts as sign-in, and are audited. Shielding and overrides ask for
a code every time; account and token changes ask only when the session's last accepted code is
more than five minutes old (`code_needed`), as warehouse does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import request, session

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.auth.operations import BAD_CODE, LOCKED, accept_code, is_locked, record_failure
from index_service.database import utcnow

FRESH_FOR = timedelta(minutes=5)


@dataclass(frozen=True)
class CodeRefused:
    message: str
    status: int


def confirm_fresh_code(user: User, code: str, purpose: str) -> CodeRefused | None:
    """None when the code is correct and not used before; otherwise why not (and the failure is recorded)."""
    if is_locked(user.email, request.remote_addr):
        record_event(AuditTag.REAUTH_FAILURE, Outcome.DENIED, user=user, details={"purpose": purpose, "why": "locked"})
        return CodeRefused(LOCKED, 429)
    if not accept_code(user, code):
        record_failure(user.email, request.remote_addr)
        record_event(
            AuditTag.REAUTH_FAILURE,
            Outcome.FAILURE,
            user=user,
            details={"purpose": purpose, "why": "wrong or reused code"},
        )
        return CodeRefused(BAD_CODE, 401)
    session["code_at"] = utcnow().isoformat()
    return None


def code_needed() -> bool:
    """Whether the session's last accepted code is too old for an account or token change."""
    last = session.get("code_at")
    return not last or utcnow() - datetime.fromisoformat(last) > FRESH_FOR


def confirm_if_stale(user: User, code: str | None, purpose: str) -> CodeRefused | None:
    """None when a code was accepted in the last five minutes or this one is good; otherwise why not."""
    if not code_needed():
        return None
    if not code or not code.strip():
        return CodeRefused("Enter a security code from your authenticator app to confirm this change", 400)
    return confirm_fresh_code(user, code, purpose)
