"""Input no part of the service can take is a 4xx saying what is wrong, never a server error.

A lone surrogate, a NUL character, JSON nested thousands deep, numbers too large for any field and
ids too large for any column: in the API's JSON bodies, in query strings and forms, and in URLs.
"""

from __future__ import annotations

import flask_smorest
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.extensions import db
from index_service.request_input import ApiBlueprint
from tests.audit.support import verify_session
from tests.factories import make_child, make_user, page_csrf, sign_in

SEARCH = "/api/v1/children/search"
FOUND = '"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"'


def _search_events() -> int:
    return (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_SEARCH))
        or 0
    )


def _send_json(client: FlaskClient, body: str | bytes) -> dict[str, object]:
    response = client.post(SEARCH, data=body, content_type="application/json")
    assert response.status_code == 400, response.text
    assert set(response.json) == {"status", "message"} and response.json["status"] == 400
    return response.json


@pytest.fixture
def practitioner(client: FlaskClient) -> FlaskClient:
    make_child()
    sign_in(client, make_user())
    return client


def test_a_lone_surrogate_in_a_json_body_is_a_400_naming_where(practitioner: FlaskClient) -> None:
    body = _send_json(
        practitioner, '{"purpose": "case_work", "family_name": "\\ud800Khan", "date_of_birth": "2016-03-27"}'
    )
    assert body["message"] == (
        "The text at $.family_name contains a lone surrogate (U+D800), which is not a character."
    )
    assert "lone surrogate" in _send_json(practitioner, '{"purpose": "case_work", "\\udfff": 1}')["message"]
    assert _search_events() == 0, "a refused search is not a search"


def test_a_nul_in_a_json_body_is_a_400(practitioner: FlaskClient) -> None:
    body = _send_json(
        practitioner,
        '{"purpose": "other", "purpose_note": "a\\u0000b", "family_name": "Bennett", "date_of_birth": "2016-03-27"}',
    )
    assert body["message"] == (
        "The text at $.purpose_note contains a NUL character (U+0000), which text may not contain."
    )


@pytest.mark.parametrize("depth", [33, 1_000, 50_000])
def test_json_nested_deeper_than_the_limit_is_a_400(practitioner: FlaskClient, depth: int) -> None:
    body = _send_json(practitioner, '{"purpose": "case_work", "family_name": ' + "[" * depth + "]" * depth + "}")
    assert body["message"] == "The JSON body is nested more than 32 levels deep."


def test_json_nested_within_the_limit_reaches_the_schema(practitioner: FlaskClient) -> None:
    response = practitioner.post(
        SEARCH,
        data='{"purpose": "case_work", "family_name": ' + "[" * 31 + "]" * 31 + "}",
        content_type="application/json",
    )
    assert response.status_code == 422 and "family_name" in response.json["fields"]


@pytest.mark.parametrize(
    "number, message",
    [
        ("1e400", "The number at $.family_name is too large."),
        ("-1e400", "The number at $.family_name is too large."),
        ("9" * 5000, "A number in the body is too large."),
        (str(10**19), "A number in the body is too large."),
        ("NaN", "NaN is not a JSON number."),
        ("Infinity", "Infinity is not a JSON number."),
    ],
)
def test_numbers_too_large_for_any_field_are_a_400(practitioner: FlaskClient, number: str, message: str) -> None:
    assert _send_json(practitioner, '{"purpose": "case_work", "family_name": ' + number + "}")["message"] == message


def test_a_body_that_is_not_utf8_or_not_json_is_a_400(practitioner: FlaskClient) -> None:
    assert _send_json(practitioner, b'{"family_name": "\xff"}')["message"] == "The JSON body is not UTF-8."
    assert _send_json(practitioner, "{" + FOUND)["message"].startswith("The body is not valid JSON")


def test_a_good_body_still_searches(practitioner: FlaskClient) -> None:
    response = practitioner.post(SEARCH, data="{" + FOUND + "}", content_type="application/json")
    assert response.status_code == 200 and response.json["outcome"] == "results"
    assert _search_events() == 1


def test_every_api_blueprint_reads_json_through_the_strict_parser(app: Flask) -> None:
    api_blueprints = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(api_blueprints) >= 4
    assert all(isinstance(bp, ApiBlueprint) for bp in api_blueprints), [bp.name for bp in api_blueprints]


def test_a_stranger_gets_401_not_a_parse_of_their_body(client: FlaskClient) -> None:
    response = client.post(SEARCH, data="[" * 50_000, content_type="application/json")
    assert response.status_code == 401


def test_a_nul_in_a_query_string_or_form_is_the_pages_400(practitioner: FlaskClient) -> None:
    csrf = page_csrf(practitioner)
    for response in (
        practitioner.get("/search?family_name=Ben%00nett"),
        practitioner.post(
            "/search",
            data={
                "purpose": "case_work",
                "csrf_token": csrf,
                "family_name": "Ben\x00nett",
                "date_of_birth": "27/03/2016",
            },
        ),
        practitioner.get("/children/%00"),
    ):
        assert response.status_code == 400
        assert "contains a NUL character (U+0000)" in response.text and "<html" in response.text
    assert _search_events() == 0


def test_a_nul_in_an_api_query_string_is_the_apis_400(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.AUDITOR))
    response = client.get("/api/v1/audit/sign-in-failures?from=2026-01-01%00")
    assert response.status_code == 400
    assert response.json == {
        "status": 400,
        "message": "A value in the query string contains a NUL character (U+0000), which text may not contain.",
    }


def test_a_nul_in_a_user_search_is_refused_before_the_database(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.USER_ADMIN))
    assert client.get("/users?q=pri%00ya").status_code == 400
    assert client.get("/users?q=priya").status_code == 200


@pytest.mark.parametrize("number", [str(2**31), str(2**63), "9" * 30, "9" * 5000])
def test_an_id_too_large_for_the_database_is_not_found(client: FlaskClient, number: str) -> None:
    sign_in(client, make_user(Role.AUDITOR))
    for path in (f"/api/v1/audit/users/{number}", f"/api/v1/audit/organisations/{number}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert set(response.json) == {"status", "message"}


def test_the_largest_id_is_asked_of_the_database_and_not_found(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.AUDITOR))
    response = client.get(f"/api/v1/audit/users/{2**31 - 1}")
    assert response.status_code == 404 and response.json["message"] == "No user has that number."


def test_an_id_too_large_on_a_page_is_not_found(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.USER_ADMIN, Role.INDEX_TEAM))
    for path in (f"/users/{10**20}", f"/organisations/{10**20}", f"/users/{2**31}/edit"):
        response = client.get(path)
        assert response.status_code == 404 and "Page not found" in response.text, path


def test_the_openapi_document_gives_ids_their_bounds(client: FlaskClient) -> None:
    sign_in(client, make_user())
    spec = client.get("/api/v1/openapi.json").json
    [parameter] = spec["paths"]["/api/v1/audit/users/{user_id}"]["parameters"]
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"status", "message", "fields"}


@pytest.mark.parametrize("query", ["to=0001-01-01", "from=0001-01-01", "to=9999-12-31", "from=9999-12-31"])
def test_a_report_day_at_the_ends_of_the_calendar_is_a_422(client: FlaskClient, query: str) -> None:
    sign_in(client, make_user(Role.AUDITOR))
    for report in ("unusual", "sign-in-failures"):
        response = client.get(f"/api/v1/audit/{report}?{query}")
        assert response.status_code == 422, (report, response.text)
        assert list(response.json["fields"]) == [query.split("=")[0]]
    page = client.get(f"/audit/unusual?{query}")
    assert page.status_code == 400 and "Give a day from 1900-01-01 to 9999-12-30." in page.text


def test_a_page_number_too_large_for_the_database_is_refused(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.AUDITOR))
    response = client.get(f"/api/v1/audit/sign-in-failures?page={10**30}")
    assert response.status_code == 422 and list(response.json["fields"]) == ["page"]
    assert client.get(f"/audit/sign-in-failures?page={10**30}").status_code == 400


def test_an_audit_event_stores_what_it_cannot_hold_as_replacement_characters(app: Flask) -> None:
    with app.test_request_context(headers={"User-Agent": "agent\x00"}):
        record_event(
            AuditTag.RECORD_SEARCH,
            Outcome.SUCCESS,
            target_ids=["A\ud800"],
            reason="why\x00",
            details={"criteria": {"family_name": "\ud800Khan", "note": "a\x00b"}, "key\udfff": ["\ud800"]},
        )
        db.session.commit()
    event = db.session.scalars(select(AuditEvent)).one()
    assert event.details == {"criteria": {"family_name": "\ufffdKhan", "note": "a\ufffdb"}, "key\ufffd": ["\ufffd"]}
    assert (event.target_ids, event.reason, event.user_agent) == (["A\ufffd"], "why\ufffd", "agent\ufffd")
    result = verify_session()
    assert result.intact, result.broken
