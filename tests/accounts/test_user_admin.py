"""User administration: scoped to the administrator's own organisation, roles needing approval,
suspend, reinstate, close, password reset, fresh codes for changes, and CSV import."""

from __future__ import annotations

import io
import re
from html import unescape

from flask.testing import FlaskClient
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User, UserRole, UserSession
from index_service.extensions import db
from index_service.organisation_models import Organisation
from tests.factories import (
    current_code,
    make_code_stale,
    make_organisation,
    make_user,
    page_csrf,
    sign_in,
    submit_code,
    submit_password,
)


def _admin(client: FlaskClient, organisation: Organisation | None = None) -> User:
    admin = make_user(Role.USER_ADMIN, organisation=organisation)
    sign_in(client, admin)
    return admin


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _new_account(client: FlaskClient, **fields: object) -> tuple[int, str]:
    data = {
        "display_name": "Priya Shah",
        "email": "priya.shah@example.org",
        "roles": ["practitioner"],
        "vetting_reference": "001234567890",
        "vetting_expires_on": "31/03/2099",
        "training_completed_on": "01/01/2026",
        "approved_on": "02/01/2026",
        "line_manager": "",
        "csrf_token": page_csrf(client, "/users/new"),
        **fields,
    }
    response = client.post("/users/new", data=data)
    assert response.status_code == 200, response.text
    password = re.search(r'id="one-time-password">([^<]+)<', response.text)
    assert password
    user = db.session.scalar(select(User).where(User.email == str(data["email"]).lower()))
    assert user is not None
    return user.id, unescape(password.group(1))


def test_a_non_administrator_reaches_no_admin_page(client: FlaskClient) -> None:
    user = make_user(Role.PRACTITIONER)
    other = make_user(organisation=user.organisation)
    sign_in(client, user)
    for path in (
        "/users",
        "/users/new",
        f"/users/{other.id}",
        f"/users/{other.id}/edit",
        "/users/import",
        "/users/notices",
        "/role-approvals",
        "/organisations",
        "/accreditation/criteria",
    ):
        assert client.get(path).status_code == 403, path
    token = page_csrf(client)
    for path in (f"/users/{other.id}/close", f"/users/{other.id}/token/revoke", f"/users/{other.id}/suspend"):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    db.session.expire_all()
    assert db.session.get(User, other.id).is_active


def test_create_an_account_with_its_checks_and_a_one_time_password(client: FlaskClient) -> None:
    admin = _admin(client)
    user_id, password = _new_account(client)
    user = db.session.get(User, user_id)
    assert user.organisation_id == admin.organisation_id and user.password_must_change
    assert user.roles == {Role.PRACTITIONER} and user.token_issued_at and user.totp_secret_encrypted is None
    assert user.vetting_expires_on.isoformat() == "2099-03-31"
    assert _events(AuditTag.ACCOUNT_CREATE)[-1].target_ids == [str(user_id)]
    assert password not in str(_events(AuditTag.ACCOUNT_CREATE)[-1].details)
    listing = client.get("/users?q=priya")
    assert "priya.shah@example.org" in listing.text


def test_bad_input_is_refused_with_messages(client: FlaskClient) -> None:
    _admin(client)
    token = page_csrf(client, "/users/new")
    response = client.post(
        "/users/new",
        data={
            "display_name": "",
            "email": "not-an-email",
            "roles": [],
            "vetting_expires_on": "31/02/2027",
            "training_completed_on": "01/01/2099",
            "csrf_token": token,
        },
    )
    text = unescape(response.text)
    assert response.status_code == 400
    for message in (
        "Enter the person's full name",
        "Enter an email address like",
        "Select at least one role",
        "vetting check expiry date as day/month/year",
        "training completed on cannot be in the future",
    ):
        assert message in text, message
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_another_organisations_user_is_not_found_by_id_search_or_guess(client: FlaskClient) -> None:
    admin = _admin(client)
    stranger = make_user(email="stranger@elsewhere.example")
    make_user(organisation=admin.organisation, email="colleague@here.example")
    token = page_csrf(client, "/users")
    for path in (f"/users/{stranger.id}", f"/users/{stranger.id}/edit", "/users/999999"):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/users/{stranger.id}/close",
        f"/users/{stranger.id}/suspend",
        f"/users/{stranger.id}/token/revoke",
        f"/users/{stranger.id}/token/issue",
        f"/users/{stranger.id}/password",
        f"/users/{stranger.id}/edit",
    ):
        assert (
            client.post(path, data={"csrf_token": token, "display_name": "x", "roles": ["practitioner"]}).status_code
            == 404
        ), path
    found = client.get("/users?q=stranger").text + client.get("/users?q=elsewhere").text + client.get("/users").text
    assert "stranger@elsewhere.example" not in found and "colleague@here.example" in found
    db.session.expire_all()
    assert db.session.get(User, stranger.id).is_active and db.session.get(User, stranger.id).totp_secret_encrypted
    denied = [event for event in _events(AuditTag.ACCESS_DENIED) if event.reason == "user outside organisation"]
    assert len(denied) == 9 and {event.target_ids[0] for event in denied} == {str(stranger.id), "999999"}


def test_a_line_manager_must_be_in_the_same_organisation(client: FlaskClient) -> None:
    _admin(client)
    stranger = make_user()
    token = page_csrf(client, "/users/new")
    response = client.post(
        "/users/new",
        data={
            "display_name": "A",
            "email": "a@example.org",
            "roles": ["practitioner"],
            "line_manager": str(stranger.id),
            "csrf_token": token,
        },
    )
    assert response.status_code == 400 and "Not a valid choice" in response.text


def test_roles_needing_approval_wait_for_the_index_team(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(client)
    user_id, _ = _new_account(client, roles=["practitioner", "shielder", "override"])
    user = db.session.get(User, user_id)
    assert user.roles == {Role.PRACTITIONER} and user.awaiting_approval == {Role.SHIELDER, Role.OVERRIDE}

    index_team = app.test_client()
    approver = make_user(Role.INDEX_TEAM)
    sign_in(index_team, approver)
    page = index_team.get("/role-approvals")
    assert user.email in page.text and admin.email not in page.text
    token = page_csrf(index_team, "/role-approvals")
    assert (
        index_team.post(
            f"/role-approvals/{user_id}", data={"role": "shielder", "decision": "approve", "csrf_token": token}
        ).status_code
        == 302
    )
    assert (
        index_team.post(
            f"/role-approvals/{user_id}", data={"role": "override", "decision": "refuse", "csrf_token": token}
        ).status_code
        == 302
    )
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert user.roles == {Role.PRACTITIONER, Role.SHIELDER} and user.awaiting_approval == frozenset()
    assert _events(AuditTag.ROLE_APPROVE)[-1].details == {"role": "shielder"}
    assert _events(AuditTag.ROLE_REFUSE)[-1].details == {"role": "override"}


def test_an_administrator_cannot_escalate_their_own_roles(client: FlaskClient) -> None:
    admin = _admin(client)
    token = page_csrf(client, f"/users/{admin.id}")
    response = client.post(
        f"/users/{admin.id}/edit",
        data={
            "display_name": "Me",
            "email": admin.email,
            "roles": ["user_admin", "shielder"],
            "line_manager": "",
            "csrf_token": token,
        },
    )
    assert response.status_code == 403 and "cannot change the roles of your own account" in response.text
    db.session.expire_all()
    assert db.session.get(User, admin.id).role_grants[0].role is Role.USER_ADMIN
    assert len(db.session.get(User, admin.id).role_grants) == 1


def test_granting_others_a_role_that_needs_approval_gives_them_nothing_yet(client: FlaskClient) -> None:
    admin = _admin(client)
    colleague = make_user(organisation=admin.organisation)
    token = page_csrf(client, f"/users/{colleague.id}/edit")
    response = client.post(
        f"/users/{colleague.id}/edit",
        data={
            "display_name": "Colleague",
            "email": colleague.email,
            "roles": ["practitioner", "auditor", "override"],
            "vetting_expires_on": "31/03/2099",
            "training_completed_on": "01/01/2026",
            "approved_on": "01/01/2026",
            "line_manager": str(admin.id),
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    changed = db.session.get(User, colleague.id)
    assert changed.roles == {Role.PRACTITIONER} and changed.line_manager_id == admin.id
    colleague_client = client.application.test_client()
    sign_in(colleague_client, changed)
    assert colleague_client.get("/audit/overrides").status_code == 403


def test_index_team_role_only_in_the_national_index(client: FlaskClient) -> None:
    admin = _admin(client)
    token = page_csrf(client, "/users/new")
    response = client.post(
        "/users/new",
        data={
            "display_name": "A",
            "email": "a@example.org",
            "roles": ["index_team"],
            "line_manager": "",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400 and admin.organisation.type.value == "local_authority"
    assert db.session.scalar(select(User).where(User.email == "a@example.org")) is None


def test_nobody_approves_their_own_role(client: FlaskClient) -> None:
    approver = make_user(Role.INDEX_TEAM)
    approver.role_grants.append(UserRole(role=Role.AUDITOR))
    db.session.commit()
    sign_in(client, approver)
    token = page_csrf(client, "/role-approvals")
    response = client.post(
        f"/role-approvals/{approver.id}",
        data={"role": "auditor", "decision": "approve", "csrf_token": token},
        follow_redirects=True,
    )
    assert "You cannot approve or refuse a role for yourself" in response.text
    db.session.expire_all()
    assert db.session.get(User, approver.id).awaiting_approval == {Role.AUDITOR}
    assert (
        client.post(
            f"/role-approvals/{approver.id}", data={"role": "wizard", "decision": "approve", "csrf_token": token}
        ).status_code
        == 404
    )


def test_closing_revokes_the_token_and_ends_every_session_at_once(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(client)
    leaver = make_user(organisation=admin.organisation)
    phone, laptop = app.test_client(), app.test_client()
    sign_in(phone, leaver)
    sign_in(laptop, leaver, offset_steps=1)
    response = client.post(f"/users/{leaver.id}/close", data={"csrf_token": page_csrf(client, "/users")})
    assert response.status_code == 302
    assert phone.get("/search").status_code == 302 and laptop.get("/search").status_code == 302
    db.session.expire_all()
    closed = db.session.get(User, leaver.id)
    assert not closed.is_active and closed.totp_secret_encrypted is None and closed.closed_at
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == leaver.id, UserSession.ended_at.is_(None))
        )
        == 0
    )
    assert submit_password(app.test_client(), leaver.email).status_code == 401
    assert _events(AuditTag.ACCOUNT_CLOSE)[-1].details["sessions_ended"] == 2
    again = client.post(f"/users/{leaver.id}/reinstate", data={"csrf_token": page_csrf(client, "/users")})
    assert again.status_code == 409


def test_suspend_and_reinstate(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(client)
    person = make_user(organisation=admin.organisation)
    theirs = app.test_client()
    sign_in(theirs, person)
    token = page_csrf(client, "/users")
    assert client.post(f"/users/{person.id}/suspend", data={"csrf_token": token}).status_code == 302
    assert theirs.get("/search").status_code == 302
    assert submit_password(app.test_client(), person.email).status_code == 403
    assert client.post(f"/users/{person.id}/reinstate", data={"csrf_token": token}).status_code == 302
    sign_in(app.test_client(), person, offset_steps=1)
    assert [e.tag for e in _events(AuditTag.ACCOUNT_SUSPEND) + _events(AuditTag.ACCOUNT_REINSTATE)] == [
        AuditTag.ACCOUNT_SUSPEND,
        AuditTag.ACCOUNT_REINSTATE,
    ]


def test_an_administrator_cannot_close_or_strip_their_own_account(client: FlaskClient) -> None:
    admin = _admin(client)
    token = page_csrf(client, "/users")
    for path in ("close", "suspend", "token/revoke", "password"):
        response = client.post(f"/users/{admin.id}/{path}", data={"csrf_token": token})
        assert response.status_code == 409 and "your own account" in response.text, path
    db.session.expire_all()
    assert db.session.get(User, admin.id).totp_secret_encrypted is not None
    assert client.get("/users").status_code == 200


def test_a_stale_code_is_asked_for_again_before_a_change(client: FlaskClient) -> None:
    admin = _admin(client)
    person = make_user(organisation=admin.organisation)
    make_code_stale(admin)
    token = page_csrf(client, f"/users/{person.id}")
    assert 'name="code"' in client.get(f"/users/{person.id}").text
    missing = client.post(f"/users/{person.id}/suspend", data={"csrf_token": token})
    assert missing.status_code == 400 and "Enter a security code" in missing.text
    wrong = client.post(f"/users/{person.id}/suspend", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 401
    reused = client.post(f"/users/{person.id}/suspend", data={"csrf_token": token, "code": current_code(admin)})
    assert reused.status_code == 401, "the code used to sign in is not fresh"
    db.session.expire_all()
    assert db.session.get(User, person.id).suspended_at is None
    fresh = client.post(
        f"/users/{person.id}/suspend", data={"csrf_token": token, "code": current_code(admin, offset_steps=1)}
    )
    assert fresh.status_code == 302
    assert _events(AuditTag.REAUTH_FAILURE)[-1].details["purpose"] == "account suspend"
    assert 'name="code"' not in client.get(f"/users/{person.id}").text, "fresh for five minutes"


def test_password_reset_forces_a_change_at_next_sign_in(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(client)
    person = make_user(organisation=admin.organisation)
    response = client.post(f"/users/{person.id}/password", data={"csrf_token": page_csrf(client, "/users")})
    password = unescape(re.search(r'id="one-time-password">([^<]+)<', response.text).group(1))
    theirs = app.test_client()
    assert submit_password(theirs, person.email, "correct horse battery staple").status_code == 401
    assert submit_password(theirs, person.email, password).status_code == 302
    assert submit_code(theirs, current_code(person)).status_code == 302
    assert theirs.get("/search").location.endswith("/account/password")
    assert theirs.post("/api/v1/children/search", json={}).status_code == 403
    token = page_csrf(theirs, "/account/password")
    common = theirs.post(
        "/account/password",
        data={
            "current_password": password,
            "new_password": "qwerty123456",
            "confirm_password": "qwerty123456",
            "csrf_token": token,
        },
    )
    assert common.status_code == 400 and "easy to guess" in common.text
    short = theirs.post(
        "/account/password",
        data={
            "current_password": password,
            "new_password": "short one",
            "confirm_password": "short one",
            "csrf_token": token,
        },
    )
    assert short.status_code == 400 and "at least 12 characters" in short.text
    done = theirs.post(
        "/account/password",
        data={
            "current_password": password,
            "new_password": "plum kettle orbit thistle",
            "confirm_password": "plum kettle orbit thistle",
            "csrf_token": token,
        },
    )
    assert done.status_code == 302 and theirs.get("/search").status_code == 200
    assert _events(AuditTag.PASSWORD_RESET) and _events(AuditTag.PASSWORD_CHANGE)[-1].outcome is Outcome.SUCCESS


def test_csv_import_reports_every_row(client: FlaskClient) -> None:
    admin = _admin(client)
    make_user(organisation=admin.organisation, email="manager@here.example")
    make_user(email="taken@elsewhere.example")
    content = (
        b"email,name,roles,vetting_expires_on,training_completed_on,approved_on,line_manager_email\n"
        b"ann@here.example,Ann Lee,practitioner,2099-01-01,2026-01-01,2026-01-02,manager@here.example\n"
        b"bob@here.example,Bob Ray,practitioner;shielder,31/12/2099,,,\n"
        b"not-an-email,Cy,practitioner,,,,\n"
        b"dee@here.example,Dee,wizard,,,,\n"
        b"taken@elsewhere.example,Taken,practitioner,,,,\n"
        b"eve@here.example,Eve,practitioner,2099-13-01,,,\n"
        b"fay@here.example,Fay,data_admin,,,,someone@elsewhere.example\n"
    )
    response = client.post(
        "/users/import",
        data={"csrf_token": page_csrf(client, "/users/import"), "file": (io.BytesIO(content), "staff.csv")},
        content_type="multipart/form-data",
    )
    text = unescape(response.text)
    assert response.status_code == 200 and "2 of 7 rows imported" in text
    for message in (
        "email must be an email address",
        "unknown role 'wizard'",
        "already exists",
        "vetting_expires_on must be a date",
        "not an account in your organisation",
        "awaiting the index team's approval: Shielder",
    ):
        assert message in text, message
    ann = db.session.scalar(select(User).where(User.email == "ann@here.example"))
    assert ann.line_manager.email == "manager@here.example" and ann.organisation_id == admin.organisation_id
    assert _events(AuditTag.ACCOUNT_IMPORT)[-1].details["rejected"] == [4, 5, 6, 7, 8]


def test_csv_import_refuses_an_unreadable_file(client: FlaskClient) -> None:
    _admin(client)
    token = page_csrf(client, "/users/import")
    for content, message in (
        (b"name,roles\nA,practitioner\n", "missing: email"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b"email,name,roles,colour\n", "Unknown columns"),
    ):
        response = client.post(
            "/users/import",
            data={"csrf_token": token, "file": (io.BytesIO(content), "a.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 400 and message in response.text, message
    assert client.post("/users/import", data={"csrf_token": token}).status_code == 400


def test_another_organisations_admin_sees_none_of_ours(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    ours = make_organisation()
    _admin(client, ours)
    _new_account(client)
    theirs = app.test_client()
    _admin(theirs)
    assert "priya.shah@example.org" not in theirs.get("/users?q=priya").text


def test_changing_ones_own_password_asks_for_a_fresh_code_when_stale(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    make_code_stale(user)
    token = page_csrf(client, "/account/password")
    data = {
        "current_password": "correct horse battery staple",
        "new_password": "plum kettle orbit thistle",
        "confirm_password": "plum kettle orbit thistle",
        "csrf_token": token,
    }
    refused = client.post("/account/password", data=data)
    assert refused.status_code == 400 and "Enter a security code" in refused.text
    wrong = client.post("/account/password", data={**data, "current_password": "not my password at all"})
    assert wrong.status_code == 401
    done = client.post("/account/password", data={**data, "code": current_code(user, offset_steps=1)})
    assert done.status_code == 302
    assert _events(AuditTag.PASSWORD_CHANGE)[-1].outcome is Outcome.SUCCESS


def test_a_home_postcode_district_is_kept_as_its_outward_code_only(client: FlaskClient) -> None:
    _admin(client)
    user_id, _ = _new_account(client, home_postcode_district="ls6 2ab")
    user = db.session.get(User, user_id)
    assert user.home_postcode_district == "LS6"
    assert "LS6" in client.get(f"/users/{user_id}").text
    token = page_csrf(client, f"/users/{user_id}/edit")
    response = client.post(
        f"/users/{user_id}/edit",
        data={
            "display_name": "Priya Shah",
            "roles": ["practitioner"],
            "vetting_expires_on": "31/03/2099",
            "line_manager": "",
            "home_postcode_district": "Leeds",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert "Enter the first part of a postcode, like LS6" in unescape(response.text)
    db.session.expire_all()
    assert db.session.get(User, user_id).home_postcode_district == "LS6"


def test_csv_import_takes_a_home_postcode_district_or_says_why_not(client: FlaskClient) -> None:
    _admin(client)
    content = (
        b"email,name,roles,home_postcode_district\n"
        b"gil@here.example,Gil Ash,practitioner,BD1 1AA\n"
        b"hal@here.example,Hal Oak,practitioner,Bradford\n"
    )
    response = client.post(
        "/users/import",
        data={"csrf_token": page_csrf(client, "/users/import"), "file": (io.BytesIO(content), "staff.csv")},
        content_type="multipart/form-data",
    )
    assert "home_postcode_district must be the first part of a postcode" in unescape(response.text)
    assert db.session.scalar(select(User.home_postcode_district).where(User.email == "gil@here.example")) == "BD1"
    assert db.session.scalar(select(User.id).where(User.email == "hal@here.example")) is None


def test_a_wild_page_number_shows_the_first_page(client: FlaskClient) -> None:
    admin = _admin(client)
    for page in ("99999999999999999999", "-2", "two", ""):
        response = client.get(f"/users?page={page}")
        assert response.status_code == 200 and admin.email in response.text, page
