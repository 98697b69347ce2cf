"""The practitioner's search, through the page and the API."""

from __future__ import annotations

from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import select

from index_service.audit.models import AuditEvent, AuditTag
from index_service.extensions import db
from tests.factories import make_child, make_user, page_csrf, sign_in


def _search(client: FlaskClient, **criteria: str) -> object:
    form = {"purpose": "safeguarding_concern", "csrf_token": page_csrf(client), **criteria}
    return client.post("/search", data=form)


def test_search_page_finds_child_and_records_the_search(client: FlaskClient) -> None:
    child = make_child()
    user = make_user()
    sign_in(client, user)
    response = _search(client, family_name="benmett", date_of_birth="27/03/2016")
    assert response.status_code == 200
    assert f"/children/{child.index_id}" in response.text
    assert "family name (similar spelling)" in response.text
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_SEARCH)).one()
    assert event.user_id == user.id and event.organisation_id == user.organisation_id
    assert event.reason == "safeguarding_concern"
    assert event.target_ids == [child.index_id]
    assert event.details["criteria"] == {"family_name": "benmett", "date_of_birth": "2016-03-27"}


def test_search_with_too_little_says_what_to_add(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = _search(client, family_name="Bennett")
    assert response.status_code == 200
    assert "Add more details" in response.text
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_SEARCH)).all() == []


def test_search_needs_a_reason(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = client.post(
        "/search", data={"csrf_token": page_csrf(client), "family_name": "Bennett", "date_of_birth": "27/03/2016"}
    )
    assert "Select why you are searching" in response.text


def test_other_reason_needs_details(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = _search(client, purpose="other", family_name="Bennett", date_of_birth="27/03/2016")
    assert "Give details of why you are searching" in response.text


def test_bad_values_get_field_messages(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = _search(
        client, family_name="Bennett", date_of_birth="31/02/2016", postcode="NOT A CODE", nhs_number="1234567890"
    )
    assert "Enter the date of birth as day/month/year" in response.text
    assert "Enter a full UK postcode" in response.text
    assert "Enter a valid NHS number" in response.text


def test_search_without_csrf_token_is_refused(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = client.post(
        "/search", data={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "27/03/2016"}
    )
    assert "Your session expired or the form was not sent correctly" in response.text
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_SEARCH)).all() == []


def test_more_than_ten_matches_gives_no_list(client: FlaskClient) -> None:
    for number in range(11):
        make_child(given_name=f"Child{chr(65 + number)}", nhs_number=None)
    sign_in(client, make_user())
    response = _search(client, family_name="Bennett", date_of_birth="27/03/2016")
    assert "Too many matches" in response.text
    assert "/children/" not in response.text
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_SEARCH)).one()
    assert event.target_ids == [] and event.details["too_many"] is True


def test_ten_matches_are_listed(client: FlaskClient) -> None:
    for number in range(10):
        make_child(given_name=f"Child{chr(65 + number)}", nhs_number=None)
    sign_in(client, make_user())
    response = _search(client, family_name="Bennett", date_of_birth="27/03/2016")
    assert response.text.count('href="/children/') == 10


def test_search_by_identifiers(client: FlaskClient) -> None:
    child = make_child(upn="H801200001001")
    newer_authority = make_child(upn="U940200001001", nhs_number=None, given_name="Amara")
    sign_in(client, make_user())
    for field, value in (
        ("nhs_number", "943 476 5919"),
        ("index_id", child.index_id.lower()),
        ("upn", "H801200001001"),
    ):
        response = _search(client, **{field: value})
        assert f"/children/{child.index_id}" in response.text, field
    response = _search(client, upn="U940200001001")
    assert f"/children/{newer_authority.index_id}" in response.text, "an LA code python-stdnum does not know"
    assert "Enter a valid Unique Pupil Number" in _search(client, upn="V940200001001").text


def test_api_search_returns_ranked_results_with_matched_fields(client: FlaskClient) -> None:
    child = make_child()
    sign_in(client, make_user())
    response = client.post(
        "/api/v1/children/search",
        json={
            "purpose": "new_referral",
            "family_name": " Bennett ",
            "given_name": "Olly",
            "date_of_birth": "2016-03-27",
        },
    )
    assert response.status_code == 200
    body = response.json
    assert body["outcome"] == "results"
    assert body["results"][0]["index_id"] == child.index_id
    assert "given name (nickname or spelling variant)" in body["results"][0]["matched"]
    assert body["results"][0]["postcode"] == "LS6 2AB"


def test_api_search_with_too_little_is_a_400_with_a_message(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = client.post("/api/v1/children/search", json={"purpose": "case_work", "given_name": "Oliver"})
    assert response.status_code == 400
    assert response.json["message"].startswith("Add more details")


def test_api_validation_errors_name_the_fields(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = client.post("/api/v1/children/search", json={"family_name": "Bennett", "date_of_birth": "2099-01-01"})
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"purpose", "date_of_birth"}
    assert response.json["message"]


def test_api_refuses_non_json(client: FlaskClient) -> None:
    sign_in(client, make_user())
    response = client.post("/api/v1/children/search", data={"purpose": "case_work"})
    assert response.status_code == 415


def test_api_too_many(client: FlaskClient) -> None:
    for number in range(11):
        make_child(given_name=f"Child{chr(65 + number)}", nhs_number=None)
    sign_in(client, make_user())
    response = client.post(
        "/api/v1/children/search",
        json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
    )
    assert response.json == {"outcome": "too_many", "message": response.json["message"], "results": []}
    assert "Too many matches" in response.json["message"]


def test_search_fails_whole_when_the_audit_event_cannot_be_written(client: FlaskClient) -> None:
    make_child()
    sign_in(client, make_user())
    csrf = page_csrf(client)
    db.session.execute(__import__("sqlalchemy").text("ALTER TABLE audit_events RENAME TO audit_events_gone"))
    response = client.post(
        "/search",
        data={"purpose": "case_work", "csrf_token": csrf, "family_name": "Bennett", "date_of_birth": "27/03/2016"},
    )
    assert response.status_code == 503  # written by the commit, which fails
    assert "Bennett" not in response.text and "/children/" not in response.text


def test_child_born_today_is_not_in_the_future(client: FlaskClient) -> None:
    make_child(date_of_birth=date.today(), nhs_number=None)
    sign_in(client, make_user())
    response = _search(client, family_name="Bennett", date_of_birth=date.today().strftime("%d/%m/%Y"))
    assert 'href="/children/' in response.text
