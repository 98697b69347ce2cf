"""Mediated access: the index team acts only for a named practitioner, whose names go on every event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User, UserRole, UserSession
from index_service.database import utcnow
from index_service.extensions import db
from tests.factories import csrf_token, home_csrf, make_child, make_user, page_csrf, sign_in

ACTING_FOR = {
    "practitioner_name": "Ms Dana Okafor",
    "practitioner_organisation": "Wexley Family Practice",
    "contact": "0161 496 0733 ext 12",
}


def _start(client: FlaskClient, **form: str) -> object:
    return client.post(
        "/mediated-access", data={"csrf_token": page_csrf(client, "/mediated-access"), **(form or ACTING_FOR)}
    )


def _search(client: FlaskClient) -> object:
    return client.post(
        "/search",
        data={
            "purpose": "case_work",
            "family_name": "Bennett",
            "date_of_birth": "27/03/2016",
            "csrf_token": home_csrf(client),
        },
    )


def _events(tag: AuditTag | None = None, user: User | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if tag is not None:
        query = query.where(AuditEvent.tag == tag)
    if user is not None:
        query = query.where(AuditEvent.user_id == user.id)
    return list(db.session.scalars(query))


def _signed_in_index_team(client: FlaskClient, *more: Role) -> User:
    user = make_user(Role.INDEX_TEAM, *more)
    sign_in(client, user)
    return user


def test_index_team_cannot_look_up_without_naming_a_practitioner(client: FlaskClient) -> None:
    child = make_child()
    user = _signed_in_index_team(client)
    for response in (client.get("/search"), _search(client), client.get(f"/children/{child.index_id}")):
        assert response.status_code == 302 and response.location.endswith("/mediated-access")
    api = client.post("/api/v1/children/search", json={"purpose": "case_work", "nhs_number": "9434765919"})
    assert api.status_code == 403 and "acting for" in api.json["message"]
    assert client.get(f"/api/v1/children/{child.index_id}").status_code == 403
    assert _events(AuditTag.RECORD_SEARCH) == [] and _events(AuditTag.RECORD_VIEW) == []
    denied = _events(AuditTag.ACCESS_DENIED, user)
    # the search page twice (once on the way to a form token), the search, the record, the two API calls
    assert len(denied) == 6 and all(event.details["why"] == "no on-behalf-of" for event in denied)
    assert all(event.outcome == Outcome.DENIED for event in denied)
    page = client.get("/mediated-access")
    assert page.status_code == 200 and "Say which practitioner you are acting for" in page.text


def test_searches_and_views_on_behalf_carry_both_names(client: FlaskClient) -> None:
    child = make_child()
    user = _signed_in_index_team(client)
    started = _start(client)
    assert started.status_code == 302 and started.location.endswith("/search")
    page = client.get("/search")
    assert "You are acting for <strong>Ms Dana Okafor</strong> of <strong>Wexley Family Practice</strong>" in page.text
    assert "End mediated access" in page.text
    assert child.index_id in _search(client).text
    record = client.get(f"/children/{child.index_id}")
    assert record.status_code == 200 and 'id="on-behalf-of"' in record.text
    api = client.post("/api/v1/children/search", json={"purpose": "case_work", "nhs_number": "9434765919"})
    assert api.status_code == 200
    events = _events(user=user)
    after_sign_in = [event for event in events if event.tag not in (AuditTag.LOGIN_PASSWORD, AuditTag.LOGIN_SUCCESS)]
    assert [event.tag for event in after_sign_in] == [
        AuditTag.MEDIATED_START,
        AuditTag.RECORD_SEARCH,
        AuditTag.RECORD_VIEW,
        AuditTag.RECORD_SEARCH,
    ]
    for event in after_sign_in:
        assert (event.on_behalf_of_name, event.on_behalf_of_organisation) == (
            "Ms Dana Okafor",
            "Wexley Family Practice",
        ), event.tag
        assert event.user_id == user.id and event.organisation_id == user.organisation_id
    assert after_sign_in[0].details == {"contact": "0161 496 0733 ext 12"}
    assert all(event.on_behalf_of_name is None for event in events if event.tag == AuditTag.LOGIN_SUCCESS)


def test_ending_mediated_access_is_recorded_with_the_names_and_stops_lookups(client: FlaskClient) -> None:
    user = _signed_in_index_team(client)
    _start(client)
    ended = client.post("/mediated-access/end", data={"csrf_token": home_csrf(client)})
    assert ended.status_code == 302 and ended.location.endswith("/mediated-access")
    end = _events(AuditTag.MEDIATED_END, user)
    assert len(end) == 1 and end[0].reason == "ended" and end[0].on_behalf_of_name == "Ms Dana Okafor"
    page = client.get("/mediated-access")
    assert 'id="on-behalf-of"' not in page.text and "You are no longer acting for Ms Dana Okafor" in page.text
    assert client.get("/search").status_code == 302
    later = _events(AuditTag.ACCESS_DENIED, user)
    assert later and later[-1].on_behalf_of_name is None


def test_starting_again_ends_the_first(client: FlaskClient) -> None:
    user = _signed_in_index_team(client)
    _start(client)
    _start(client, practitioner_name="Mr Ivo Brandt", practitioner_organisation="Northfold Police", contact="REF-2231")
    end = _events(AuditTag.MEDIATED_END, user)
    assert [(e.reason, e.on_behalf_of_name) for e in end] == [("replaced", "Ms Dana Okafor")]
    starts = _events(AuditTag.MEDIATED_START, user)
    assert [e.on_behalf_of_name for e in starts] == ["Ms Dana Okafor", "Mr Ivo Brandt"]
    assert "Mr Ivo Brandt" in client.get("/search").text


@pytest.mark.parametrize("role", [role for role in Role if role != Role.INDEX_TEAM])
def test_no_other_role_can_start_mediated_access(client: FlaskClient, role: Role) -> None:
    user = make_user(role)
    sign_in(client, user)
    assert client.get("/mediated-access").status_code == 403
    token = csrf_token(client.get("/", follow_redirects=True).text)
    assert client.post("/mediated-access", data={"csrf_token": token, **ACTING_FOR}).status_code == 403
    assert client.post("/mediated-access/end", data={"csrf_token": token}).status_code == 403
    assert _events(AuditTag.MEDIATED_START) == []
    assert all(event.on_behalf_of_name is None for event in _events(user=user))
    assert "Acting for" not in client.get("/", follow_redirects=True).text


@pytest.mark.parametrize(
    ("form", "message", "status"),
    [
        ({}, "Enter the name of the practitioner you are acting for", 400),
        ({**ACTING_FOR, "practitioner_organisation": "   "}, "Enter the practitioner&#39;s organisation", 400),
        ({**ACTING_FOR, "contact": ""}, "Enter a phone number or reference to call the practitioner back", 400),
        ({**ACTING_FOR, "practitioner_name": "x" * 201}, "The name must be 200 characters or fewer", 400),
    ],
)
def test_the_form_says_what_is_missing(client: FlaskClient, form: dict[str, str], message: str, status: int) -> None:
    user = _signed_in_index_team(client)
    response = client.post(
        "/mediated-access",
        data={"csrf_token": page_csrf(client, "/mediated-access"), **(form or {"practitioner_name": ""})},
    )
    assert response.status_code == status and message in response.text
    assert _events(AuditTag.MEDIATED_START, user) == []


def _age_on_behalf_of(user: User, by: timedelta) -> None:
    for row in db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ):
        data = dict(row.data)
        if "on_behalf_of" in data:
            data["on_behalf_of"] = {**data["on_behalf_of"], "started_at": (utcnow() - by).isoformat()}
            row.data = data
    db.session.commit()


def test_mediated_access_lapses_after_an_hour(client: FlaskClient) -> None:
    user = _signed_in_index_team(client)
    _start(client)
    _age_on_behalf_of(user, timedelta(minutes=59))
    assert client.get("/search").status_code == 200
    _age_on_behalf_of(user, timedelta(minutes=61))
    response = client.get("/search")
    assert response.status_code == 302 and response.location.endswith("/mediated-access")
    end = _events(AuditTag.MEDIATED_END, user)
    assert [(e.reason, e.on_behalf_of_name) for e in end] == [("lapsed", "Ms Dana Okafor")]
    assert "ended after an hour" in client.get("/mediated-access").text


def test_a_withdrawn_index_team_role_ends_mediated_access(client: FlaskClient) -> None:
    user = _signed_in_index_team(client, Role.PRACTITIONER)
    _start(client)
    db.session.execute(delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == Role.INDEX_TEAM))
    db.session.commit()
    assert _search(client).status_code == 200
    end = _events(AuditTag.MEDIATED_END, user)
    assert [(e.reason, e.on_behalf_of_name) for e in end] == [("role withdrawn", "Ms Dana Okafor")]
    assert _events(AuditTag.RECORD_SEARCH, user)[-1].on_behalf_of_name is None


def test_auditors_see_the_on_behalf_of_trail(client: FlaskClient, app: object) -> None:
    make_child()
    index_team = app.test_client()  # type: ignore[attr-defined]
    member = _signed_in_index_team(index_team)
    _start(index_team)
    _search(index_team)
    practitioner = app.test_client()  # type: ignore[attr-defined]
    sign_in(practitioner, make_user())
    assert practitioner.get("/audit/mediated-access").status_code == 403
    auditor = make_user(Role.AUDITOR)
    sign_in(client, auditor)
    page = client.get("/audit/mediated-access")
    assert page.status_code == 200
    assert page.text.count("Ms Dana Okafor") == 2 and "Wexley Family Practice" in page.text
    assert "record:search" in page.text and "mediated:start" in page.text and member.email in page.text
    assert "contact 0161 496 0733 ext 12" in page.text


def test_an_unreadable_on_behalf_of_is_dropped_not_trusted(client: FlaskClient) -> None:
    user = _signed_in_index_team(client)
    _start(client)
    for row in db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ):
        row.data = {**row.data, "on_behalf_of": {"name": "Ms Dana Okafor"}}
    db.session.commit()
    response = client.get("/search")
    assert response.status_code == 302 and response.location.endswith("/mediated-access")
    assert _events(AuditTag.ACCESS_DENIED, user)[-1].on_behalf_of_name is None
