"""Two-factor tokens across their life: encrypted at rest, enrolled by QR code or key and confirmed by a
code, ten one-time recovery codes (alerting the administrator), revoked and reissued."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.auth.models import AdminNotice, RecoveryCode, User
from index_service.auth.totp import code_at
from index_service.config import ConfigError, load_settings
from index_service.extensions import db
from index_service.sealed_secrets import TOTP_KEYS, SecretUnreadable, key_ring, unseal
from tests.factories import PASSWORD, csrf_token, make_user, page_csrf, sign_in, submit_password


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _issued(user: User) -> User:
    """The user's token revoked and a new one issued, as a user administrator does for a lost phone."""
    from index_service.auth import tokens

    db.session.refresh(user)
    tokens.revoke_token(user)
    tokens.issue_token(user)
    db.session.commit()
    return user


def _enrol(client: FlaskClient, user: User) -> list[str]:
    """Sign in with the password, read the key shown beside the QR code, prove it; the recovery codes."""
    assert submit_password(client, user.email).location.endswith("/sign-in/enrol")
    page = client.get("/sign-in/enrol")
    assert page.status_code == 200 and "<svg" in page.text and "QR code for your authenticator app" in page.text
    key = re.search(r'id="manual-key">([A-Z2-7]+)<', page.text).group(1)
    assert client.get("/sign-in/enrol").text.count(key) == 1, "a reload shows the same key"
    response = client.post(
        "/sign-in/enrol", data={"code": code_at(key, time.time()), "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 200, response.text
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", response.text)


def test_secrets_are_encrypted_at_rest(client: FlaskClient) -> None:
    user = make_user()
    stored = db.session.execute(
        text("SELECT totp_secret_encrypted FROM users WHERE id = :id"), {"id": user.id}
    ).scalar_one()
    assert user.totp_secret and user.totp_secret not in stored and stored.startswith("gAAAAA")
    assert unseal(TOTP_KEYS, stored) == user.totp_secret
    sign_in(client, user)


def test_a_secret_encrypted_with_another_key_is_not_readable(app: Flask) -> None:
    from cryptography.fernet import Fernet

    stranger = Fernet(Fernet.generate_key()).encrypt(b"JBSWY3DPEHPK3PXP").decode()
    with pytest.raises(SecretUnreadable):
        unseal(TOTP_KEYS, stranger)


def test_keys_rotate_the_first_encrypting_any_decrypting() -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = key_ring((old,)).encrypt(b"secret")
    assert key_ring((new, old)).decrypt(sealed) == b"secret"


def test_production_requires_a_valid_key() -> None:
    base = {"CHILD_INDEX_ENV": "production", "SECRET_KEY": "x" * 40, "DATABASE_URL": "postgresql://db/index"}
    with pytest.raises(ConfigError, match="TOTP_ENCRYPTION_KEY must be set"):
        load_settings("/tmp", base)
    with pytest.raises(ConfigError, match="Fernet keys"):
        load_settings("/tmp", {**base, "TOTP_ENCRYPTION_KEY": "not a key"})


def test_enrolment_gives_ten_recovery_codes_shown_once_and_stored_hashed(client: FlaskClient) -> None:
    user = _issued(make_user())
    assert submit_password(client, user.email).status_code == 302
    assert client.get("/sign-in/code").location.endswith("/sign-in/enrol")
    fresh = client.application.test_client()
    codes = _enrol(fresh, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert fresh.get("/search").status_code == 200, "enrolling signs the person in"
    hashes = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code.replace("-", "") in h for code in codes for h in hashes)
    assert _events(AuditTag.TOKEN_ENROL)[-1].user_id == user.id


def test_enrolment_needs_a_correct_code_before_the_token_takes_effect(client: FlaskClient) -> None:
    user = _issued(make_user())
    submit_password(client, user.email)
    page = client.get("/sign-in/enrol")
    wrong = client.post("/sign-in/enrol", data={"code": "123456", "csrf_token": csrf_token(page.text)})
    assert wrong.status_code == 401 and "check the key you typed" in wrong.text
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret_encrypted is None
    assert client.get("/search").status_code == 302


def test_enrolment_is_only_for_an_issued_token(client: FlaskClient) -> None:
    user = make_user()
    from index_service.auth import tokens

    tokens.revoke_token(user)
    db.session.commit()
    response = submit_password(client, user.email)
    assert response.status_code == 403 and "no two-factor token enrolled" in response.text
    assert client.get("/sign-in/enrol").location.endswith("/sign-in")


def test_an_issued_token_left_a_week_unenrolled_lapses(client: FlaskClient) -> None:
    from datetime import timedelta

    from index_service.database import utcnow

    user = _issued(make_user())
    user.token_issued_at = utcnow() - timedelta(days=8)
    db.session.commit()
    response = submit_password(client, user.email)
    assert response.status_code == 403 and "no two-factor token enrolled" in response.text


def test_an_enrolled_user_is_never_sent_to_enrol_again(client: FlaskClient) -> None:
    user = make_user()
    submit_password(client, user.email)
    assert client.get("/sign-in/enrol").location.endswith("/sign-in/code")


def test_a_recovery_code_works_once_and_alerts_the_administrator(app: Flask) -> None:
    user = _issued(make_user())
    codes = _enrol(app.test_client(), user)
    client = app.test_client()
    submit_password(client, user.email)
    page = client.get("/sign-in/recovery-code")
    response = client.post(
        "/sign-in/recovery-code",
        data={"recovery_code": codes[3].upper().replace("-", " "), "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    assert "you have 9 left" in client.get(response.location, follow_redirects=True).text
    notice = db.session.scalars(select(AdminNotice).where(AdminNotice.user_id == user.id)).one()
    assert notice.organisation_id == user.organisation_id and "recovery code" in notice.message
    assert _events(AuditTag.RECOVERY_CODE_USE)[-1].user_id == user.id

    again = app.test_client()
    submit_password(again, user.email)
    page = again.get("/sign-in/recovery-code")
    reused = again.post("/sign-in/recovery-code", data={"recovery_code": codes[3], "csrf_token": csrf_token(page.text)})
    assert reused.status_code == 401 and "Each recovery code works once" in reused.text
    assert again.get("/search").status_code == 302

    admin_client = app.test_client()
    sign_in(admin_client, make_user(Role.USER_ADMIN, organisation=user.organisation))
    notices = admin_client.get("/users/notices")
    assert "signed in with a recovery code; 9 left" in unescape(notices.text)
    other_admin = app.test_client()
    sign_in(other_admin, make_user(Role.USER_ADMIN))
    assert "recovery code" not in other_admin.get("/users/notices").text


def test_a_revoked_token_no_longer_signs_in_and_a_reissued_one_enrols_afresh(app: Flask) -> None:
    admin = make_user(Role.USER_ADMIN)
    person = make_user(organisation=admin.organisation)
    old_secret = person.totp_secret
    phone = app.test_client()
    sign_in(phone, person)
    admin_client = app.test_client()
    sign_in(admin_client, admin)
    token = page_csrf(admin_client, f"/users/{person.id}")
    assert admin_client.post(f"/users/{person.id}/token/revoke", data={"csrf_token": token}).status_code == 302
    assert phone.get("/search").status_code == 302, "revoking ends their sessions"

    lost = app.test_client()
    response = submit_password(lost, person.email)
    assert response.status_code == 403 and "no two-factor token enrolled" in response.text
    assert lost.get("/sign-in/code").location.endswith("/sign-in"), "no code step without a token"
    assert lost.get("/search").status_code == 302

    assert admin_client.post(f"/users/{person.id}/token/issue", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    person = db.session.get(User, person.id)
    codes = _enrol(app.test_client(), person)
    assert len(codes) == 10 and person.totp_secret != old_secret
    assert [e.tag for e in _events(AuditTag.TOKEN_REVOKE) + _events(AuditTag.TOKEN_ISSUE)] == [
        AuditTag.TOKEN_REVOKE,
        AuditTag.TOKEN_ISSUE,
    ]


def test_recovery_codes_die_with_a_revoked_token(app: Flask) -> None:
    user = _issued(make_user())
    codes = _enrol(app.test_client(), user)
    _issued(db.session.get(User, user.id))
    client = app.test_client()
    assert submit_password(client, user.email).location.endswith("/sign-in/enrol")
    page = client.get("/sign-in/recovery-code")
    response = client.post(
        "/sign-in/recovery-code", data={"recovery_code": codes[0], "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 401


def test_the_password_still_comes_first(client: FlaskClient) -> None:
    user = _issued(make_user())
    assert submit_password(client, user.email, PASSWORD + "x").status_code == 401
    assert client.get("/sign-in/enrol").location.endswith("/sign-in")
