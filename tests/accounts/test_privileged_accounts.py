"""Privileged accounts stay with the index team: a user administrator who resets the password or issues a
new token of someone holding an approved shielder, override, auditor or index-team role suspends that
role until the index team approves it again. The attack of issue 24 replayed: revoke and reissue the
token, reset the password, sign in as them with the one-time password, enrol a new key, use the role."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.auth.models import AdminNotice, User, UserRole
from index_service.auth.totp import code_at
from index_service.children.models import Child
from index_service.extensions import db
from index_service.organisation_models import Organisation, OrganisationType
from tests.factories import (
    PASSWORD,
    csrf_token,
    current_code,
    make_child,
    make_organisation,
    make_user,
    page_csrf,
    sign_in,
    submit_code,
    submit_password,
)

NEW_PASSWORD = "heron quarry velvet anchor"
HIDDEN = "Meadow Lane"  # shown to a shielder or auditor, never to anyone else, on a shielded record


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _national() -> Organisation:
    return make_organisation(kind=OrganisationType.NATIONAL_INDEX)


def _signed_in(app: Flask, *roles: Role, organisation: Organisation | None = None) -> tuple[FlaskClient, User]:
    http = app.test_client()
    user = make_user(*roles, organisation=organisation)
    sign_in(http, user)
    return http, user


def _one_time_password(response_text: str) -> str:
    found = re.search(r'id="one-time-password">([^<]+)<', response_text)
    assert found, response_text
    return unescape(found.group(1))


def _take_over(app: Flask, admin: FlaskClient, person: User) -> tuple[FlaskClient, str]:
    """What the administrator did: new token, new password, sign in as the person, enrol, choose a password.

    Returns their client (signed in as the person) and the text of the page after enrolment."""
    token = page_csrf(admin, f"/users/{person.id}")
    assert admin.post(f"/users/{person.id}/token/revoke", data={"csrf_token": token}).status_code == 302
    assert admin.post(f"/users/{person.id}/token/issue", data={"csrf_token": token}).status_code == 302
    one_time = _one_time_password(admin.post(f"/users/{person.id}/password", data={"csrf_token": token}).text)
    theirs = app.test_client()
    assert submit_password(theirs, person.email, one_time).location.endswith("/sign-in/enrol")
    page = theirs.get("/sign-in/enrol")
    found = re.search(r'id="manual-key">([A-Z2-7]+)<', page.text)
    assert found, page.text
    enrolled = theirs.post(
        "/sign-in/enrol", data={"code": code_at(found.group(1), time.time()), "csrf_token": csrf_token(page.text)}
    )
    assert enrolled.status_code == 200, enrolled.text
    token = page_csrf(theirs, "/account/password")
    changed = theirs.post(
        "/account/password",
        data={
            "current_password": one_time,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert changed.status_code == 302, changed.text
    return theirs, unescape(enrolled.text)


def _approve(index_team: FlaskClient, person: User, role: Role) -> int:
    return index_team.post(
        f"/role-approvals/{person.id}",
        data={
            "csrf_token": page_csrf(index_team, "/role-approvals"),
            "role": role.value,
            "decision": "approve",
        },
    ).status_code


def _reads_shielded_in_full(http: FlaskClient, child: Child) -> bool:
    page = http.get(f"/children/{child.index_id}")
    assert page.status_code in (200, 403), page.status_code
    return page.status_code == 200 and HIDDEN in page.text


# Each privileged role, the other roles the person holds beside it, and whether they can use it.
USES: dict[Role, tuple[tuple[Role, ...], Callable[[FlaskClient, Child], bool]]] = {
    Role.SHIELDER: (
        (),
        lambda http, child: (
            _reads_shielded_in_full(http, child) and http.get(f"/children/{child.index_id}/unshield").status_code == 200
        ),
    ),
    Role.AUDITOR: (
        (),
        lambda http, child: _reads_shielded_in_full(http, child) and http.get("/audit").status_code == 200,
    ),
    Role.OVERRIDE: (
        (Role.PRACTITIONER,),
        lambda http, child: (
            not _reads_shielded_in_full(http, child)
            and http.get(f"/children/{child.index_id}/override").status_code == 200
        ),
    ),
    Role.INDEX_TEAM: ((), lambda http, child: http.get("/role-approvals").status_code == 200),
}


@pytest.mark.parametrize("role", list(USES))
def test_a_reset_by_the_user_administrator_suspends_the_role_until_the_index_team_approves_it_again(
    app: Flask, role: Role
) -> None:
    organisation = _national()
    others, use = USES[role]
    child = make_child(is_shielded=True)
    person = make_user(role, *others, organisation=organisation)
    before = app.test_client()
    sign_in(before, person)
    assert use(before, child), "the role works before the reset"

    admin, administrator = _signed_in(app, Role.USER_ADMIN, organisation=organisation)
    theirs, after_enrolment = _take_over(app, admin, person)
    assert not use(theirs, child), "the role is suspended"
    assert not _reads_shielded_in_full(theirs, child)
    assert f"Your {role.label} role is suspended until the index team approves it again" in after_enrolment
    if not others:  # no role left in effect: still signed in, and the home page says why
        assert f"Suspended until the index team approves them again: {role.label}" in theirs.get("/").text
    db.session.expire_all()
    assert role not in db.session.get(User, person.id).roles

    index_team, _ = _signed_in(app, Role.INDEX_TEAM)
    waiting = unescape(index_team.get("/role-approvals").text)
    assert person.email in waiting and "Suspended" in waiting
    assert "new token issued" in waiting and administrator.email in waiting
    assert _approve(index_team, person, role) == 302
    assert use(theirs, child), "approved again, the role works"
    db.session.expire_all()
    [grant] = [g for g in db.session.get(User, person.id).role_grants if g.role is role]
    assert grant.in_effect and grant.suspended_at is None and grant.suspended_by_id is None
    assert _events(AuditTag.ROLE_APPROVE)[-1].details == {"role": role.value, "suspended_because": "new token issued"}


def test_a_password_reset_alone_suspends_the_role_and_everyone_concerned_is_told(app: Flask) -> None:
    organisation = _national()
    person = make_user(Role.SHIELDER, Role.PRACTITIONER, organisation=organisation)
    admin, administrator = _signed_in(app, Role.USER_ADMIN, organisation=organisation)
    warned = admin.get(f"/users/{person.id}")
    assert "suspends" in warned.text and "Shielder" in warned.text

    shown = admin.post(f"/users/{person.id}/password", data={"csrf_token": page_csrf(admin, "/users")})
    assert shown.status_code == 200
    assert "Their Shielder role is suspended until the index team approves it again" in unescape(shown.text)
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert person.roles == {Role.PRACTITIONER} and person.suspended_roles == {Role.SHIELDER}
    [reset] = _events(AuditTag.PASSWORD_RESET)
    assert reset.details["roles_suspended"] == ["shielder"]
    [notice] = db.session.scalars(select(AdminNotice).where(AdminNotice.user_id == person.id)).all()
    assert notice.organisation_id == organisation.id and "Shielder" in notice.message
    assert "password reset" in notice.message

    # The person, signing in with the one-time password and their own token, is told.
    theirs = app.test_client()
    assert submit_password(theirs, person.email, _one_time_password(shown.text)).status_code == 302
    assert submit_code(theirs, current_code(person)).status_code == 302
    told = unescape(theirs.get("/account/password").text)
    assert "Your Shielder role is suspended until the index team approves it again" in told


def test_whoever_suspended_a_role_cannot_approve_it_again(app: Flask) -> None:
    """In the national index a user administrator may also be in the index team: not for their own reset."""
    organisation = _national()
    person = make_user(Role.AUDITOR, organisation=organisation)
    both, _ = _signed_in(app, Role.USER_ADMIN, Role.INDEX_TEAM, organisation=organisation)
    assert both.post(f"/users/{person.id}/password", data={"csrf_token": page_csrf(both, "/users")}).status_code == 200
    refused = both.post(
        f"/role-approvals/{person.id}",
        data={"csrf_token": page_csrf(both, "/role-approvals"), "role": "auditor", "decision": "approve"},
        follow_redirects=True,
    )
    assert "someone else in the index team must approve it again" in unescape(refused.text)
    db.session.expire_all()
    assert Role.AUDITOR not in db.session.get(User, person.id).roles
    other, _ = _signed_in(app, Role.INDEX_TEAM)
    assert _approve(other, person, Role.AUDITOR) == 302
    db.session.expire_all()
    assert Role.AUDITOR in db.session.get(User, person.id).roles


def test_a_user_administrator_of_another_organisation_reaches_neither_the_person_nor_their_roles(app: Flask) -> None:
    person = make_user(Role.SHIELDER, organisation=_national())
    stranger, _ = _signed_in(app, Role.USER_ADMIN)
    token = page_csrf(stranger, "/users")
    for path in ("password", "token/revoke", "token/issue"):
        assert stranger.post(f"/users/{person.id}/{path}", data={"csrf_token": token}).status_code == 404, path
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert person.roles == {Role.SHIELDER} and not person.suspended_roles
    assert _events(AuditTag.PASSWORD_RESET) == [] and db.session.scalar(select(AdminNotice)) is None
    sign_in(app.test_client(), person)


def test_resetting_a_person_without_a_privileged_role_changes_none_of_their_roles(app: Flask) -> None:
    organisation = make_organisation()
    person = make_user(Role.PRACTITIONER, Role.DATA_ADMIN, organisation=organisation)
    pending = make_user(Role.PRACTITIONER, organisation=organisation)
    pending.role_grants.append(UserRole(role=Role.OVERRIDE))  # asked for, never approved
    db.session.commit()
    admin, _ = _signed_in(app, Role.USER_ADMIN, organisation=organisation)
    for someone in (person, pending):
        shown = admin.post(f"/users/{someone.id}/password", data={"csrf_token": page_csrf(admin, "/users")})
        assert shown.status_code == 200 and "suspended" not in shown.text
    assert all("roles_suspended" not in event.details for event in _events(AuditTag.PASSWORD_RESET))
    assert db.session.scalar(select(AdminNotice)) is None
    db.session.expire_all()
    assert db.session.get(User, person.id).roles == {Role.PRACTITIONER, Role.DATA_ADMIN}
    pending_grant = db.session.get(UserRole, (pending.id, Role.OVERRIDE))
    assert pending_grant is not None and not pending_grant.in_effect and pending_grant.suspended_at is None


def test_revoking_a_token_alone_suspends_nothing(app: Flask) -> None:
    """A revoked token locks the person out; only the new token (or password) that follows lets anyone in."""
    organisation = _national()
    person = make_user(Role.SHIELDER, organisation=organisation)
    admin, _ = _signed_in(app, Role.USER_ADMIN, organisation=organisation)
    token = page_csrf(admin, f"/users/{person.id}")
    assert admin.post(f"/users/{person.id}/token/revoke", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, person.id).roles == {Role.SHIELDER}
    issued = admin.post(f"/users/{person.id}/token/issue", data={"csrf_token": token}, follow_redirects=True)
    assert "Shielder role is suspended until the index team approves it again" in unescape(issued.text)
    db.session.expire_all()
    assert db.session.get(User, person.id).roles == frozenset()
    assert submit_password(app.test_client(), person.email, PASSWORD).location.endswith("/sign-in/enrol")
