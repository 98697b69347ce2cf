"""Shielding and unshielding through the real app: who may, what they must give, the household, history."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.children.models import Child
from index_service.children.records import AddressSpec
from index_service.children.shielding_decisions import ShieldingDecision
from index_service.extensions import db
from index_service.record_shielding.operations import shield
from shielding.policy import ShieldAction, ShieldReason
from tests.factories import (
    current_code,
    home_csrf,
    make_child,
    make_user,
    page_csrf,
    sign_in,
    wait_for_fresh_time_step,
    without_tokens,
)

REVIEW_DATE = date.today() + timedelta(days=90)  # the form sends it; the decision keeps it
REVIEW = REVIEW_DATE.strftime("%d/%m/%Y")


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _decisions(child: Child) -> list[ShieldingDecision]:
    return list(
        db.session.scalars(
            select(ShieldingDecision).where(ShieldingDecision.child_id == child.id).order_by(ShieldingDecision.id)
        )
    )


def _signed_in_shielder(client: FlaskClient) -> User:
    """A shielder signed in with the previous step's code, so the current and next codes are still fresh."""
    shielder = make_user(Role.SHIELDER)
    wait_for_fresh_time_step()
    sign_in(client, shielder, offset_steps=-1)
    return shielder


def _shield(client: FlaskClient, child: Child, code: str, **changes: object) -> TestResponse:
    path = f"/children/{child.index_id}/shield"
    data: dict[str, object] = {
        "reason": "domestic_abuse",
        "note": "Mother and child in a refuge since May.",
        "review_date": REVIEW,
        "code": code,
        "csrf_token": page_csrf(client, path),
    }
    data.update(changes)
    return client.post(path, data={key: value for key, value in data.items() if value is not None})


def _unshield(
    client: FlaskClient, child: Child, code: str, note: str = "Family rehoused; risk has passed."
) -> TestResponse:
    path = f"/children/{child.index_id}/unshield"
    return client.post(path, data={"note": note, "code": code, "csrf_token": page_csrf(client, path)})


def test_a_shielder_shields_a_record_with_a_reason_a_note_and_a_review_date(client: FlaskClient) -> None:
    child = make_child()
    shielder = _signed_in_shielder(client)
    form = client.get(f"/children/{child.index_id}/shield")
    assert form.status_code == 200
    assert "Witness protection" in form.text and "Risk of forced marriage" in form.text and "Court order" in form.text

    response = _shield(client, child, current_code(shielder))
    assert response.status_code == 302 and response.location.endswith(f"/children/{child.index_id}")
    db.session.expire_all()
    assert child.is_shielded
    [decision] = _decisions(child)
    assert (decision.action, decision.reason, decision.decided_by_id) == (
        ShieldAction.SHIELD,
        ShieldReason.DOMESTIC_ABUSE,
        shielder.id,
    )
    assert decision.review_date == REVIEW_DATE
    [event] = _events(AuditTag.SHIELD_ADD)
    assert (event.user_id, event.target_ids, event.reason) == (shielder.id, [child.index_id], "domestic_abuse")
    assert event.details["decision"] == decision.id and "note" not in event.details

    record = client.get(f"/children/{child.index_id}")
    assert "Mother and child in a refuge" in record.text and "Domestic abuse" in record.text
    assert "Meadow Lane" in record.text and "Remove shielding" in record.text


def test_the_note_and_reason_are_for_shielders_and_auditors_only(client: FlaskClient) -> None:
    child = make_child()
    shielder = _signed_in_shielder(client)
    assert _shield(client, child, current_code(shielder)).status_code == 302
    for role in (Role.AUDITOR, Role.PRACTITIONER, Role.INDEX_TEAM, Role.DATA_ADMIN, Role.OVERRIDE):
        other = client.application.test_client()
        sign_in(other, make_user(role))
        page = other.get(f"/children/{child.index_id}").text
        api = other.get(f"/api/v1/children/{child.index_id}").text
        assert "refuge" not in api and "domestic" not in api.lower()
        if role is Role.AUDITOR:
            assert "Mother and child in a refuge" in page and "Remove shielding" not in page
        else:
            assert "refuge" not in page and "Domestic abuse" not in page and "Meadow Lane" not in page, role


@pytest.mark.parametrize("role", [role for role in Role if role is not Role.SHIELDER])
def test_every_other_role_is_refused_shielding_and_unshielding(client: FlaskClient, role: Role) -> None:
    child = make_child(is_shielded=True)
    user = make_user(role)
    wait_for_fresh_time_step()
    sign_in(client, user, offset_steps=-1)
    token = home_csrf(client)
    for action in ("shield", "unshield"):
        path = f"/children/{child.index_id}/{action}"
        assert client.get(path).status_code == 403, (role, action)
        posted = client.post(
            path,
            data={
                "csrf_token": token,
                "reason": "other",
                "note": "A note long enough.",
                "review_date": REVIEW,
                "code": current_code(user),
            },
        )
        assert posted.status_code == 403, (role, action)
    db.session.expire_all()
    assert child.is_shielded and _decisions(child) == []
    # Only the shielding requests count: an index-team user is also refused the search page on the way to a form.
    refusals = [
        e for e in _events(AuditTag.ACCESS_DENIED) if e.details["endpoint"] in ("shields.shield", "shields.unshield")
    ]
    assert len(refusals) == 4


def test_the_children_at_the_same_address_are_offered_and_shielded_in_the_same_step(client: FlaskClient) -> None:
    child = make_child()
    sister = make_child(
        given_name="Isla",
        date_of_birth=date(2018, 6, 1),
        nhs_number=None,
        address=AddressSpec("12, meadow lane", "Leeds", "ls62ab"),
    )
    neighbour = make_child(
        given_name="Noah",
        family_name="Carter",
        nhs_number=None,
        address=AddressSpec("14 Meadow Lane", "Leeds", "LS6 2AB"),
    )
    already = make_child(given_name="Ava", date_of_birth=date(2014, 1, 9), nhs_number=None, is_shielded=True)
    shielder = _signed_in_shielder(client)

    form = client.get(f"/children/{child.index_id}/shield").text
    assert "Shield the other children at this address too" in form
    assert f'value="{sister.index_id}" checked' in form
    assert neighbour.index_id not in form and already.index_id not in form

    response = _shield(client, child, current_code(shielder), household=[sister.index_id])
    assert response.status_code == 302
    db.session.expire_all()
    assert child.is_shielded and sister.is_shielded and not neighbour.is_shielded
    [decision] = _decisions(sister)
    assert decision.household_of_id == child.id and decision.reason is ShieldReason.DOMESTIC_ABUSE
    assert sorted(e.target_ids[0] for e in _events(AuditTag.SHIELD_ADD)) == sorted([child.index_id, sister.index_id])
    assert "unshielded-household" not in client.get(f"/children/{child.index_id}").text


def test_a_shielder_is_warned_of_a_household_left_unshielded(client: FlaskClient) -> None:
    child = make_child()
    sister = make_child(given_name="Isla", date_of_birth=date(2018, 6, 1), nhs_number=None)
    shielder = _signed_in_shielder(client)
    assert _shield(client, child, current_code(shielder), household=None).status_code == 302
    db.session.expire_all()
    assert child.is_shielded and not sister.is_shielded
    record = client.get(f"/children/{child.index_id}").text
    assert 'id="unshielded-household"' in record and "Isla Bennett" in record
    assert f'value="{sister.index_id}" checked' in client.get(f"/children/{child.index_id}/shield").text


def test_a_household_child_not_offered_cannot_be_slipped_in(client: FlaskClient) -> None:
    child = make_child()
    elsewhere = make_child(
        given_name="Noah", family_name="Carter", nhs_number=None, address=AddressSpec("3 Other Road", "York", "YO1 7HH")
    )
    shielder = _signed_in_shielder(client)
    response = _shield(client, child, current_code(shielder), household=[elsewhere.index_id])
    assert response.status_code == 400 and "not a valid choice" in response.text
    db.session.expire_all()
    assert not child.is_shielded and not elsewhere.is_shielded


def test_unshielding_needs_a_note_and_a_fresh_code_and_the_history_is_kept(client: FlaskClient) -> None:
    child = make_child()
    shielder = _signed_in_shielder(client)
    assert _shield(client, child, current_code(shielder)).status_code == 302
    assert _unshield(client, child, current_code(shielder, 1), note="  ").status_code == 400
    assert _unshield(client, child, current_code(shielder, 1)).status_code == 302
    db.session.expire_all()
    assert not child.is_shielded
    assert [d.action for d in _decisions(child)] == [ShieldAction.SHIELD, ShieldAction.UNSHIELD]
    [removed] = _events(AuditTag.SHIELD_REMOVE)
    assert removed.target_ids == [child.index_id] and removed.user_id == shielder.id
    history = client.get(f"/children/{child.index_id}").text
    assert "Shielding history (2 decisions)" in history and "Family rehoused" in history
    practitioner = client.application.test_client()
    sign_in(practitioner, make_user())
    page = practitioner.get(f"/children/{child.index_id}").text
    assert "Meadow Lane" in page and "Family rehoused" not in page and "refuge" not in page


def test_replayed_and_stale_codes_are_refused(client: FlaskClient) -> None:
    child = make_child()
    shielder = make_user(Role.SHIELDER)
    wait_for_fresh_time_step()
    sign_in(client, shielder)
    used_to_sign_in = current_code(shielder)
    for code in (used_to_sign_in, current_code(shielder, -2), current_code(shielder, 3)):
        response = _shield(client, child, code)
        assert response.status_code == 401, code
        assert "Enter a correct security code" in response.text
    db.session.expire_all()
    assert not child.is_shielded and _decisions(child) == []
    failures = _events(AuditTag.REAUTH_FAILURE)
    assert [(e.outcome, e.details["purpose"]) for e in failures] == [(Outcome.FAILURE, "shield")] * 3

    fresh = current_code(shielder, 1)
    assert _shield(client, child, fresh).status_code == 302
    assert _unshield(client, child, fresh).status_code == 401, "a code works once, across actions"
    db.session.expire_all()
    assert child.is_shielded


def test_repeated_wrong_codes_lock_the_account(client: FlaskClient) -> None:
    child = make_child()
    shielder = _signed_in_shielder(client)
    wrong = f"{(int(current_code(shielder)) + 1) % 1_000_000:06d}"
    statuses = [_shield(client, child, wrong).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert _shield(client, child, current_code(shielder)).status_code == 429
    assert _events(AuditTag.REAUTH_FAILURE)[-1].outcome is Outcome.DENIED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": None}, "Select why the child must be shielded"),
        ({"note": "   "}, "Write a note for shielders and auditors"),
        ({"review_date": date.today().strftime("%d/%m/%Y")}, "The review date must be in the future"),
        ({"review_date": (date.today() + timedelta(days=800)).strftime("%d/%m/%Y")}, "within a year"),
        ({"review_date": "next spring"}, "Enter the review date as day/month/year"),
        ({"code": "12345"}, "The security code must be 6 digits"),
        ({"note": "x" * 2001}, "Field cannot be longer than 2000 characters"),
    ],
)
def test_a_shielding_form_with_a_mistake_is_refused_with_a_message(
    client: FlaskClient, changes: dict[str, object], message: str
) -> None:
    child = make_child()
    shielder = _signed_in_shielder(client)
    response = _shield(client, child, **{"code": current_code(shielder), **changes})  # type: ignore[arg-type]
    assert response.status_code == 400 and message in response.text
    assert "There is a problem" in response.text
    db.session.expire_all()
    assert not child.is_shielded


def test_a_mistyped_unknown_or_unshielded_record_gets_a_clear_answer(client: FlaskClient) -> None:
    child = make_child()
    _signed_in_shielder(client)
    mistyped = child.index_id[:-1] + ("0" if child.index_id[-1] != "0" else "1")
    response = client.get(f"/children/{mistyped}/shield")
    assert response.status_code == 400 and "That index ID is not valid" in response.text
    assert client.get("/children/0000000000/shield").status_code == 400
    unshielded = client.get(f"/children/{child.index_id}/unshield")
    assert unshielded.status_code == 409 and "This record is not shielded" in unshielded.text


def test_searches_by_name_find_a_shielded_child_and_postcode_searches_never_do(client: FlaskClient) -> None:
    child = make_child()
    shielder = _signed_in_shielder(client)
    assert _shield(client, child, current_code(shielder)).status_code == 302
    practitioner = client.application.test_client()
    sign_in(practitioner, make_user())
    token = page_csrf(practitioner)
    by_name = {"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "27/03/2016"}
    page = without_tokens(practitioner.post("/search", data={**by_name, "csrf_token": token}).text)
    assert child.index_id in page and "Shielded" in page and "LS6" not in page
    [result] = practitioner.post("/api/v1/children/search", json=by_name).json["results"]
    assert result["shielded"] is True and result["index_id"] == child.index_id
    for with_postcode in (
        {"family_name": "Bennett", "given_name": "Oliver", "postcode": "LS6 2AB"},
        {"nhs_number": "9434765919", "postcode": "LS6 2AB", "family_name": "Bennett"},
        {"index_id": child.index_id, "postcode": "LS6 2AB", "family_name": "Bennett"},
    ):
        for searcher in (practitioner, client):
            body = searcher.post("/api/v1/children/search", json={"purpose": "case_work", **with_postcode}).json
            assert body["results"] == [], with_postcode
            page = searcher.post(
                "/search",
                data={
                    "purpose": "case_work",
                    "csrf_token": token if searcher is practitioner else page_csrf(client),
                    **with_postcode,
                },
            ).text
            assert f'href="/children/{child.index_id}"' not in page, with_postcode


def test_a_shielder_sees_the_records_due_for_review_most_urgent_first(client: FlaskClient) -> None:
    shielder = make_user(Role.SHIELDER)
    make_child(given_name="Ava", family_name="Lowe", nhs_number=None, is_shielded=True)
    flagged = make_child(given_name="Ruby", family_name="Thompson", nhs_number=None)
    shield(flagged, ShieldReason.OTHER, "Flagged by a source", date.today(), shielder)
    later = make_child(given_name="Leo", family_name="Hart", nhs_number=None)
    shield(later, ShieldReason.ADOPTION, "Placed for adoption", date.today() + timedelta(days=20), shielder)
    distant = make_child(given_name="Zara", family_name="Ahmed", nhs_number=None)
    shield(distant, ShieldReason.COURT_ORDER, "Order until 2028", date.today() + timedelta(days=200), shielder)
    db.session.commit()
    sign_in(client, shielder)
    page = client.get("/shielding").text
    assert page.index("Ava Lowe") < page.index("Ruby Thompson") < page.index("Leo Hart")
    assert "Zara Ahmed" not in page and "3 records due" in page


@pytest.mark.parametrize("role", [role for role in Role if role is not Role.SHIELDER])
def test_only_shielders_see_the_shielding_reviews(client: FlaskClient, role: Role) -> None:
    make_child(is_shielded=True)
    sign_in(client, make_user(role))
    assert client.get("/shielding").status_code == 403
