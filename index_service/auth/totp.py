"""Time-based one-time codes (RFC 6238), framework-free.

A code is checked against the current 30-second step and one step either side, and the
matching step is returned so that the caller can refuse any step not newer than the last
one accepted: a code is never good twice.
"""

from __future__ import annotations

import hmac
import time

import pyotp

STEP_SECONDS = 30
DRIFT_STEPS = 1
ISSUER = "Child Index"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=email, issuer_name=ISSUER)


def code_at(secret: str, at: float) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(int(at))


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step the code belongs to, within the allowed drift, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    now_step = int((time.time() if at is None else at) // STEP_SECONDS)
    generator = pyotp.TOTP(secret, interval=STEP_SECONDS)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(generator.generate_otp(step), code):
            return step
    return None
