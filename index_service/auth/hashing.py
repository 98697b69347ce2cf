"""Which argon2id cost a hash is made at: the standard one, or argon2's cheapest for the test suite only.

Production and development hash passwords at argon2-cffi's default (RFC 9106's low-memory choice) and
recovery codes at OWASP's smallest setting. The test suite makes and signs in thousands of users and at
those costs spent much of its time hashing, so its configuration (CHILD_INDEX_ENV=testing, never another)
asks for argon2's cheapest. A hash carries its own parameters, so verifying reads a hash of any cost.
"""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from flask import current_app

CHEAPEST = PasswordHasher.from_parameters(profiles.CHEAPEST)


def configured(standard: PasswordHasher) -> PasswordHasher:
    """`standard`, unless the app's configuration asks for argon2's cheapest (the test suite's)."""
    return CHEAPEST if current_app.config["ARGON2_CHEAPEST"] else standard
