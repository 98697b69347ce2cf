"""A fresh two-factor code before a dangerous action: shielding, unshielding, an emergency override.

The code is checked by sign-in's own `accept_code`, so a code already used (to sign in, or for
another action) is refused, as is one outside the allowed drift; failures count towards the
same account and address lockouts as sign-in, and are audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.blueprint import BAD_CODE, LOCKED
from index_service.auth.models import User
from index_service.auth.operations import accept_code, is_locked, record_failure


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
            AuditTag.REAUTH_FAILURE, Outcome.FAILURE, user=user,
            details={"purpose": purpose, "why": "wrong or reused code"},
        )
        return CodeRefused(BAD_CODE, 401)
    return None
