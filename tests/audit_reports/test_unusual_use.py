"""The unusual-use report's volume and shielded-record findings: judged against the person's own
history, their organisation's others and a ceiling, the same day; and shielded views by what the
event itself recorded, not by the record as it is now or whose work it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from accreditation.permissions import Role
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User, UserRole
from index_service.children.models import Child
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation
from index_service.record_shielding import operations as shields
from shielding.policy import ShieldReason
from tests.factories import make_child, make_organisation, make_user, sign_in


def _now() -> datetime:
    """A moment today, early enough that a few minutes' events do not pass midnight (UTC)."""
    now = datetime.now(UTC)
    return min(now, now.replace(hour=23, minute=0, second=0, microsecond=0))


def _lookups(user: User, count: int, at: datetime) -> None:
    for _ in range(count):
        record_event(AuditTag.RECORD_SEARCH, user=user, details={"criteria": {"family_name": "Jones"}}).occurred_at = at


def _history(user: User, per_day: int, days_ago: range) -> None:
    """Their ordinary days, before the report's default range (the last 7 days) began."""
    for days in days_ago:
        _lookups(user, per_day, _now() - timedelta(days=days))


def _person(organisation: Organisation, name: str, *roles: Role) -> User:
    return make_user(*(roles or (Role.PRACTITIONER,)), organisation=organisation, email=f"{name}@example.org")


def _findings(client: FlaskClient, kind: str) -> list[dict[str, Any]]:
    auditor = make_user(Role.AUDITOR)
    sign_in(client, auditor)
    response = client.get("/api/v1/audit/unusual")
    assert response.status_code == 200
    return list(response.json["findings"][kind])


def _named(findings: list[dict[str, Any]], user: User) -> list[dict[str, Any]]:
    return [finding for finding in findings if finding["user_id"] == user.id]


def test_a_one_person_organisations_bulk_searcher_is_listed_the_same_day(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real app: searches run this morning are on the auditor's report this morning."""
    monkeypatch.setitem(app.config, "UNUSUAL_LOOKUPS_PER_DAY", 25)
    alone = make_user(organisation=make_organisation("Sole Trader Tutoring"))
    searcher = app.test_client()
    sign_in(searcher, alone)
    for _ in range(25):
        response = searcher.post(
            "/api/v1/children/search",
            json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
        )
        assert response.status_code == 200
    [finding] = _findings(client, "volume")
    assert finding["user_id"] == alone.id and finding["organisation"] == "Sole Trader Tutoring"
    assert finding["when"] == datetime.now(UTC).date().isoformat()
    assert finding["detail"].startswith("25 searches and views; at or above the ceiling of 25 a day")
    assert len(finding["event_ids"]) == 25
    page = client.get("/audit/unusual").text
    assert "reaches 25" in page and "Sole Trader Tutoring" in page


def test_the_ceiling_lists_a_day_whatever_the_persons_norms(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two people who both search in bulk every day: neither stands out from the other or from their own past."""
    ceiling = 30
    monkeypatch.setitem(app.config, "UNUSUAL_LOOKUPS_PER_DAY", ceiling)
    organisation = make_organisation("Bulk Lookups Ltd")
    both = [_person(organisation, f"bulk{n}") for n in range(2)]
    for person in both:
        _history(person, ceiling, range(8, 11))
        _lookups(person, ceiling, _now())
    _lookups(_person(organisation, "below"), ceiling - 1, _now())
    db.session.commit()
    volume = _findings(client, "volume")
    assert sorted(finding["user_id"] for finding in volume) == sorted(person.id for person in both)
    assert all(f"at or above the ceiling of {ceiling} a day" in finding["detail"] for finding in volume)
    assert all("usual day" not in finding["detail"] for finding in volume)


def test_someone_far_above_their_own_history_is_listed_though_their_organisation_is_as_busy(
    app: Flask, client: FlaskClient
) -> None:
    organisation = make_organisation("Busy Trust")
    quiet = _person(organisation, "quiet")
    busy = [_person(organisation, f"busy{n}") for n in range(3)]
    _history(quiet, 4, range(8, 12))
    for person in busy:
        _history(person, 30, range(8, 12))
        _lookups(person, 30, _now())
    _lookups(quiet, 30, _now())
    db.session.commit()
    volume = _findings(client, "volume")
    [finding] = volume
    assert finding["user_id"] == quiet.id
    assert finding["detail"] == "30 searches and views; their own usual day over the previous 28 days is 4"


def test_a_one_person_organisation_is_judged_by_its_persons_own_history(app: Flask, client: FlaskClient) -> None:
    alone = make_user(organisation=make_organisation("Lone Practice"))
    _history(alone, 5, range(8, 12))
    _lookups(alone, 30, _now())
    db.session.commit()
    [finding] = _findings(client, "volume")
    assert finding["user_id"] == alone.id and "their own usual day over the previous 28 days is 5" in finding["detail"]


def test_the_organisations_usual_day_is_that_of_the_others(app: Flask, client: FlaskClient) -> None:
    """With two people, the busy one's own day no longer sets half the norm they are judged by."""
    organisation = make_organisation("Two Person Team")
    busy, other = _person(organisation, "busy"), _person(organisation, "other")
    _lookups(busy, 60, _now())
    _lookups(other, 5, _now())
    db.session.commit()
    [finding] = _findings(client, "volume")
    assert finding["user_id"] == busy.id
    assert finding["detail"] == "60 searches and views; their organisation's usual day is 5"


def test_an_ordinary_day_is_not_listed(app: Flask, client: FlaskClient) -> None:
    organisation = make_organisation("Steady Council")
    people = [_person(organisation, f"steady{n}") for n in range(3)]
    for person in people:
        _history(person, 15, range(8, 12))
        _lookups(person, 18, _now())
    db.session.commit()
    assert _findings(client, "volume") == []


def _shielded_child(shielder: User, **details: object) -> Child:
    child = make_child(**details)  # type: ignore[arg-type]
    _shield(child, shielder)
    return child


def _shield(child: Child, shielder: User) -> None:
    shields.shield(child, ShieldReason.DOMESTIC_ABUSE, "Refuge placement", utcnow().date() + timedelta(30), shielder)
    db.session.commit()


def _views(app: Flask, user: User, child: Child) -> FlaskClient:
    viewer = app.test_client()
    sign_in(viewer, user)
    _view(viewer, child)
    return viewer


def _view(viewer: FlaskClient, child: Child) -> None:
    assert viewer.get(f"/api/v1/children/{child.index_id}").status_code == 200


def test_a_view_before_the_record_was_shielded_is_not_listed(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    practitioner = make_user()
    viewer = _views(app, practitioner, child)  # unshielded then
    _shield(child, make_user(Role.SHIELDER))
    _view(viewer, child)  # shielded now: the redacted record
    [finding] = _findings(client, "shielded")
    assert finding["user_id"] == practitioner.id
    assert finding["detail"] == f"viewed shielded record {child.index_id}"


def test_shielders_and_auditors_views_of_shielded_records_are_not_listed(app: Flask, client: FlaskClient) -> None:
    shielder, auditor, practitioner = make_user(Role.SHIELDER), make_user(Role.AUDITOR), make_user()
    child = _shielded_child(shielder)
    for person in (shielder, auditor, practitioner):
        _views(app, person, child)
    assert [finding["user_id"] for finding in _findings(client, "shielded")] == [practitioner.id]


def test_the_role_that_counts_is_the_one_held_at_the_time_of_the_view(app: Flask, client: FlaskClient) -> None:
    was_shielder, became_shielder = make_user(Role.SHIELDER), make_user()
    child = _shielded_child(make_user(Role.SHIELDER))
    _views(app, was_shielder, child)
    _views(app, became_shielder, child)
    was_shielder.role_grants = [UserRole(role=Role.PRACTITIONER)]
    became_shielder.role_grants.append(UserRole(role=Role.SHIELDER, approved_at=utcnow()))
    db.session.commit()
    assert [finding["user_id"] for finding in _findings(client, "shielded")] == [became_shielder.id]


def test_a_view_that_did_not_record_the_shield_is_judged_by_the_record_now_and_says_so(
    app: Flask, client: FlaskClient
) -> None:
    """Events written before views recorded whether the record was shielded."""
    practitioner = make_user()
    child = _shielded_child(make_user(Role.SHIELDER))
    unshielded = make_child(given_name="Ava", family_name="Walsh", nhs_number=None)
    for target in (child, unshielded):
        record_event(AuditTag.RECORD_VIEW, user=practitioner, target_ids=[target.index_id])
    db.session.commit()
    [finding] = _findings(client, "shielded")
    assert finding["detail"] == (
        f"viewed record {child.index_id}, shielded now (the event does not say whether it was then)"
    )
