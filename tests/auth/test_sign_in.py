"""Signing in with a password and a code: every rule, and every way it must refuse."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import UserSession
from index_service.auth.sessions import end_sessions_for_user
from index_service.database import utcnow
from index_service.extensions import db
from tests.factories import (
    csrf_token,
    current_code,
    make_user,
    sign_in,
    submit_code,
    submit_password,
    wait_for_fresh_time_step,
)


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _open_session(user_id: int) -> UserSession:
    return db.session.scalars(
        select(UserSession).where(UserSession.ended_at.is_(None), UserSession.user_id == user_id)
    ).one()


def test_password_then_code_signs_in_and_is_audited(client: FlaskClient) -> None:
    user = make_user(Role.PRACTITIONER)
    response = submit_password(client, user.email)
    assert response.status_code == 302 and response.location.endswith("/sign-in/code")
    assert client.get("/search").status_code == 302, "a password alone must not open the service"
    wait_for_fresh_time_step()
    response = submit_code(client, current_code(user))
    assert response.status_code == 302
    page = client.get("/search")
    assert page.status_code == 200 and "Search for a child" in page.text
    success = _events(AuditTag.LOGIN_SUCCESS)
    assert [(e.user_id, e.organisation_id, e.outcome) for e in success] == [
        (user.id, user.organisation_id, Outcome.SUCCESS)
    ]
    assert success[0].client_address == "127.0.0.1"


def test_wrong_password_is_refused_and_audited(client: FlaskClient) -> None:
    user = make_user()
    response = submit_password(client, user.email, "not the password at all")
    assert response.status_code == 401
    assert "Enter a correct email address and password" in response.text
    assert client.get("/sign-in/code").status_code == 302
    failure = _events(AuditTag.LOGIN_FAILURE)
    assert failure[-1].details["why"] == "wrong password" and failure[-1].user_id == user.id


def test_unknown_email_gets_the_same_message(client: FlaskClient) -> None:
    response = submit_password(client, "nobody@example.org")
    assert response.status_code == 401
    assert "Enter a correct email address and password" in response.text


def test_wrong_code_is_refused(client: FlaskClient) -> None:
    user = make_user()
    submit_password(client, user.email)
    wrong = f"{(int(current_code(user)) + 1) % 1_000_000:06d}"
    response = submit_code(client, wrong)
    assert response.status_code == 401
    assert "Enter a correct security code" in response.text
    assert client.get("/search").status_code == 302


def test_malformed_code_gets_a_form_error(client: FlaskClient) -> None:
    user = make_user()
    submit_password(client, user.email)
    response = submit_code(client, "12ab")
    assert response.status_code == 200
    assert "The security code must be 6 digits" in response.text


def test_replayed_code_is_refused(client: FlaskClient, app: Flask) -> None:
    user = make_user()
    wait_for_fresh_time_step()
    code = current_code(user)
    submit_password(client, user.email)
    assert submit_code(client, code).status_code == 302
    other = app.test_client()
    submit_password(other, user.email)
    response = submit_code(other, code)
    assert response.status_code == 401
    assert _events(AuditTag.LOGIN_FAILURE)[-1].details["why"] == "wrong or reused code"


def test_code_from_neighbouring_window_is_accepted(client: FlaskClient) -> None:
    user = make_user()
    wait_for_fresh_time_step()
    submit_password(client, user.email)
    assert submit_code(client, current_code(user, offset_steps=-1)).status_code == 302


def test_code_from_two_windows_away_is_refused(client: FlaskClient) -> None:
    user = make_user()
    wait_for_fresh_time_step()
    submit_password(client, user.email)
    assert submit_code(client, current_code(user, offset_steps=-2)).status_code == 401
    assert submit_code(client, current_code(user, offset_steps=2)).status_code == 401


def test_older_code_refused_after_newer_accepted(client: FlaskClient, app: Flask) -> None:
    user = make_user()
    wait_for_fresh_time_step()
    submit_password(client, user.email)
    assert submit_code(client, current_code(user, offset_steps=1)).status_code == 302
    other = app.test_client()
    submit_password(other, user.email)
    assert submit_code(other, current_code(user)).status_code == 401


def test_account_locks_after_repeated_failures(client: FlaskClient) -> None:
    user = make_user()
    for _ in range(5):
        assert submit_password(client, user.email, "wrong password here").status_code == 401
    response = submit_password(client, user.email)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert _events(AuditTag.LOGIN_FAILURE)[-1].details["why"] == "locked"


def test_failed_codes_count_towards_the_lock(client: FlaskClient) -> None:
    user = make_user()
    submit_password(client, user.email)
    for _ in range(5):
        submit_code(client, "000000" if current_code(user) != "000000" else "111111")
    response = submit_code(client, current_code(user))
    assert response.status_code == 429


def test_client_address_is_limited_across_accounts(client: FlaskClient, app: Flask) -> None:
    limit = app.config["ADDRESS_LOCKOUT_FAILURES"]
    for number in range(limit):
        submit_password(client, f"guess{number}@example.org", "wrong password here")
    user = make_user()
    assert submit_password(client, user.email).status_code == 429


def test_the_same_code_sent_twice_at_once_succeeds_exactly_once(committed_app: Flask) -> None:
    user = make_user()
    email, code = user.email, current_code(user)
    db.session.commit()  # let go of SQLite's write lock before the requests start
    wait_for_fresh_time_step(margin=8)
    clients = [committed_app.test_client(), committed_app.test_client()]
    for each in clients:
        assert submit_password(each, email).status_code == 302
    forms = [{"code": code, "csrf_token": csrf_token(each.get("/sign-in/code").text)} for each in clients]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send(each: FlaskClient, form: dict[str, str]) -> None:
        with committed_app.app_context():
            barrier.wait()
            statuses.append(each.post("/sign-in/code", data=form).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302, 401]


def test_session_cookie_is_renewed_at_each_step(client: FlaskClient, app: Flask) -> None:
    user = make_user()
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    client.get("/sign-in")
    first = client.get_cookie(cookie_name).value
    submit_password(client, user.email)
    second = client.get_cookie(cookie_name).value
    wait_for_fresh_time_step()
    submit_code(client, current_code(user))
    third = client.get_cookie(cookie_name).value
    assert len({first, second, third}) == 3
    stale = app.test_client()
    stale.set_cookie(cookie_name, first)
    assert stale.get("/search").status_code == 302, "an id from before sign-in must not carry the sign-in"


def test_cookie_holds_only_a_random_id(client: FlaskClient, app: Flask) -> None:
    user = make_user()
    sign_in(client, user)
    value = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert user.email not in value and str(user.id) not in value.split(".")
    assert len(value) >= 40


def test_production_cookie_attributes(migrated_app: Flask) -> None:
    from index_service.config import load_settings

    settings = load_settings(
        "/tmp",
        {
            "CHILD_INDEX_ENV": "production",
            "SECRET_KEY": "x" * 40,
            "DATABASE_URL": "postgresql://db/index",
            "TOTP_ENCRYPTION_KEY": "A" * 43 + "=",
            "AUDIT_CHECKPOINT_KEY": "k" * 40,
        },
    )
    config = settings.flask_config()
    assert config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True and config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_set_cookie_header_is_httponly_and_lax(client: FlaskClient) -> None:
    response = client.get("/sign-in")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header


def test_idle_session_expires(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    row = _open_session(user.id)
    row.last_seen_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    response = client.get("/search")
    assert response.status_code == 302 and response.location.endswith("/sign-in")
    assert "You were signed out" in client.get("/sign-in").text
    assert _events(AuditTag.SESSION_EXPIRED)[-1].user_id == user.id


def test_session_ends_after_twelve_hours_even_when_active(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    row = _open_session(user.id)
    row.created_at = utcnow() - timedelta(hours=12, minutes=1)
    db.session.commit()
    assert client.get("/search").status_code == 302


def test_sign_out_ends_the_session_server_side(client: FlaskClient, app: Flask) -> None:
    user = make_user()
    sign_in(client, user)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    from tests.factories import page_csrf

    response = client.post("/sign-out", data={"csrf_token": page_csrf(client)})
    assert response.status_code == 302
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert replay.get("/search").status_code == 302, "a signed-out session id must be dead"
    assert _events(AuditTag.LOGOUT)[-1].user_id == user.id


def test_a_message_added_while_another_is_unread_is_kept(client: FlaskClient) -> None:
    """Two actions in a row, the first's message not yet shown: the session keeps both (a list changed
    in place once compared equal to the stored one, and the second message was never written)."""
    admin = make_user(Role.USER_ADMIN)
    person = make_user(organisation=admin.organisation)
    sign_in(client, admin)
    token = csrf_token(client.get(f"/users/{person.id}").text)
    assert client.post(f"/users/{person.id}/suspend", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/users/{person.id}/reinstate", data={"csrf_token": token}).status_code == 302
    shown = client.get(f"/users/{person.id}").text
    assert "account is suspended" in shown and "account is reinstated" in shown


def test_closing_an_account_ends_its_sessions_at_once(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    assert client.get("/search").status_code == 200
    user.is_active = False
    assert end_sessions_for_user(user.id) == 1
    db.session.commit()
    assert client.get("/search").status_code == 302


def test_closed_account_cannot_sign_in(client: FlaskClient) -> None:
    user = make_user()
    user.is_active = False
    db.session.commit()
    assert submit_password(client, user.email).status_code == 401


def test_form_without_csrf_token_is_refused(client: FlaskClient) -> None:
    user = make_user()
    client.get("/sign-in")
    response = client.post("/sign-in", data={"email": user.email, "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert client.get("/sign-in/code").status_code == 302


def test_sign_out_without_csrf_token_is_refused(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    assert client.post("/sign-out").status_code == 400
    assert client.get("/search").status_code == 200
