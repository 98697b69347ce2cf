"""Identity providers' client secrets, encrypted at rest with keys from configuration.

Encrypted rather than named by an environment variable: the index team registers a provider
for any of hundreds of organisations from the web pages, with no deployment to add a variable,
and a copy of the database alone gives no secret away. MultiFernet lets the key be rotated:
the first key in IDENTITY_PROVIDER_KEYS encrypts, every key decrypts.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class SealingUnavailable(RuntimeError):
    """No key is configured, or the stored secret was sealed with a key no longer configured."""


def can_seal() -> bool:
    return bool(current_app.config.get("IDENTITY_PROVIDER_KEYS"))


def _fernet() -> MultiFernet:
    keys = current_app.config.get("IDENTITY_PROVIDER_KEYS") or ()
    if not keys:
        raise SealingUnavailable("IDENTITY_PROVIDER_KEYS is not set, so no client secret can be stored or read.")
    return MultiFernet([Fernet(key) for key in keys])


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as error:
        raise SealingUnavailable("The client secret was stored with a key that is no longer configured.") from error
