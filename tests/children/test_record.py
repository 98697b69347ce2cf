"""Viewing a child's record: the page, the API, mistyped and unknown ids, and the audit."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.children.models import NameKind
from index_service.children.operations import NOT_FOUND
from index_service.extensions import db
from index_service.index_ids import new_index_id
from tests.factories import make_child, make_user, page_csrf, sign_in


def _views() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_VIEW)))


def test_record_page_shows_details_and_who_is_working_with_the_child(client: FlaskClient) -> None:
    child = make_child(other_names=((NameKind.FORMER, None, "Walsh"),))
    sign_in(client, make_user())
    response = client.get(f"/children/{child.index_id}")
    assert response.status_code == 200
    for text in (
        "Oliver",
        "Bennett",
        "27 March 2016",
        "12 Meadow Lane",
        "LS6 2AB",
        "Sarah Bennett",
        "07700 900123",
        "Educational setting",
        "Ms Patel",
        "0113 496 0101",
        "Walsh",
    ):
        assert text in response.text, text
    assert "9434765919" in response.text


def test_view_is_audited_with_the_search_reason(client: FlaskClient) -> None:
    child = make_child()
    user = make_user()
    sign_in(client, user)
    client.post(
        "/search",
        data={
            "purpose": "new_referral",
            "csrf_token": page_csrf(client),
            "family_name": "Bennett",
            "date_of_birth": "27/03/2016",
        },
    )
    client.get(f"/children/{child.index_id}")
    [event] = _views()
    assert (event.user_id, event.target_ids, event.reason, event.outcome) == (
        user.id,
        [child.index_id],
        "new_referral",
        Outcome.SUCCESS,
    )


def test_index_id_in_any_case_with_hyphens_finds_the_record(client: FlaskClient) -> None:
    child = make_child()
    sign_in(client, make_user())
    typed = f"{child.index_id[:3]}-{child.index_id[3:6]}-{child.index_id[6:]}".lower()
    assert client.get(f"/children/{typed}").status_code == 200


def test_mistyped_index_id_gets_a_clear_message(client: FlaskClient) -> None:
    child = make_child()
    sign_in(client, make_user())
    last = child.index_id[-1]
    mistyped = child.index_id[:-1] + ("0" if last != "0" else "1")
    response = client.get(f"/children/{mistyped}")
    assert response.status_code == 400
    assert "That index ID is not valid" in response.text
    api = client.get(f"/api/v1/children/{mistyped}")
    assert api.status_code == 400 and "That index ID is not valid" in api.json["message"]


def test_unknown_index_id_is_a_404_with_a_message(client: FlaskClient) -> None:
    sign_in(client, make_user())
    unknown = new_index_id()
    response = client.get(f"/children/{unknown}")
    assert response.status_code == 404 and "No child has that index ID" in response.text
    api = client.get(f"/api/v1/children/{unknown}")
    assert api.status_code == 404 and api.json == {"status": 404, "message": NOT_FOUND}
    assert [e.outcome for e in _views()] == [Outcome.FAILURE, Outcome.FAILURE]


def test_api_record_has_involvements_and_provenance(client: FlaskClient) -> None:
    child = make_child()
    sign_in(client, make_user())
    body = client.get(f"/api/v1/children/{child.index_id}").json
    assert body["index_id"] == child.index_id and body["date_of_birth"] == "2016-03-27"
    assert body["involvements"][0]["practitioner_name"] == "Ms Patel"
    assert body["involvements"][0]["service"] == "education"
    assert {item["field"] for item in body["provenance"]} >= {"given_name", "family_name", "date_of_birth"}
    assert body["shielded"] is False and body["address"]["postcode"] == "LS6 2AB"


def test_shielded_record_is_redacted_for_a_practitioner(client: FlaskClient) -> None:
    child = make_child(is_shielded=True)
    sign_in(client, make_user(Role.PRACTITIONER))
    page = client.get(f"/children/{child.index_id}")
    api = client.get(f"/api/v1/children/{child.index_id}").json
    for body in (page.text, str(api)):
        for hidden in ("Meadow Lane", "LS6", "Sarah Bennett", "07700 900123", "Ms Patel", "9434765919"):
            assert hidden not in body, hidden
    assert "Contact the Child Index team" in page.text
    assert api["shielded"] is True and "Oliver" in page.text


def test_shielded_record_is_shown_to_a_shielder(client: FlaskClient) -> None:
    child = make_child(is_shielded=True)
    sign_in(client, make_user(Role.SHIELDER))
    assert "Meadow Lane" in client.get(f"/children/{child.index_id}").text


def test_postcode_search_never_returns_a_shielded_child(client: FlaskClient) -> None:
    make_child(is_shielded=True)
    sign_in(client, make_user(Role.SHIELDER))
    by_postcode = client.post(
        "/api/v1/children/search",
        json={"purpose": "case_work", "family_name": "Bennett", "given_name": "Oliver", "postcode": "LS6 2AB"},
    )
    assert by_postcode.json["results"] == []
    by_birth = client.post(
        "/api/v1/children/search",
        json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
    )
    assert len(by_birth.json["results"]) == 1


def test_shielded_search_result_shows_no_whereabouts(client: FlaskClient) -> None:
    make_child(is_shielded=True)
    sign_in(client, make_user(Role.PRACTITIONER))
    body = client.post(
        "/api/v1/children/search",
        json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
    ).json
    [result] = body["results"]
    assert result["shielded"] is True and "postcode" not in result and "town" not in result


def test_openapi_document_describes_the_search(client: FlaskClient) -> None:
    sign_in(client, make_user())
    spec = client.get("/api/v1/openapi.json").json
    assert "/api/v1/children/search" in spec["paths"]
    assert "/api/v1/children/{index_id}" in spec["paths"]
    assert "SearchArgs" in str(spec["components"]["schemas"]) or "Search" in str(spec["components"])
