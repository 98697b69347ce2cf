"""Emergency overrides through the real app: who may, what they must give, one view, expiry, review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.test import TestResponse

from accreditation.permissions import Role
from index_service.audit import chain
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User, UserRole
from index_service.children.models import Child
from index_service.database import utcnow
from index_service.extensions import db
from index_service.overrides.models import EmergencyOverride
from shielding.policy import OVERRIDE_VALID_FOR, OverrideOutcome
from tests.factories import (
    current_code,
    home_csrf,
    make_child,
    make_user,
    page_csrf,
    sign_in,
    wait_for_fresh_time_step,
)

JUSTIFICATION = "Police report the child missing from the refuge tonight; we must find the school."
HIDDEN = ("Meadow Lane", "LS6 2AB", "Sarah Bennett", "07700 900123", "Ms Patel", "0113 496 0101", "9434765919")


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _overrides() -> list[EmergencyOverride]:
    return list(db.session.scalars(select(EmergencyOverride).order_by(EmergencyOverride.id)))


def _signed_in(client: FlaskClient, *roles: Role) -> User:
    """Signed in with the previous step's code, so that the current and next codes are still fresh."""
    user = make_user(*roles)
    wait_for_fresh_time_step()
    sign_in(client, user, offset_steps=-1)
    return user


def _break_glass(client: FlaskClient, child: Child, code: str, **changes: object) -> TestResponse:
    path = f"/children/{child.index_id}/override"
    data: dict[str, object] = {
        "reason": "missing_child",
        "justification": JUSTIFICATION,
        "code": code,
        "csrf_token": page_csrf(client, path),
    }
    data.update(changes)
    return client.post(path, data={key: value for key, value in data.items() if value is not None})


def _granted(client: FlaskClient, child: Child, user: User, offset: int = 0) -> str:
    """Break the glass; returns the override's page (not yet opened)."""
    response = _break_glass(client, child, current_code(user, offset))
    assert response.status_code == 302, response.text
    assert "/overrides/OVR-" in response.location
    return response.location


@pytest.fixture
def shielded(app: Flask) -> Child:
    return make_child(is_shielded=True)


@pytest.mark.parametrize("role", [role for role in Role if role is not Role.OVERRIDE])
def test_only_holders_of_override_may_break_the_glass(client: FlaskClient, shielded: Child, role: Role) -> None:
    user = _signed_in(client, role)
    token = home_csrf(client)
    path = f"/children/{shielded.index_id}/override"
    assert client.get(path).status_code == 403
    posted = client.post(
        path,
        data={
            "csrf_token": token,
            "reason": "missing_child",
            "justification": JUSTIFICATION,
            "code": current_code(user),
        },
    )
    assert posted.status_code == 403
    assert client.get("/overrides/OVR-AAAA-AAAA").status_code == 403
    if role in (Role.PRACTITIONER, Role.INDEX_TEAM, Role.DATA_ADMIN):
        assert "Ask for emergency access" not in client.get(f"/children/{shielded.index_id}").text
    assert _overrides() == []


def test_an_override_shows_the_whole_record_once(client: FlaskClient, shielded: Child) -> None:
    user = _signed_in(client, Role.PRACTITIONER, Role.OVERRIDE)
    record = client.get(f"/children/{shielded.index_id}").text
    assert "Ask for emergency access" in record and "Meadow Lane" not in record
    form = client.get(f"/children/{shielded.index_id}/override")
    assert form.status_code == 200 and "This access will be investigated" in form.text
    assert "within 15 minutes" in form.text
    assert not any(hidden in form.text for hidden in HIDDEN)

    location = _granted(client, shielded, user)
    [override] = _overrides()
    assert override.expires_at - override.created_at == OVERRIDE_VALID_FOR
    [granted] = _events(AuditTag.SHIELD_OVERRIDE)
    assert (granted.user_id, granted.target_ids, granted.reason) == (user.id, [shielded.index_id], "missing_child")
    assert granted.details == {
        "reference": override.reference,
        "justification": JUSTIFICATION,
        "expires_at": override.expires_at.isoformat(),
    }

    shown = client.get(location)
    assert shown.status_code == 200
    assert all(hidden in shown.text for hidden in HIDDEN)
    assert f"Emergency access {override.reference}" in shown.text and "once" in shown.text
    [viewed] = _events(AuditTag.OVERRIDE_VIEW)
    assert (viewed.outcome, viewed.target_ids, viewed.details) == (
        Outcome.SUCCESS,
        [shielded.index_id],
        {"reference": override.reference},
    )

    again = client.get(location)
    assert again.status_code == 410 and "This emergency access has ended" in again.text
    assert "showed the record once" in again.text
    assert not any(hidden in again.text for hidden in HIDDEN)
    assert _events(AuditTag.OVERRIDE_VIEW)[-1].details == {"reference": override.reference, "why": "used"}
    assert "Meadow Lane" not in client.get(f"/children/{shielded.index_id}").text


def test_an_override_shows_nothing_of_the_shielding_decision(client: FlaskClient, shielded: Child) -> None:
    shielder = _signed_in(client, Role.SHIELDER)
    path = f"/children/{shielded.index_id}/shield"
    response = client.post(
        path,
        data={
            "reason": "witness_protection",
            "note": "NOTE-kestrel-placement",
            "review_date": (utcnow() + timedelta(days=30)).strftime("%d/%m/%Y"),
            "code": current_code(shielder),
            "csrf_token": page_csrf(client, path),
        },
    )
    assert response.status_code == 302
    practitioner = client.application.test_client()
    user = _signed_in(practitioner, Role.OVERRIDE)
    shown = practitioner.get(_granted(practitioner, shielded, user)).text
    assert "Meadow Lane" in shown
    assert "NOTE-kestrel" not in shown and "Witness protection" not in shown


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": None}, "Select why you need emergency access"),
        ({"justification": None}, "Explain why you need to see this record now"),
        ({"justification": "   "}, "Explain why you need to see this record now"),
        ({"justification": "Urgent, see notes"}, "Explain in at least 20 characters"),
        ({"justification": "Urgent     please  "}, "Explain in at least 20 characters"),
        ({"code": None}, "Enter the 6-digit security code"),
    ],
)
def test_an_override_without_a_reason_and_justification_is_refused(
    client: FlaskClient, shielded: Child, changes: dict[str, Any], message: str
) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    response = _break_glass(client, shielded, **{"code": current_code(user), **changes})
    assert response.status_code == 400 and message in response.text
    assert not any(hidden in response.text for hidden in HIDDEN)
    assert _overrides() == [] and _events(AuditTag.SHIELD_OVERRIDE) == []


def test_replayed_and_stale_codes_are_refused(client: FlaskClient, shielded: Child) -> None:
    user = make_user(Role.OVERRIDE)
    wait_for_fresh_time_step()
    sign_in(client, user)
    for code in (current_code(user), current_code(user, -2)):
        response = _break_glass(client, shielded, code)
        assert response.status_code == 401 and "Enter a correct security code" in response.text
    assert _overrides() == []
    assert [e.details for e in _events(AuditTag.REAUTH_FAILURE)] == [
        {"purpose": "override", "why": "wrong or reused code"}
    ] * 2
    _granted(client, shielded, user, offset=1)
    assert _break_glass(client, shielded, current_code(user, 1)).status_code == 401
    assert len(_overrides()) == 1


def test_an_override_expires_after_fifteen_minutes(client: FlaskClient, shielded: Child) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    location = _granted(client, shielded, user)
    # The clock moves on as the repository's tests move it: the stored times go back.
    db.session.execute(
        update(EmergencyOverride).values(
            created_at=utcnow() - timedelta(minutes=16), expires_at=utcnow() - timedelta(minutes=1)
        )
    )
    db.session.commit()
    response = client.get(location)
    assert response.status_code == 410 and "expired 15 minutes after you asked" in response.text
    assert not any(hidden in response.text for hidden in HIDDEN)
    assert _events(AuditTag.OVERRIDE_VIEW)[-1].details["why"] == "expired"
    assert _overrides()[0].viewed_at is None


def test_an_override_lasts_until_just_before_it_expires(client: FlaskClient, shielded: Child) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    location = _granted(client, shielded, user)
    db.session.execute(
        update(EmergencyOverride).values(
            created_at=utcnow() - timedelta(minutes=14, seconds=50), expires_at=utcnow() + timedelta(seconds=10)
        )
    )
    db.session.commit()
    assert client.get(location).status_code == 200


@pytest.fixture
def failing_audit(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[set[AuditTag]]:
    """Audit events of the tags put in the set cannot be written (as when the audit store fails)."""
    failing: set[AuditTag] = set()
    seal = chain.seal

    def refuse(session: Any, events: list[AuditEvent]) -> None:
        if any(event.tag in failing for event in events):
            raise SQLAlchemyError("the audit store is unavailable")
        seal(session, events)

    monkeypatch.setattr(chain, "seal", refuse)
    yield failing


def test_nothing_is_shown_when_the_view_cannot_be_audited(
    client: FlaskClient, shielded: Child, failing_audit: set[AuditTag]
) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    location = _granted(client, shielded, user)
    failing_audit.add(AuditTag.OVERRIDE_VIEW)
    response = client.get(location)
    assert response.status_code == 503  # the event is written by the commit, which fails and shows nothing
    assert not any(hidden in response.text for hidden in HIDDEN)
    assert not any(hidden in str(response.headers) for hidden in HIDDEN)
    db.session.expire_all()
    assert _overrides()[0].viewed_at is None, "the failed view must not use up the override"
    failing_audit.clear()
    assert client.get(location).status_code == 200


def test_no_override_is_granted_when_it_cannot_be_audited(
    client: FlaskClient, shielded: Child, failing_audit: set[AuditTag]
) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    failing_audit.add(AuditTag.SHIELD_OVERRIDE)
    response = _break_glass(client, shielded, current_code(user))
    assert response.status_code == 503 and "/overrides/" not in response.headers.get("Location", "")
    assert _overrides() == []


def test_an_override_of_a_record_the_user_can_see_is_not_needed(client: FlaskClient) -> None:
    child = make_child()
    _signed_in(client, Role.OVERRIDE)
    response = client.get(f"/children/{child.index_id}/override")
    assert response.status_code == 302 and response.location.endswith(f"/children/{child.index_id}")


def test_another_persons_override_or_a_made_up_reference_is_not_found(client: FlaskClient, shielded: Child) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    location = _granted(client, shielded, user)
    other = client.application.test_client()
    _signed_in(other, Role.OVERRIDE)
    for path in (location, "/overrides/OVR-0000-0000", "/overrides/nonsense", location.lower() + "x"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert not any(hidden in response.text for hidden in HIDDEN)
    assert _overrides()[0].viewed_at is None


def test_an_override_is_on_the_auditors_dashboard_at_once_without_the_childs_details(
    client: FlaskClient, shielded: Child
) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    _granted(client, shielded, user)
    [override] = _overrides()
    auditor = client.application.test_client()
    _signed_in(auditor, Role.AUDITOR)
    dashboard = auditor.get("/audit/overrides")
    assert dashboard.status_code == 200
    assert override.reference in dashboard.text and user.email in dashboard.text
    assert "1 emergency override is waiting for review" in dashboard.text and "Not yet shown" in dashboard.text
    assert "The child is missing" in dashboard.text
    for detail in (shielded.index_id, "Oliver", "Bennett", *HIDDEN):
        assert detail not in dashboard.text, detail
    assert 'href="/audit/overrides"' in auditor.get("/search").text


def test_someone_else_records_the_outcome(client: FlaskClient, shielded: Child) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    _granted(client, shielded, user)
    [override] = _overrides()
    user.role_grants.append(UserRole(role=Role.AUDITOR, approved_at=utcnow()))  # later an auditor (approved)
    db.session.commit()
    path = f"/audit/overrides/{override.reference}"
    own = client.get(path)
    assert own.status_code == 200 and "someone else must review it" in own.text
    refused = client.post(
        path, data={"outcome": "justified", "note": "I was right to look.", "csrf_token": page_csrf(client, path)}
    )
    assert refused.status_code == 403 and "someone else must review it" in refused.text
    db.session.expire_all()
    assert _overrides()[0].outcome is None

    auditor_client = client.application.test_client()
    auditor = _signed_in(auditor_client, Role.AUDITOR)
    page = auditor_client.get(path)
    assert JUSTIFICATION in page.text and shielded.index_id[:3] in page.text
    token = page_csrf(auditor_client, path)
    assert auditor_client.post(path, data={"outcome": "justified", "csrf_token": token}).status_code == 400
    short = auditor_client.post(path, data={"outcome": "justified", "note": "ok", "csrf_token": token})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    done = auditor_client.post(
        path, data={"outcome": "not_justified", "note": "No risk was recorded that night.", "csrf_token": token}
    )
    assert done.status_code == 302
    db.session.expire_all()
    [reviewed] = _overrides()
    assert (reviewed.outcome, reviewed.reviewed_by_id) == (OverrideOutcome.NOT_JUSTIFIED, auditor.id)
    [audit] = _events(AuditTag.OVERRIDE_REVIEW)
    assert (audit.user_id, audit.reason, audit.target_ids) == (auditor.id, "not_justified", [shielded.index_id])
    again = auditor_client.post(
        path, data={"outcome": "justified", "note": "Changed my mind entirely.", "csrf_token": token}
    )
    assert again.status_code == 409 and "already been reviewed" in again.text
    dashboard = auditor_client.get("/audit/overrides").text
    assert "No emergency override is waiting for review" in dashboard and "Not justified" in dashboard


def test_repeated_overrides_by_one_user_within_a_day_are_highlighted(client: FlaskClient) -> None:
    first, second = make_child(is_shielded=True), make_child(given_name="Isla", nhs_number=None, is_shielded=True)
    user = _signed_in(client, Role.OVERRIDE)
    _granted(client, first, user, offset=0)
    _granted(client, second, user, offset=1)
    other_client = client.application.test_client()
    other = _signed_in(other_client, Role.OVERRIDE)
    _granted(other_client, first, other)
    auditor = client.application.test_client()
    _signed_in(auditor, Role.AUDITOR)
    dashboard = auditor.get("/audit/overrides").text
    assert dashboard.count("2 by this user within a day") == 2
    assert dashboard.count("app-row--highlight") == 2
    review = auditor.get(f"/audit/overrides/{_overrides()[0].reference}").text
    assert _overrides()[1].reference in review and "1 other emergency access within a day" in review

    db.session.execute(
        update(EmergencyOverride)
        .where(EmergencyOverride.id == _overrides()[0].id)
        .values(created_at=utcnow() - timedelta(days=2), expires_at=utcnow() - timedelta(days=2))
    )
    db.session.commit()
    assert "within a day" not in auditor.get("/audit/overrides").text


def test_the_daily_summary_lists_open_overrides_by_reference(app: Flask, client: FlaskClient, shielded: Child) -> None:
    user = _signed_in(client, Role.OVERRIDE)
    _granted(client, shielded, user)
    [override] = _overrides()
    result = app.test_cli_runner().invoke(args=["overrides", "summary"])
    assert result.exit_code == 0, result.output
    assert "Emergency overrides waiting for review" in result.output and ": 1" in result.output
    assert override.reference in result.output and user.email in result.output and "not yet shown" in result.output
    for detail in (shielded.index_id, "Oliver", "Bennett", *HIDDEN):
        assert detail not in result.output

    override.outcome = OverrideOutcome.REFERRED
    db.session.commit()
    assert override.reference not in app.test_cli_runner().invoke(args=["overrides", "summary"]).output
