"""Two-factor secrets encrypted at rest (Fernet), with the key from configuration.

A stolen database, backup or replica does not give the secrets away: the key lives only in the
environment (`TOTP_ENCRYPTION_KEY`; several keys separated by commas rotate it, the first
encrypting and any decrypting). A secret is never logged and is shown only at enrolment.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SecretKeyMismatch(RuntimeError):
    """A stored secret cannot be read with the configured keys (the key was lost or changed)."""


def parse_keys(value: str) -> MultiFernet:
    """The keys from a comma-separated setting; raises ValueError for a malformed key."""
    keys = [part.strip() for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("no key given")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _box() -> MultiFernet:
    return parse_keys(current_app.config["TOTP_ENCRYPTION_KEY"])


def encrypt_secret(secret: str) -> str:
    return _box().encrypt(secret.encode()).decode()


def decrypt_secret(stored: str) -> str:
    try:
        return _box().decrypt(stored.encode()).decode()
    except InvalidToken as error:
        raise SecretKeyMismatch("a two-factor secret cannot be decrypted with TOTP_ENCRYPTION_KEY") from error
