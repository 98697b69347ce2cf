"""Completeness: each action a person takes through the service leaves exactly its event, every field filled.

Other suites check the events of their own features in detail (loads, reviews and merges in
tests/sources, shielding in tests/record_shielding, overrides in tests/overrides); this walks one
person's day and checks the fields every event must carry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.extensions import db
from tests.audit.support import verify_session
from tests.factories import current_code, make_child, make_user, page_csrf, submit_code, submit_password

USER_AGENT = "Completeness-Test/1.0"


def _new_events(since: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.chain_position > since).order_by(AuditEvent.chain_position)
        )
    )


def _head() -> int:
    return max(db.session.scalars(select(AuditEvent.chain_position)), default=0)


def _exactly(action: Callable[[], object], tag: AuditTag, outcome: Outcome, user: User | None) -> AuditEvent:
    before = _head()
    action()
    events = _new_events(before)
    assert [(e.tag, e.outcome) for e in events] == [(tag, outcome)], f"{tag}: {[(e.tag, e.outcome) for e in events]}"
    event = events[0]
    assert datetime.now(UTC) - timedelta(minutes=1) < event.occurred_at <= datetime.now(UTC)
    assert event.client_address == "127.0.0.1" and event.user_agent == USER_AGENT
    if user is not None:
        assert (event.user_id, event.organisation_id) == (user.id, user.organisation_id)
    return event


def test_a_practitioners_day_leaves_exactly_its_events(app: Flask) -> None:
    child = make_child()
    user = make_user(Role.PRACTITIONER)
    client: FlaskClient = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT

    failure = _exactly(
        lambda: submit_password(client, user.email, "not the password at all"),
        AuditTag.LOGIN_FAILURE,
        Outcome.FAILURE,
        user,
    )
    assert failure.details["why"] and failure.details["email"] == user.email
    _exactly(lambda: submit_password(client, user.email), AuditTag.LOGIN_PASSWORD, Outcome.SUCCESS, user)
    _exactly(lambda: submit_code(client, current_code(user)), AuditTag.LOGIN_SUCCESS, Outcome.SUCCESS, user)
    csrf = page_csrf(client)

    search = _exactly(
        lambda: client.post(
            "/search",
            data={"purpose": "case_work", "csrf_token": csrf, "family_name": "Bennett", "date_of_birth": "27/03/2016"},
        ),
        AuditTag.RECORD_SEARCH,
        Outcome.SUCCESS,
        user,
    )
    assert search.reason == "case_work" and search.target_ids == [child.index_id]
    assert search.details["criteria"] == {"family_name": "Bennett", "date_of_birth": "2016-03-27"}

    view = _exactly(lambda: client.get(f"/children/{child.index_id}"), AuditTag.RECORD_VIEW, Outcome.SUCCESS, user)
    assert view.target_ids == [child.index_id] and view.reason == "case_work"

    denied = _exactly(lambda: client.get("/audit"), AuditTag.ACCESS_DENIED, Outcome.DENIED, user)
    assert denied.details["endpoint"] == "audit.index"
    denied_api = _exactly(
        lambda: client.get(f"/api/v1/audit/children/{child.index_id}"), AuditTag.ACCESS_DENIED, Outcome.DENIED, user
    )
    assert denied_api.details["endpoint"] == "audit_api.by_child"

    _exactly(lambda: client.post("/sign-out", data={"csrf_token": csrf}), AuditTag.LOGOUT, Outcome.SUCCESS, user)
    assert verify_session().intact


def test_an_auditors_reports_and_exports_leave_exactly_their_events(app: Flask) -> None:
    child = make_child()
    auditor = make_user(Role.AUDITOR)
    client: FlaskClient = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    submit_password(client, auditor.email)
    submit_code(client, current_code(auditor))
    run = _exactly(
        lambda: client.get(f"/audit/children?index_id={child.index_id}&from=2026-01-01"),
        AuditTag.AUDIT_REPORT,
        Outcome.SUCCESS,
        auditor,
    )
    assert run.details["report"] == "child" and run.details["filters"]["from"] == "2026-01-01"
    export = _exactly(
        lambda: client.get(f"/audit/children?index_id={child.index_id}&format=csv", buffered=True),
        AuditTag.AUDIT_EXPORT,
        Outcome.SUCCESS,
        auditor,
    )
    assert export.target_ids == [child.index_id]
    _exactly(lambda: client.get("/api/v1/audit/unusual"), AuditTag.AUDIT_REPORT, Outcome.SUCCESS, auditor)
    _exactly(
        lambda: client.get(f"/audit/children/{child.index_id}/subject-access.pdf"),
        AuditTag.AUDIT_SUBJECT_ACCESS,
        Outcome.SUCCESS,
        auditor,
    )
