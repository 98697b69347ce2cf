"""Passwords and recovery codes are hashed at argon2's standard cost everywhere but in the test suite, whose
configuration alone asks for argon2's cheapest; a hash of either cost is checked alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from index_service.auth.models import RecoveryCode, User
from index_service.auth.passwords import verify_password
from index_service.auth.tokens import new_recovery_codes, use_recovery_code
from index_service.config import load_settings
from index_service.extensions import db
from tests.factories import PASSWORD, make_user, sign_in

PRODUCTION = {
    "CHILD_INDEX_ENV": "production",
    "SECRET_KEY": "x" * 40,
    "DATABASE_URL": "postgresql://db/index",
    "TOTP_ENCRYPTION_KEY": "A" * 43 + "=",
    "AUDIT_CHECKPOINT_KEY": "k" * 40,
}
STANDARD_PASSWORD = "$argon2id$v=19$m=65536,t=3,p=4$"  # argon2-cffi's default, RFC 9106's low-memory choice
STANDARD_RECOVERY_CODE = "$argon2id$v=19$m=19456,t=2,p=1$"  # OWASP's smallest setting
CHEAPEST = "$argon2id$v=19$m=8,t=1,p=1$"


def _hashes(user: User) -> tuple[str, list[str]]:
    password = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    codes = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    return password, list(codes)


def test_only_the_test_suites_configuration_asks_for_the_cheapest_cost(tmp_path: Path) -> None:
    assert load_settings(str(tmp_path), PRODUCTION).flask_config()["ARGON2_CHEAPEST"] is False
    development = load_settings(str(tmp_path), {"CHILD_INDEX_ENV": "development"})
    assert development.flask_config()["ARGON2_CHEAPEST"] is False
    assert load_settings(str(tmp_path), {"CHILD_INDEX_ENV": "testing"}).flask_config()["ARGON2_CHEAPEST"] is True


def test_at_the_standard_cost_hashes_are_made_and_checked_as_in_production(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "ARGON2_CHEAPEST", False)
    user = make_user()
    codes = new_recovery_codes(user)
    db.session.commit()
    password, code_hashes = _hashes(user)
    assert password.startswith(STANDARD_PASSWORD)
    assert len(code_hashes) == 10 and all(h.startswith(STANDARD_RECOVERY_CODE) for h in code_hashes)
    sign_in(client, user)
    assert not verify_password(password, "not the password at all") and not verify_password(None, PASSWORD)
    assert use_recovery_code(user, codes[0]) and not use_recovery_code(user, codes[0])


def test_the_test_suite_hashes_at_the_cheapest_cost_and_still_reads_a_standard_hash(
    app: Flask, client: FlaskClient
) -> None:
    user = make_user()
    codes = new_recovery_codes(user)
    db.session.commit()
    password, code_hashes = _hashes(user)
    assert password.startswith(CHEAPEST) and all(h.startswith(CHEAPEST) for h in code_hashes)
    assert use_recovery_code(user, codes[0])
    user.password_hash = PasswordHasher().hash(PASSWORD)
    db.session.commit()
    sign_in(client, user)
    assert not verify_password(user.password_hash, "not the password at all")
