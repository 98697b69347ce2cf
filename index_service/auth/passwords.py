"""Passwords: argon2id hashing (unknown accounts cost the same time as known ones) and the rules a new
password must meet.

The rules are NCSC's and NIST SP 800-63B's: at least 12 characters, no composition rules, and not
guessable: zxcvbn (4.5.0, its own lists shipped with the package, so no network) must score it at
least MIN_SCORE. zxcvbn sees through what a list of whole passwords misses: a common password with
digits or a year appended ("password1234"), keyboard walks ("qwertyuiop12"), sequences, repeats,
dates, l33t spellings, and the person's own name, email address and organisation, which the
caller passes as user inputs. A refusal says why, in zxcvbn's words.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from index_service.auth.hashing import configured

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
# zxcvbn scores 0-4; 3 is at least 10^8 guesses, in its authors' words "safely unguessable: moderate
# protection from an offline slow-hash scenario". That fits here: sign-in is throttled and the hashes
# are argon2id. 4 (10^10) would also refuse sound twelve-character passwords, beyond what NIST asks.
MIN_SCORE = 3
# zxcvbn's matching grows faster than linearly with the length it is given, so only the first
# ESTIMATED_LENGTH characters are estimated: all MAX_PASSWORD_LENGTH would cost several times as
# much, in a request anyone signed in can send. Characters beyond the prefix only add guesses, so
# the prefix's estimate can understate a password's strength but never overstate it: nothing weak
# is accepted. 100 is far beyond what people type by hand.
ESTIMATED_LENGTH = 100
TOO_WEAK = "This password would be easy to guess."
OWN_DETAILS = "It contains your name, email address or organisation."
ADVICE = "Choose a longer one, such as three or four random words."

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


def _words(values: Iterable[str | None]) -> list[str]:
    """The person's own details as zxcvbn user inputs: each whole, run together, and word by word
    (words of 3 characters or more), since zxcvbn matches each input only as it is given."""
    inputs: list[str] = []
    for value in values:
        if not value:
            continue
        value = value.strip().lower()
        words = [word for word in re.split(r"[^a-z0-9]+", value) if word]
        inputs.extend([value, "".join(words), *(word for word in words if len(word) >= 3)])
    return list(dict.fromkeys(inputs))  # each once: zxcvbn ranks an input by its place in the list


# zxcvbn 4.5.0 keeps the user inputs in a dictionary shared by every call (matching.RANKED_DICTIONARIES),
# so two threads estimating at once could check one person's password against another's details.
_zxcvbn_lock = threading.Lock()


def _estimate(password: str, user_inputs: list[str]) -> dict[str, object]:
    with _zxcvbn_lock:
        return zxcvbn(
            password[:ESTIMATED_LENGTH],
            user_inputs=user_inputs,  # type: ignore[no-any-return]
            max_length=ESTIMATED_LENGTH,
        )


def strength_problem(password: str, user_inputs: Iterable[str | None] = ()) -> str | None:
    """Why zxcvbn thinks the password guessable (its warning and suggestions), or None if it scores MIN_SCORE."""
    result = _estimate(password, _words(user_inputs))
    if int(result["score"]) >= MIN_SCORE:  # type: ignore[call-overload]
        return None
    feedback: dict[str, object] = result["feedback"]  # type: ignore[assignment]
    sequence: list[dict[str, object]] = result["sequence"]  # type: ignore[assignment]
    # zxcvbn gives no warning of its own when the guessable part is one of the user inputs.
    own = any(match.get("dictionary_name") == "user_inputs" for match in sequence)
    warning = OWN_DETAILS if own else str(feedback.get("warning") or "")
    suggestions = [str(text) for text in feedback.get("suggestions") or []]  # type: ignore[attr-defined]
    return " ".join(part for part in (TOO_WEAK, warning, *(suggestions or [ADVICE])) if part)


def password_problem(password: str, email: str | None = None, user_inputs: Iterable[str | None] = ()) -> str | None:
    """Why the password may not be used, as a message for the person choosing it; None if it may.

    `email` and `user_inputs` (the person's name, their organisation's name) are refused as passwords
    and as the guessable part of one.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be {MAX_PASSWORD_LENGTH} characters or fewer"
    folded = password.strip().lower()
    if email and folded in (email.strip().lower(), email.strip().lower().split("@")[0]):
        return "The password must not be your email address"
    return strength_problem(password, [email, *(email.split("@") if email else []), *user_inputs])


def random_password() -> str:
    """A one-time password (96 random bits) that always passes the password rules: drawn again in the
    vanishingly rare case that zxcvbn finds a pattern in one."""
    while True:
        password = secrets.token_urlsafe(12)
        if password_problem(password) is None:
            return password
