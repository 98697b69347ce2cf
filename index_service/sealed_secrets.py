"""Secrets kept encrypted at rest with Fernet keys from configuration: people's two-factor
secrets (`TOTP_ENCRYPTION_KEY`) and identity providers' client secrets (`IDENTITY_PROVIDER_KEYS`).

A stolen database, backup or replica gives no secret away: the keys live only in the
environment. Several keys, comma-separated, rotate a setting: the first encrypts and every one
decrypts. A setting's key ring is made once for its keys, not at every use. A secret is never
logged.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

TOTP_KEYS = "TOTP_ENCRYPTION_KEY"
PROVIDER_KEYS = "IDENTITY_PROVIDER_KEYS"


class SecretUnreadable(RuntimeError):
    """No key is configured, or a stored secret was sealed with a key that is no longer configured."""


def configured_keys(setting: str) -> tuple[str, ...]:
    """The setting's keys, newest first: a comma-separated text or a tuple (as config.py gives each)."""
    value = current_app.config.get(setting) or ()
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(part.strip() for part in parts if part.strip())


@lru_cache(maxsize=16)
def key_ring(keys: tuple[str, ...]) -> MultiFernet:
    """The first key encrypts, every key decrypts; ValueError for a malformed key."""
    return MultiFernet([Fernet(key.encode()) for key in keys])


def can_seal(setting: str) -> bool:
    return bool(configured_keys(setting))


def _ring(setting: str) -> MultiFernet:
    keys = configured_keys(setting)
    if not keys:
        raise SecretUnreadable(f"{setting} is not set, so no secret can be stored or read with it.")
    return key_ring(keys)


def seal(setting: str, secret: str) -> str:
    return _ring(setting).encrypt(secret.encode()).decode()


def unseal(setting: str, sealed: str) -> str:
    try:
        return _ring(setting).decrypt(sealed.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            f"A stored secret cannot be read with the keys in {setting}: it was sealed with a "
            "key that is no longer configured."
        ) from error
