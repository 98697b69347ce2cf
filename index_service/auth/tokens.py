"""Two-factor tokens across their life: issued by a user administrator, enrolled by the person
(a QR code and the key, confirmed by a correct code), recovery codes, revoked and reissued.

A token takes effect only when the person proves a code from it, so a mistyped or half-scanned
key never locks anyone out; revoking one removes the secret, the recovery codes and every session.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from index_service.auth.hashing import configured
from index_service.auth.models import AdminNotice, RecoveryCode, User
from index_service.auth.sessions import end_sessions_for_user
from index_service.auth.totp import matching_step, new_secret, provisioning_uri
from index_service.database import utcnow
from index_service.extensions import db
from index_service.sealed_secrets import TOTP_KEYS, seal

RECOVERY_CODES = 10
# An issued token not enrolled within a week must be issued again: a password alone must not
# enrol an authenticator for long.
ISSUED_TOKEN_VALID_FOR = timedelta(days=7)
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read from paper without doubt
# Recovery codes carry 50 random bits, so argon2id at OWASP's smallest setting is ample and
# keeps checking ten of them at sign-in quick.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def issue_token(user: User) -> None:
    """Let the person enrol a new authenticator at their next sign-in (any old token must be revoked first)."""
    user.token_issued_at = utcnow()
    user.pending_totp_secret_encrypted = None


def revoke_token(user: User) -> int:
    """Remove the token, its recovery codes and every session at once; returns the sessions ended."""
    user.totp_secret_encrypted = None
    user.pending_totp_secret_encrypted = None
    user.token_enrolled_at = None
    user.token_issued_at = None
    user.last_totp_step = None
    db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return end_sessions_for_user(user.id)


def may_enrol(user: User) -> bool:
    issued = user.token_issued_at
    return issued is not None and user.totp_secret_encrypted is None and utcnow() - issued <= ISSUED_TOKEN_VALID_FOR


def pending_secret(user: User) -> str:
    """The secret being enrolled, made on first sight and kept (encrypted) so a reload shows the same key."""
    secret = user.pending_totp_secret
    if secret is None:
        secret = new_secret()
        user.pending_totp_secret_encrypted = seal(TOTP_KEYS, secret)
    return secret


def qr_code_svg(secret: str, email: str) -> str:
    """The provisioning URI as an inline SVG QR code, titled for screen readers."""
    return segno.make(provisioning_uri(secret, email), error="m").svg_inline(
        scale=5,
        title="QR code for your authenticator app",
        svgclass="app-qr-code",
        lineclass=None,
    )


def confirm_enrolment(user: User, code: str) -> list[str] | None:
    """Enrol the pending secret if the code proves it; returns the new recovery codes (shown once)."""
    secret = user.pending_totp_secret
    if secret is None or not may_enrol(user):
        return None
    step = matching_step(secret, code)
    if step is None:
        return None
    user.totp_secret_encrypted = user.pending_totp_secret_encrypted
    user.pending_totp_secret_encrypted = None
    user.token_enrolled_at = utcnow()
    user.last_totp_step = step
    return new_recovery_codes(user)


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _normalised(code: str) -> str:
    return code.strip().lower().replace(" ", "").replace("-", "")


def new_recovery_codes(user: User) -> list[str]:
    """Ten new codes replacing any unused ones; only their hashes are kept."""
    db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    hasher = configured(_hasher)
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=hasher.hash(_normalised(code))) for code in codes)
    db.session.flush()
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """Burn a matching unused code (once only, even if sent twice at once) and alert the administrators."""
    typed = _normalised(code)
    if len(typed) != 10 or user.totp_secret_encrypted is None:
        return False
    unused = db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    for stored in unused:
        try:
            configured(_hasher).verify(stored.code_hash, typed)
        except (VerificationError, InvalidHashError):
            continue
        burned = db.session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == stored.id, RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(burned, "rowcount", 0) != 1:
            return False
        left = len(unused) - 1
        db.session.add(
            AdminNotice(
                organisation_id=user.organisation_id,
                user_id=user.id,
                message=f"{user.display_name} ({user.email}) signed in with a recovery code; {left} left. "
                "If they have lost their phone, revoke their token and issue a new one.",
            )
        )
        db.session.flush()
        return True
    return False


def unused_recovery_codes(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )
