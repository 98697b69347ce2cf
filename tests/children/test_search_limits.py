"""Per-person search limits, through the page and the API: refused with 429 and Retry-After, audited,
counted per person (not per organisation) in the database, and free again once the window has passed."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from accreditation.permissions import Role
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import RecentSearch, User
from index_service.children.search_limits import count_search
from index_service.config import ConfigError, Settings, load_settings
from index_service.extensions import db
from tests.factories import home_csrf, make_organisation, make_user, page_csrf, sign_in

PER_MINUTE = Settings.search_limit_per_minute
CRITERIA = {"family_name": "Bennett", "date_of_birth": "27/03/2016"}


@pytest.fixture
def limited(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The production limits (the test suite's own are out of reach)."""
    monkeypatch.setitem(app.config, "SEARCH_LIMIT_PER_MINUTE", Settings.search_limit_per_minute)
    monkeypatch.setitem(app.config, "SEARCH_LIMIT_PER_DAY", Settings.search_limit_per_day)
    return app


def _page_search(client: FlaskClient) -> TestResponse:
    return client.post("/search", data={"purpose": "case_work", "csrf_token": page_csrf(client), **CRITERIA})


def _api_search(client: FlaskClient) -> TestResponse:
    return client.post(
        "/api/v1/children/search",
        json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
    )


def _searches(client: FlaskClient, count: int) -> None:
    for _ in range(count):
        response = _api_search(client)
        assert response.status_code == 200, response.json


def _signed_in(client: FlaskClient, *roles: Role, **kwargs: object) -> User:
    user = make_user(*roles, **kwargs)  # type: ignore[arg-type]
    sign_in(client, user)
    return user


def _a_while_ago(seconds: int, user: User | None = None) -> None:
    """Every counted search (or one person's) made `seconds` earlier: time moved on by that much."""
    query = select(RecentSearch)
    if user is not None:
        query = query.where(RecentSearch.user_id == user.id)
    for row in db.session.scalars(query):
        row.at -= timedelta(seconds=seconds)
    db.session.commit()


def _retry_after(response: TestResponse) -> int:
    assert "Retry-After" in response.headers, response.headers
    return int(response.headers["Retry-After"])


def _refused(user: User) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.tag == AuditTag.RECORD_SEARCH,
                AuditEvent.user_id == user.id,
                AuditEvent.outcome == Outcome.DENIED,
            )
            .order_by(AuditEvent.id)
        )
    )


def test_the_31st_search_in_a_minute_gets_a_page_saying_when_to_search_again(
    limited: Flask, client: FlaskClient
) -> None:
    _signed_in(client)
    _searches(client, PER_MINUTE - 1)
    assert _page_search(client).status_code == 200  # the 30th, on the page: page and API share one count
    refused = _page_search(client)
    assert refused.status_code == 429
    assert 1 <= _retry_after(refused) <= 60
    assert "You have reached your search limit" in refused.text
    assert f"You have run {PER_MINUTE} searches in the last minute" in refused.text
    assert f"You can search again in {_retry_after(refused)} seconds" in refused.text
    assert 'href="/search"' in refused.text and "Search results" not in refused.text
    _a_while_ago(61)
    allowed = _page_search(client)
    assert allowed.status_code == 200 and "Search results" in allowed.text


def test_the_31st_api_search_in_a_minute_is_a_429_in_the_error_shape(limited: Flask, client: FlaskClient) -> None:
    _signed_in(client)
    _searches(client, PER_MINUTE)
    refused = _api_search(client)
    assert refused.status_code == 429
    assert refused.json["status"] == 429
    assert refused.json["message"].startswith(f"You have run {PER_MINUTE} searches in the last minute")
    assert f"in {_retry_after(refused)} seconds" in refused.json["message"]
    assert "results" not in refused.json
    _a_while_ago(30)
    assert _api_search(client).status_code == 429, "half a minute on, the 30 are still in the window"
    _a_while_ago(31)
    assert _api_search(client).status_code == 200


def test_a_refused_search_is_audited_and_does_not_count(
    limited: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(limited.config, "SEARCH_LIMIT_PER_MINUTE", 3)
    monkeypatch.setitem(limited.config, "SEARCH_LIMIT_PER_DAY", 5)
    user = _signed_in(client)
    _searches(client, 3)
    assert _api_search(client).status_code == 429
    assert _page_search(client).status_code == 429
    [api, page] = _refused(user)
    for event in (api, page):
        assert event.reason == "case_work" and event.target_ids == []
        assert event.details["criteria"] == {"family_name": "Bennett", "date_of_birth": "2016-03-27"}
        assert event.details["why"] == "search limit" and event.details["period"] == "minute"
        assert event.details["limit"] == 3 and 1 <= event.details["retry_after"] <= 60
    _a_while_ago(61)
    # Had the two refusals counted, the day's five would be used up after the next search.
    _searches(client, 2)
    refused = _api_search(client)
    assert refused.status_code == 429
    assert "You have run 5 searches in the last 24 hours" in refused.json["message"]
    assert "(UK time)" in refused.json["message"]
    assert 24 * 3600 - 62 <= _retry_after(refused) <= 24 * 3600 - 60
    assert len(_refused(user)) == 3 and _refused(user)[-1].details["period"] == "24 hours"
    assert len(db.session.scalars(select(RecentSearch).where(RecentSearch.user_id == user.id)).all()) == 5


def test_limits_are_per_person_not_per_organisation(limited: Flask, client: FlaskClient) -> None:
    organisation = make_organisation()
    _signed_in(client, organisation=organisation)
    _searches(client, PER_MINUTE)
    assert _api_search(client).status_code == 429
    colleague = limited.test_client()
    _signed_in(colleague, organisation=organisation)
    assert _api_search(colleague).status_code == 200
    assert _page_search(colleague).status_code == 200
    assert _api_search(client).status_code == 429


def test_searches_a_day_ago_are_forgotten(limited: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(limited.config, "SEARCH_LIMIT_PER_MINUTE", 2)
    monkeypatch.setitem(limited.config, "SEARCH_LIMIT_PER_DAY", 2)
    user = _signed_in(client)
    _searches(client, 2)
    assert _api_search(client).status_code == 429
    _a_while_ago(24 * 3600)
    assert _api_search(client).status_code == 200
    # The day-old rows went as the person searched again: the table keeps a day a person at most.
    assert len(db.session.scalars(select(RecentSearch).where(RecentSearch.user_id == user.id)).all()) == 1


def test_mediated_searches_count_to_the_index_team_member_whoever_they_act_for(
    limited: Flask, client: FlaskClient
) -> None:
    member = _signed_in(client, Role.INDEX_TEAM)

    def act_for(name: str) -> None:
        response = client.post(
            "/mediated-access",
            data={
                "csrf_token": page_csrf(client, "/mediated-access"),
                "practitioner_name": name,
                "practitioner_organisation": "Wexley Family Practice",
                "contact": "0161 496 0733",
            },
        )
        assert response.status_code == 302

    act_for("Ms Dana Okafor")
    _searches(client, PER_MINUTE)
    client.post("/mediated-access/end", data={"csrf_token": home_csrf(client)})
    act_for("Mr Ade Bello")
    refused = _page_search(client)
    assert refused.status_code == 429 and "You have reached your search limit" in refused.text
    [event] = _refused(member)
    assert event.on_behalf_of_name == "Mr Ade Bello"
    counted = db.session.scalars(select(RecentSearch.user_id)).all()
    assert counted == [member.id] * PER_MINUTE


def test_a_search_that_is_not_run_is_not_counted(
    limited: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too few details, or a bad field, is a message to put right, not a search."""
    monkeypatch.setitem(limited.config, "SEARCH_LIMIT_PER_MINUTE", 1)
    _signed_in(client)
    thin = client.post("/api/v1/children/search", json={"purpose": "case_work", "given_name": "Oliver"})
    assert thin.status_code == 400
    assert (
        client.post(
            "/search", data={"purpose": "case_work", "csrf_token": page_csrf(client), "family_name": "Bennett"}
        ).status_code
        == 200
    )
    assert db.session.scalars(select(RecentSearch)).all() == []
    assert _api_search(client).status_code == 200
    assert _api_search(client).status_code == 429


def test_search_limits_are_configured_and_checked(tmp_path: Path) -> None:
    production = {
        "CHILD_INDEX_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://db/index",
        "TOTP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "AUDIT_CHECKPOINT_KEY": "k" * 40,
    }
    settings = load_settings(str(tmp_path), production)
    assert (settings.search_limit_per_minute, settings.search_limit_per_day) == (30, 300)
    assert settings.unusual_lookups_per_day == 200
    assert settings.flask_config()["SEARCH_LIMIT_PER_MINUTE"] == 30
    chosen = load_settings(
        str(tmp_path),
        {**production, "SEARCH_LIMIT_PER_MINUTE": "10", "SEARCH_LIMIT_PER_DAY": "100", "UNUSUAL_LOOKUPS_PER_DAY": "80"},
    )
    assert (chosen.search_limit_per_minute, chosen.search_limit_per_day, chosen.unusual_lookups_per_day) == (
        10,
        100,
        80,
    )
    for name, value, message in (
        ("SEARCH_LIMIT_PER_MINUTE", "many", "must be a whole number"),
        ("SEARCH_LIMIT_PER_MINUTE", "0", "must be at least 1"),
        ("SEARCH_LIMIT_PER_DAY", "20", "must be at least SEARCH_LIMIT_PER_MINUTE"),
        ("UNUSUAL_LOOKUPS_PER_DAY", "-5", "must be at least 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_settings(str(tmp_path), {**production, name: value})
    testing = load_settings(str(tmp_path), {"CHILD_INDEX_ENV": "testing"})
    assert testing.search_limit_per_minute > 10_000, "the test suite and benchmarks search faster than a person"


def test_one_persons_searches_on_many_workers_at_once_share_one_count(
    committed_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests in threads, each with its own context and database connection, as workers are: the
    count is the database's, so exactly the limit's searches run however they interleave."""
    monkeypatch.setitem(committed_app.config, "SEARCH_LIMIT_PER_MINUTE", 5)
    user = make_user()
    _ = (user.email, user.totp_secret)
    db.session.expunge(user)
    db.session.commit()
    first = committed_app.test_client()
    sign_in(first, user)
    cookie_name = committed_app.config["SESSION_COOKIE_NAME"]
    cookie = first.get_cookie(cookie_name)
    assert cookie is not None
    clients = [first]
    for _ in range(5):
        clone = committed_app.test_client()
        clone.set_cookie(cookie_name, cookie.value)
        clients.append(clone)
    db.session.remove()
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def search(client: FlaskClient) -> None:
        with committed_app.app_context():
            barrier.wait()
            for _ in range(3):
                statuses.append(_api_search(client).status_code)

    threads = [threading.Thread(target=search, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 5 + [429] * (3 * len(clients) - 5)
    refused = db.session.scalars(select(AuditEvent).where(AuditEvent.outcome == Outcome.DENIED)).all()
    assert len(refused) == 3 * len(clients) - 5


def test_a_search_in_progress_never_holds_up_the_persons_audit_events(committed_app: Flask) -> None:
    """The person's row is held against their other searches only: an event naming them (whose
    foreign key reads the row) is sealed into the chain while a search of theirs is still running.
    Were it made to wait, it would hold the chain, and every writer, until that search finished."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns for the whole transaction")
    user = make_user()
    user_id = user.id
    db.session.remove()
    counted, finished = threading.Event(), threading.Event()

    def searching() -> None:
        with committed_app.app_context():
            count_search(db.session.get(User, user_id))
            counted.set()
            finished.wait(10)
            db.session.rollback()

    search = threading.Thread(target=searching)
    search.start()
    try:
        assert counted.wait(10)
        db.session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        record_event(AuditTag.RECORD_VIEW, user=db.session.get(User, user_id), target_ids=["X"])
        db.session.commit()
    finally:
        finished.set()
        search.join()
