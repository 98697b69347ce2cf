"""Passwords: argon2id hashing (unknown accounts cost the same time as known ones) and the rules a new
password must meet.

The rules are NCSC's and NIST's: at least 12 characters, not a common or breached password,
and no composition rules. The list is the 10,000 most common passwords from zxcvbn 4.5.0
(MIT licence, data/common_passwords-LICENSE.txt), shipped with the app: no network is needed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from index_service.auth.hashing import configured

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common_passwords.txt"

_hasher = PasswordHasher()


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash at the hasher's cost that unknown accounts are checked against, so they cost known ones' time."""
    return hasher.hash("not a real password: equalises the time of a failed look-up")


_dummy_hash(_hasher)  # made at start-up, not during the first unknown account's sign-in


def hash_password(password: str) -> str:
    return configured(_hasher).hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = configured(_hasher)
    try:
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@cache
def _common() -> frozenset[str]:
    return frozenset(line.strip() for line in COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines() if line)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why the password may not be used, as a message for the person choosing it; None if it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be {MAX_PASSWORD_LENGTH} characters or fewer"
    folded = password.strip().lower()
    if folded in _common() or len(set(folded)) < 3:
        return "This password is too common and easy to guess. Choose another, such as three or four random words"
    if email and folded in (email.strip().lower(), email.strip().lower().split("@")[0]):
        return "The password must not be your email address"
    return None
