"""Sign-in decisions that touch the database: throttling and one-use acceptance of codes."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from index_service.auth.models import FailedAttempt, User
from index_service.auth.passwords import verify_password
from index_service.auth.totp import matching_step
from index_service.database import utcnow
from index_service.extensions import db

LOCKED = "Too many failed attempts. Wait 15 minutes and try again, or contact your user administrator."
BAD_CODE = "Enter a correct security code. Each code works once: if you have just used one, wait for the next."


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()


def address_key(address: str | None) -> str:
    return "address:" + (address or "unknown")


def client_key(client_id: str) -> str:
    """A source system's OAuth client, counted like an account (its secret is its password)."""
    return "oauth-client:" + client_id[:200]


def _window_start() -> datetime:
    return utcnow() - timedelta(minutes=current_app.config["LOCKOUT_WINDOW_MINUTES"])


def _failures(key: str) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(FailedAttempt)
            .where(FailedAttempt.key == key, FailedAttempt.at >= _window_start())
        )
        or 0
    )


def _locked(key: str | None, address: str | None) -> bool:
    """Too many recent failures for the one who is named (an account, a client), or from this address."""
    if key is not None and _failures(key) >= current_app.config["ACCOUNT_LOCKOUT_FAILURES"]:
        return True
    return is_address_locked(address)


def password_refusal(user: User | None, password: str) -> str | None:
    """Why this account and password prove no first factor ("unknown account", "account closed",
    "wrong password"), or None if they do. The hash is checked even without an account, for timing."""
    proved = verify_password(user.password_hash if user else None, password)
    if user is None:
        return "unknown account"
    if not user.is_active:
        return "account closed"
    return None if proved else "wrong password"


def is_locked(email: str, address: str | None) -> bool:
    return _locked(account_key(email), address)


def is_client_locked(client_id: str | None, address: str | None) -> bool:
    """Too many recent refused secrets for this source system's client, or failures from this address."""
    return _locked(client_key(client_id) if client_id else None, address)


def is_address_locked(address: str | None) -> bool:
    """Too many recent failures from this client address (alone: before anyone is named)."""
    return _failures(address_key(address)) >= current_app.config["ADDRESS_LOCKOUT_FAILURES"]


def _record(key: str | None, address: str | None) -> None:
    db.session.add(FailedAttempt(key=address_key(address)))
    if key is not None:
        db.session.add(FailedAttempt(key=key))
    db.session.flush()


def record_failure(email: str, address: str | None) -> None:
    _record(account_key(email), address)


def record_client_failure(client_id: str | None, address: str | None) -> None:
    _record(client_key(client_id) if client_id else None, address)


def record_address_failure(address: str | None) -> None:
    """A failure that names no account (a refused sign-in through an identity provider)."""
    _record(None, address)


def clear_failures(key: str) -> None:
    """Forget the failures of the one named (account_key or client_key): they got in."""
    db.session.execute(delete(FailedAttempt).where(FailedAttempt.key == key))


def accept_code(user: User, code: str, at: float | None = None) -> bool:
    """Accept a code once: the step must be newer than the last accepted, set atomically.

    One conditional UPDATE decides, so the same code sent twice at once succeeds only once:
    the second update finds the step already taken and changes no row.
    """
    step = matching_step(user.totp_secret, code, at)
    if step is None:
        return False
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.last_totp_step.is_(None), User.last_totp_step < step))
        .values(last_totp_step=step)
        .execution_options(synchronize_session=False)
    )
    accepted = getattr(result, "rowcount", 0) == 1
    if accepted:
        user.last_totp_step = step
    return accepted
