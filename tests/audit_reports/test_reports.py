"""Auditors' reports: what they show, their filters, pages, CSV and charts, and that only auditors reach them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.accounts.operations import add_user
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag
from index_service.audit_reports.reports import PAGE_SIZE, VOLUME_FLOOR, Filters, sign_in_failure_query
from index_service.auth.models import User
from index_service.children.models import Child
from index_service.children.records import AddressSpec
from index_service.extensions import db
from index_service.record_shielding import operations as shields
from shielding.policy import ShieldReason
from tests.factories import PASSWORD, make_child, make_organisation, make_user, sign_in

AUDITOR_ENDPOINTS_PREFIXES = ("audit.", "audit_api.")


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _auditor(client: FlaskClient) -> User:
    user = make_user(Role.AUDITOR)
    sign_in(client, user)
    return user


def _auditor_paths(app: Flask, child: Child, user: User) -> list[str]:
    values = {"index_id": child.index_id, "user_id": user.id, "organisation_id": user.organisation_id}
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(AUDITOR_ENDPOINTS_PREFIXES):
            paths.append(rule.build({name: values[name] for name in rule.arguments})[1])
    return paths


@pytest.mark.parametrize(
    "role", [Role.PRACTITIONER, Role.INDEX_TEAM, Role.DATA_ADMIN, Role.USER_ADMIN, Role.SHIELDER, Role.OVERRIDE]
)
def test_no_one_but_an_auditor_reaches_an_auditor_route(app: Flask, client: FlaskClient, role: Role) -> None:
    child = make_child()
    user = make_user(role)
    sign_in(client, user)
    paths = _auditor_paths(app, child, user)
    assert len(paths) >= 12 and any(p.startswith("/api/") for p in paths)
    for path in paths:
        for query in ("", "?format=csv&index_id=" + child.index_id):
            response = client.get(path + query)
            assert response.status_code == 403, f"{role} {path}{query}"
            assert child.family_name not in response.text
    assert "/audit" not in client.get("/", follow_redirects=True).text.split("<main")[0]


def test_an_auditor_reaches_every_auditor_route(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    auditor = _auditor(client)
    for path in _auditor_paths(app, child, auditor):
        response = client.get(path)
        assert response.status_code == 200, path
    assert 'href="/audit"' in client.get("/audit").text


def _practitioner_looks(app: Flask, child: Child, reason: str = "case_work") -> User:
    practitioner = make_user(organisation=make_organisation("Leeds Children's Services"))
    other = app.test_client()
    sign_in(other, practitioner)
    found = other.post(
        "/api/v1/children/search", json={"purpose": reason, "family_name": "Bennett", "date_of_birth": "2016-03-27"}
    )
    assert found.status_code == 200 and found.json["results"]
    assert other.get(f"/api/v1/children/{child.index_id}").status_code == 200
    return practitioner


def test_the_child_report_shows_who_looked_where_from_and_why(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    unrelated = make_child(given_name="Ava", family_name="Walsh", nhs_number=None)
    practitioner = _practitioner_looks(app, child, "safeguarding_concern")
    _auditor(client)
    page = client.get(f"/audit/children?index_id={child.index_id}")
    assert page.status_code == 200
    assert "record:search" in page.text and "record:view" in page.text
    assert practitioner.display_name in page.text and "Leeds Children&#39;s Services" in page.text
    assert "safeguarding_concern" in page.text and "127.0.0.1" in page.text
    assert "2 events" in page.text
    again = client.get(f"/audit/children?index_id={child.index_id.lower()}").text
    assert "3 events" in again and "audit:report:run" in again  # the auditor's own look is on record too
    assert "0 events" in client.get(f"/audit/children?index_id={unrelated.index_id}").text
    [run] = [e for e in _events(AuditTag.AUDIT_REPORT) if e.details["report"] == "child"][:1]
    assert run.target_ids == [child.index_id] and run.details["channel"] == "web"


def test_the_api_gives_the_same_report_as_json(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    practitioner = _practitioner_looks(app, child)
    _auditor(client)
    answer = client.get(f"/api/v1/audit/children/{child.index_id}").json
    assert answer["total"] == 2 and {e["tag"] for e in answer["events"]} == {"record:search", "record:view"}
    assert all(e["user_email"] == practitioner.email for e in answer["events"])
    by_user = client.get(f"/api/v1/audit/users/{practitioner.id}?from=2000-01-01").json
    assert by_user["total"] >= 4  # password, code, search, view
    assert client.get(f"/api/v1/audit/organisations/{practitioner.organisation_id}").json["total"] == by_user["total"]
    assert [e.details["channel"] for e in _events(AuditTag.AUDIT_REPORT)] == ["api", "api", "api"]


def test_date_filters_and_pages(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    for number in range(PAGE_SIZE + 5):
        event = record_event(AuditTag.RECORD_VIEW, target_ids=[child.index_id], details={"n": number})
        event.occurred_at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=number)
    db.session.commit()
    _auditor(client)
    first = client.get(f"/audit/children?index_id={child.index_id}")
    assert f"{PAGE_SIZE + 5} events" in first.text and 'aria-label="Page 2"' in first.text
    second = client.get(f"/audit/children?index_id={child.index_id}&page=2")
    assert second.text.count('class="govuk-table__row"') == 1 + 6  # the header, and 5 + the first page's own run
    assert "24 events" in client.get(f"/audit/children?index_id={child.index_id}&from=2025-01-01&to=2025-01-01").text
    assert "31 events" in client.get(f"/audit/children?index_id={child.index_id}&from=2025-01-02&to=2025-01-03").text
    api = client.get(f"/api/v1/audit/children/{child.index_id}?to=2025-01-01&page=1").json
    assert api["total"] == 24 and api["pages"] == 1


@pytest.mark.parametrize(
    "query", ["from=yesterday", "from=2025-02-30", "from=2025-03-01&to=2025-02-01", "page=0", "page=many"]
)
def test_bad_filters_are_a_clear_4xx(client: FlaskClient, query: str) -> None:
    child = make_child()
    _auditor(client)
    page = client.get(f"/audit/children?index_id={child.index_id}&{query}")
    assert page.status_code == 400 and "Dates are YYYY-MM-DD." in page.text
    api = client.get(f"/api/v1/audit/children/{child.index_id}?{query}")
    assert api.status_code == 422 and api.json["message"]


def test_a_mistyped_child_or_unknown_user_is_a_clear_message(client: FlaskClient) -> None:
    _auditor(client)
    assert client.get("/audit/children?index_id=nonsense").status_code == 400
    assert client.get("/audit/users?email=nobody@example.org").status_code == 404
    assert client.get("/audit/organisations?organisation=999999").status_code == 404
    assert client.get("/api/v1/audit/users/999999").status_code == 404


def test_the_csv_has_every_event_in_spreadsheet_safe_cells_and_is_audited(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    organisation = make_organisation('=HYPERLINK("http://evil.example")')
    sneaky = add_user("sneaky@example.org", organisation, [Role.PRACTITIONER], PASSWORD, "+SUM(A1:A9)")
    for number in range(PAGE_SIZE + 3):
        record_event(
            AuditTag.RECORD_VIEW, user=sneaky, target_ids=[child.index_id], reason="@cmd", details={"n": number}
        )
    db.session.commit()
    _auditor(client)
    response = client.get(f"/audit/children?index_id={child.index_id}&format=csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["position", "occurred_at_utc", "action", "outcome"]
    assert len(rows) == 1 + PAGE_SIZE + 3 + 1 and rows[-1][2] == "audit:export"  # the export is on record first
    assert rows[1][4] == "'+SUM(A1:A9)" and rows[1][6] == "practitioner"
    assert rows[1][7].startswith("'=HYPERLINK") and rows[1][8] == "'@cmd"
    [export] = _events(AuditTag.AUDIT_EXPORT)
    assert export.details["report"] == "child" and export.target_ids == [child.index_id]


def test_failed_sign_ins_are_listed_with_why(app: Flask, client: FlaskClient) -> None:
    target = make_user()
    other = app.test_client()
    from tests.factories import submit_password

    submit_password(other, target.email, "not the password")
    submit_password(other, "nobody@example.org", "whatever it is")
    _auditor(client)
    page = client.get("/audit/sign-in-failures")
    assert page.status_code == 200 and "2 events" in page.text
    assert "nobody@example.org" in page.text and target.email in page.text


def test_the_organisation_report_has_an_accessible_chart_and_its_table(app: Flask, client: FlaskClient) -> None:
    child = make_child()
    practitioner = _practitioner_looks(app, child)
    _auditor(client)
    page = client.get(f"/audit/organisations?organisation={practitioner.organisation_id}")
    assert page.status_code == 200
    svg = page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg and "<rect" in svg
    assert "Searches and views a day as a table" in page.text
    overview = client.get("/audit")
    assert "Leeds Children&#39;s Services" in overview.text and "<svg" in overview.text


def _at(hour: int, days_ago: int = 1) -> datetime:
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


def test_unusual_use_finds_each_of_its_four_kinds(app: Flask, client: FlaskClient) -> None:
    organisation = make_organisation("Wakefield Council")
    busy = add_user("busy@example.org", organisation, [Role.PRACTITIONER], PASSWORD, "Robin Busy")
    usual = [
        add_user(f"usual{n}@example.org", organisation, [Role.PRACTITIONER], PASSWORD, f"Sam Usual{n}")
        for n in range(3)
    ]
    shielded = make_child(given_name="Ivy", family_name="Stone", nhs_number=None)
    shields.shield(
        shielded,
        ShieldReason.DOMESTIC_ABUSE,
        "Refuge placement",
        datetime.now(UTC).date() + timedelta(30),
        make_user(Role.SHIELDER),
    )
    for person in usual:
        for _ in range(2):
            record_event(
                AuditTag.RECORD_SEARCH, user=person, details={"criteria": {"family_name": "Smith"}}
            ).occurred_at = _at(10)
    for _ in range(VOLUME_FLOOR + 5):
        record_event(
            AuditTag.RECORD_SEARCH, user=busy, details={"criteria": {"family_name": "Jones"}}
        ).occurred_at = _at(11)
    record_event(AuditTag.RECORD_VIEW, user=usual[0], target_ids=[shielded.index_id]).occurred_at = _at(12)
    record_event(AuditTag.RECORD_VIEW, user=usual[1], target_ids=["X"]).occurred_at = _at(23)
    record_event(
        AuditTag.RECORD_SEARCH, user=usual[2], details={"criteria": {"family_name": "USUAL2", "postcode": "LS6 2AB"}}
    ).occurred_at = _at(14)
    db.session.commit()
    _auditor(client)
    found = client.get("/api/v1/audit/unusual").json["findings"]
    assert [f["user_name"] for f in found["volume"]] == ["Robin Busy"]
    assert [f["user_name"] for f in found["shielded"]] == ["Sam Usual0"]
    assert shielded.index_id in found["shielded"][0]["detail"]
    assert [f["user_name"] for f in found["out_of_hours"]] == ["Sam Usual1"]
    assert [f["user_name"] for f in found["own_surname"]] == ["Sam Usual2"]
    assert "home postcode district is not on record" in found["own_surname"][0]["detail"]
    page = client.get("/audit/unusual")
    assert page.status_code == 200 and "Robin Busy" in page.text and "Sam Usual1" in page.text
    assert client.get("/api/v1/audit/unusual?to=2020-01-01").json["findings"]["volume"] == []


def test_the_child_report_follows_the_child_through_a_merge(app: Flask, client: FlaskClient) -> None:
    from index_service.children.merges import merge_children
    from tests.sources.loads import supplied_by

    admin = make_user(Role.DATA_ADMIN)
    kept = supplied_by(make_child(), admin.organisation)
    retired = supplied_by(make_child(given_name="Ollie", nhs_number="9434765870", address=None), admin.organisation)
    record_event(AuditTag.RECORD_VIEW, target_ids=[retired.index_id])
    record_event(AuditTag.RECORD_VIEW, target_ids=[kept.index_id])
    db.session.commit()
    merge_children(kept, retired, admin)
    db.session.commit()
    _auditor(client)
    for asked in (kept.index_id, retired.index_id):
        answer = client.get(f"/api/v1/audit/children/{asked}?from=2000-01-01").json
        tags = sorted(event["tag"] for event in answer["events"])
        assert tags.count("record:view") == 2 and "record:merge" in tags, asked


def test_own_surname_needs_the_users_own_postcode_area_when_their_home_is_known(
    app: Flask, client: FlaskClient
) -> None:
    """Asked for in the user's area, or finding a child who lives there: shown; elsewhere: not."""
    organisation = make_organisation("Leeds Council")
    searcher = add_user("bennett@example.org", organisation, [Role.PRACTITIONER], PASSWORD, "Jo Bennett")
    searcher.home_postcode_district = "LS6"
    in_leeds = make_child()  # Oliver Bennett, LS6 2AB
    in_york = make_child(given_name="Ann", nhs_number=None, address=AddressSpec("1 Minster Yard", "York", "YO1 7HH"))
    searches = [
        ({"family_name": "Bennett", "postcode": "LS17 5AA"}, []),  # asked for in Leeds
        ({"family_name": "Bennett"}, [in_leeds.index_id]),  # found a child living in Leeds
        ({"family_name": "Bennett"}, [in_york.index_id]),  # found only a child in York
        ({"family_name": "Bennett", "postcode": "YO1 7HH"}, []),
    ]  # asked for in York
    for criteria, found in searches:
        record_event(
            AuditTag.RECORD_SEARCH, user=searcher, target_ids=found, details={"criteria": criteria}
        ).occurred_at = _at(10)
    db.session.commit()
    _auditor(client)
    own = client.get("/api/v1/audit/unusual").json["findings"]["own_surname"]
    assert len(own) == 2
    assert all("in their own postcode area LS (home district LS6)" in finding["detail"] for finding in own)
    positions = [event.id for event in _events(AuditTag.RECORD_SEARCH)]
    assert sorted(event_id for finding in own for event_id in finding["event_ids"]) == positions[:2]


@pytest.mark.perf
def test_the_sign_in_failures_report_reads_only_its_partial_index(app: Flask) -> None:
    """An ordinary event is not in that index, so the report must ask in a way the planner can match to it."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner reads a table this small straight through, index or not")
    executed: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        executed.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", remember)
    try:
        db.session.execute(sign_in_failure_query(Filters()).order_by(AuditEvent.chain_position.desc()).limit(PAGE_SIZE))
    finally:
        sa.event.remove(connection, "before_cursor_execute", remember)
    [(statement, parameters)] = executed
    plan = " ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "ix_audit_events_sign_in_failures" in plan, plan
