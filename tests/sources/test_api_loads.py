"""Source systems over the API: client credentials, bearer tokens, and loads into their own source only."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from werkzeug.test import TestResponse

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import FailedAttempt
from index_service.auth.operations import client_key
from index_service.database import utcnow
from index_service.extensions import db
from index_service.load_models import Load, LoadStatus
from index_service.oauth.models import OAuthClient, OAuthToken, sha256_hex
from index_service.oauth.operations import client_by_id, register_client, revoke_client
from index_service.scopes import Scope
from index_service.sources import jobs
from index_service.sources.loading.run import run_load
from index_service.sources.models import DataSource
from index_service.sources.registry import set_active
from index_service.sources.report import REPORT_COLUMNS
from tests.factories import make_user, sign_in
from tests.sources.loads import TODAY, make_source, row, stored_files, uploads_kept_in, write_extract

TOKEN_URL = "/api/v1/oauth/token"  # noqa: S105 - a path


@pytest.fixture(autouse=True)
def uploads(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Loads run only when a test runs them, and uploads go to a throwaway folder."""
    return uploads_kept_in(tmp_path / "uploads", app, monkeypatch)


def _client(source: DataSource, *scopes: Scope) -> tuple[OAuthClient, str]:
    registered, secret = register_client(source, scopes or (Scope.LOADS_WRITE,))
    db.session.commit()
    return registered, secret


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _token(http: FlaskClient, registered: OAuthClient, secret: str, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = http.post(TOKEN_URL, data=form, headers=_basic(registered.client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _csv(tmp_path: Path, rows: list[dict[str, str]], name: str = "census.csv") -> bytes:
    return write_extract(tmp_path / name, rows).read_bytes()


def _submit(
    http: FlaskClient, source_id: int, body: bytes, token: str | None, content_type: str = "text/csv", **query: str
) -> TestResponse:
    headers = _bearer(token) if token else {}
    return http.post(
        f"/api/v1/sources/{source_id}/loads", data=body, content_type=content_type, headers=headers, query_string=query
    )


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _every_stored_value(*tables: str) -> str:
    dumped = []
    for table in tables:
        for values in db.session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - our own table names
            dumped.append(repr(tuple(values)))
    return "\n".join(dumped)


# Tokens.


def test_a_token_is_issued_for_good_credentials_and_stored_only_hashed(client: FlaskClient) -> None:
    source = make_source()
    registered, secret = _client(source)
    basic = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers=_basic(registered.client_id, secret)
    )
    assert basic.status_code == 200, basic.text
    assert basic.json["token_type"] == "Bearer"
    assert basic.json["expires_in"] == 3600
    assert basic.json["scope"] == "loads:write"
    assert "Set-Cookie" not in basic.headers  # no session for a source system
    posted = client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "scope": "loads:write",
            "client_id": registered.client_id,
            "client_secret": secret,
        },
    )
    assert posted.status_code == 200, posted.text
    raw = [basic.json["access_token"], posted.json["access_token"]]
    assert raw[0] != raw[1]

    tokens = db.session.scalars(select(OAuthToken).order_by(OAuthToken.id)).all()
    assert [t.token_sha256 for t in tokens] == [sha256_hex(token) for token in raw]
    stored = _every_stored_value("oauth_tokens", "oauth_clients", "audit_events", "user_sessions")
    for value in [*raw, secret]:
        assert value not in stored
    issued = _events(AuditTag.OAUTH_TOKEN_ISSUE)
    assert [event.details["client_id"] for event in issued] == [registered.client_id] * 2
    assert issued[0].details["scope"] == "loads:write" and issued[0].details["source_id"] == source.id


def test_a_wrong_secret_is_invalid_client_and_audited(client: FlaskClient) -> None:
    registered, secret = _client(make_source())
    response = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers=_basic(registered.client_id, secret + "x")
    )
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    posted = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": registered.client_id, "client_secret": "guess"},
    )
    assert posted.status_code in (400, 401) and posted.json["error"] == "invalid_client"
    unknown = client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, headers=_basic("nobody", secret))
    assert unknown.json["error"] == "invalid_client"
    assert db.session.scalar(select(OAuthToken)) is None
    refused = _events(AuditTag.OAUTH_TOKEN_REFUSED)
    assert [event.details["client_id"] for event in refused] == [registered.client_id] * 2 + ["nobody"]
    assert all(event.outcome is Outcome.DENIED and event.details["error"] == "invalid_client" for event in refused)
    assert secret not in _every_stored_value("audit_events")


def test_an_unknown_scope_or_one_the_client_lacks_is_invalid_scope(client: FlaskClient) -> None:
    registered, secret = _client(make_source())
    for scope in ("loads:admin", "children:read", "loads:write children:read"):
        response = client.post(
            TOKEN_URL,
            data={"grant_type": "client_credentials", "scope": scope},
            headers=_basic(registered.client_id, secret),
        )
        assert response.status_code == 400, scope
        assert response.json["error"] == "invalid_scope", scope
    assert db.session.scalar(select(OAuthToken)) is None
    assert len(_events(AuditTag.OAUTH_TOKEN_REFUSED)) == 3


def test_only_the_client_credentials_grant_is_offered(client: FlaskClient) -> None:
    registered, secret = _client(make_source())
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "password", "username": "a", "password": "b"},
        headers=_basic(registered.client_id, secret),
    )
    assert response.status_code == 400 and response.json["error"] == "unsupported_grant_type"


def test_a_revoked_client_gets_no_token_and_its_tokens_stop_working(client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    registered, secret = _client(source)
    token = _token(client, registered, secret)
    revoke_client(registered)
    db.session.commit()
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer ")
    again = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, headers=_basic(registered.client_id, secret)
    )
    assert again.status_code == 401 and again.json["error"] == "invalid_client"
    assert db.session.scalar(select(OAuthToken)).revoked_at is not None


def test_a_client_whose_token_was_made_revoked_only_in_the_client_row_is_refused(
    client: FlaskClient, tmp_path: Path
) -> None:
    """The client's own revocation is checked on every request, not only through its tokens."""
    source = make_source()
    registered, secret = _client(source)
    token = _token(client, registered, secret)
    db.session.execute(update(OAuthClient).where(OAuthClient.id == registered.id).values(revoked_at=utcnow()))
    db.session.commit()
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token)
    assert response.status_code == 401


# Bearer tokens at the loads endpoint.


def test_no_token_malformed_or_unknown_is_401_and_audited(client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    body = _csv(tmp_path, [row("S1")])
    assert _submit(client, source.id, body, None).status_code == 401
    for header in ("Bearer", "Bearer two words", "Token abc", "Bearer " + "x" * 43):
        response = client.post(
            f"/api/v1/sources/{source.id}/loads", data=body, content_type="text/csv", headers={"Authorization": header}
        )
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="child-index"')
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert response.json["status"] == 401 and response.json["message"]
    denied = _events(AuditTag.ACCESS_DENIED)
    assert [event.reason for event in denied] == ["no token"] + ["malformed authorization header"] * 3 + [
        "unknown token"
    ]
    assert all(event.details["endpoint"] == "sources_api.submit_load" for event in denied)
    assert db.session.scalar(select(Load)) is None


def test_an_expired_token_is_401(client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    registered, secret = _client(source)
    token = _token(client, registered, secret)
    db.session.execute(update(OAuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token)
    assert response.status_code == 401
    assert "expired" in response.json["message"]
    assert _events(AuditTag.ACCESS_DENIED)[-1].reason == "token expired"
    assert db.session.scalar(select(Load)) is None


def test_a_token_without_loads_write_is_403(client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    registered, secret = _client(source, Scope.CHILDREN_READ)
    token = _token(client, registered, secret)
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert client.get("/api/v1/loads/1", headers=_bearer(token)).status_code == 403
    [event, _] = _events(AuditTag.ACCESS_DENIED)
    assert event.reason == "insufficient scope" and event.details["client_id"] == registered.client_id
    assert db.session.scalar(select(Load)) is None


def test_a_client_loads_only_into_its_own_source(client: FlaskClient, tmp_path: Path) -> None:
    mine, theirs = make_source("School A census"), make_source("School B census")
    registered, secret = _client(mine)
    token = _token(client, registered, secret)
    response = _submit(client, theirs.id, _csv(tmp_path, [row("S1")]), token)
    missing = _submit(client, 999_999, _csv(tmp_path, [row("S1")]), token)
    # Another source and no source at all get the same answer: no client learns which sources exist.
    assert response.status_code == missing.status_code == 404
    assert response.json == missing.json == {"status": 404, "message": "No data source of your client has that id."}
    assert db.session.scalar(select(Load)) is None
    denied = _events(AuditTag.ACCESS_DENIED)
    assert [event.details["source_id"] for event in denied] == [theirs.id, 999_999]
    assert all(
        event.details["client_id"] == registered.client_id
        and event.reason == "another source"
        and event.organisation_id == mine.organisation_id
        for event in denied
    )


def test_a_client_sees_only_its_own_sources_loads(client: FlaskClient, tmp_path: Path) -> None:
    mine, theirs = make_source("School A census"), make_source("School B census")
    my_token = _token(client, *_client(mine))
    their_token = _token(client, *_client(theirs))
    load_id = _submit(client, mine.id, _csv(tmp_path, [row("S1")]), my_token).json["load_id"]
    for path in ("/api/v1/loads/{}", "/api/v1/loads/{}/report"):
        theirs_answer = client.get(path.format(load_id), headers=_bearer(their_token), buffered=True)
        missing = client.get(path.format(load_id + 1000), headers=_bearer(their_token), buffered=True)
        # Another source's load and no load at all get the same answer, word for word.
        assert theirs_answer.status_code == missing.status_code == 404, path
        assert theirs_answer.json == missing.json == {"status": 404, "message": "No load has that id."}, path
    assert client.get(f"/api/v1/loads/{load_id}", headers=_bearer(my_token)).status_code == 200
    denied = _events(AuditTag.ACCESS_DENIED)
    assert [(event.reason, event.details["load_id"]) for event in denied] == [("another source's load", load_id)] * 2


def test_an_inactive_source_takes_no_loads(client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    set_active(source, False)
    db.session.commit()
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token)
    assert response.status_code == 403 and "not active" in response.json["message"]


def test_sessions_and_tokens_do_not_stand_in_for_each_other(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    practitioner = app.test_client()
    sign_in(practitioner, make_user(Role.DATA_ADMIN, Role.PRACTITIONER))
    response = _submit(practitioner, source.id, _csv(tmp_path, [row("S1")]), None)
    assert response.status_code == 401
    assert practitioner.get("/api/v1/loads/1").status_code == 401
    search = {"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"}
    assert practitioner.post("/api/v1/children/search", json=search).status_code == 200
    refused = client.post("/api/v1/children/search", json=search, headers=_bearer(token))
    assert refused.status_code == 401
    assert not _events(AuditTag.RECORD_SEARCH)[1:]  # only the practitioner's search happened


# Loads.


def test_a_good_csv_is_accepted_loaded_and_reported(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    registered, secret = _client(source)
    token = _token(client, registered, secret)
    body = _csv(
        tmp_path,
        [
            row("S1", nhs_number="943 476 5919"),
            row(
                "S2",
                given_name="Amelia",
                family_name="Khan",
                date_of_birth="2014-09-04",
                gender="f",
                postcode="BD1 1AA",
                address_line1="3 Mill Street",
                parent_carer_name="Imran Khan",
            ),
            row("S3", date_of_birth="not a date"),
        ],
    )
    response = _submit(client, source.id, body, token, file_name="census-2026-11.csv", kind="full")
    assert response.status_code == 202, response.text
    accepted = response.json
    assert accepted["status"] == "queued" and accepted["repeat"] is False
    assert accepted["status_url"] == f"/api/v1/loads/{accepted['load_id']}"

    load = db.session.get(Load, accepted["load_id"])
    assert load.source_id == source.id and load.file_name == "census-2026-11.csv" and load.kind.value == "full"
    assert load.created_by is None and Path(load.stored_path or "").read_bytes() == body
    [submitted] = _events(AuditTag.LOAD_SUBMIT)
    assert submitted.details["client_id"] == registered.client_id
    assert submitted.details["source_id"] == source.id and submitted.details["load_id"] == load.id
    assert submitted.user_id is None and submitted.organisation_id == source.organisation_id
    [issued] = _events(AuditTag.OAUTH_TOKEN_ISSUE)
    assert issued.organisation_id == source.organisation_id

    queued = client.get(accepted["status_url"], headers=_bearer(token))
    assert queued.status_code == 200 and queued.json["status"] == "queued" and queued.json["rows_expected"] == 3

    run_load(load, today=TODAY)
    status = client.get(accepted["status_url"], headers=_bearer(token))
    assert status.status_code == 200
    assert status.json["status"] == "completed"
    assert status.json["rows_done"] == 3
    assert status.json["counts"] == {"created": 2, "rejected": 1}
    assert status.json["summary"]["rejected_by_field"] == {"date_of_birth": 1}

    # Buffered: the streamed body is read inside the request's own context, as a server reads it.
    report = client.get(accepted["report_url"], headers=_bearer(token), buffered=True)
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(report.text)))
    assert tuple(lines[0]) == REPORT_COLUMNS
    assert [(line[0], line[1], line[2]) for line in lines[1:]] == [
        ("1", "S1", "created"),
        ("2", "S2", "created"),
        ("3", "S3", "rejected"),
    ]
    assert lines[1][3]  # the new child's index id
    assert _events(AuditTag.LOAD_REPORT_VIEW)[-1].details["client_id"] == registered.client_id
    assert {
        event.organisation_id
        for event in _events(AuditTag.LOAD_START) + _events(AuditTag.LOAD_FINISH) + _events(AuditTag.LOAD_REPORT_VIEW)
    } == {source.organisation_id}


def test_json_lines_are_accepted(client: FlaskClient) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    body = (
        b'{"source_record_id": "S1", "given_name": "Oliver", "family_name": "Bennett", '
        b'"date_of_birth": "2016-03-27", "gender": "m"}\n'
    )
    response = _submit(client, source.id, body, token, content_type="application/x-ndjson", dry_run="true")
    assert response.status_code == 202, response.text
    load = db.session.get(Load, response.json["load_id"])
    assert load.file_format == "jsonl" and load.is_dry_run and load.file_name == "extract.jsonl"
    run_load(load, today=TODAY)
    assert load.status is LoadStatus.COMPLETED and load.counts == {"created": 1}


def test_the_same_file_while_unfinished_returns_that_load(client: FlaskClient, tmp_path: Path, uploads: Path) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    body = _csv(tmp_path, [row("S1")])
    first = _submit(client, source.id, body, token)
    second = _submit(client, source.id, body, token)
    assert second.status_code == 202
    assert second.json["load_id"] == first.json["load_id"] and second.json["repeat"] is True
    assert len(stored_files(uploads)) == 1  # the repeat's copy is not kept


def test_the_background_load_starts_only_after_the_commit_and_never_twice(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    started: list[tuple[int, bool]] = []

    def start(load: Load) -> None:
        # Another process must find the load: nothing of the request may still be waiting to commit.
        pending = bool(db.session.new or db.session.dirty or db.session().in_transaction())
        started.append((load.id, pending))

    monkeypatch.setattr(jobs, "start_in_background", start)
    body = _csv(tmp_path, [row("S1")])
    load_id = _submit(client, source.id, body, token).json["load_id"]
    assert started == [(load_id, False)]
    assert _submit(client, source.id, body, token).json["repeat"] is True
    assert started == [(load_id, False)]  # still queued: the first process has it
    db.session.execute(update(Load).where(Load.id == load_id).values(status=LoadStatus.FAILED))
    db.session.commit()
    resumed = _submit(client, source.id, body, token)
    assert resumed.json["load_id"] == load_id and resumed.json["status"] == "queued"
    assert started == [(load_id, False)] * 2
    assert _submit(client, source.id, b"no,header\n", token).status_code == 422
    assert len(started) == 2


def test_a_failure_to_start_the_background_load_leaves_it_queued(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source()
    token = _token(client, *_client(source))

    def start(load: Load) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(jobs, "start_in_background", start)
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token)
    assert response.status_code == 202
    assert db.session.get(Load, response.json["load_id"]).status is LoadStatus.QUEUED


def test_wrong_content_type_is_415(client: FlaskClient, tmp_path: Path) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    for content_type in ("application/json", "multipart/form-data; boundary=x", "text/plain"):
        response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token, content_type=content_type)
        assert response.status_code == 415, content_type
        assert "text/csv" in response.json["message"]
    assert db.session.scalar(select(Load)) is None


def test_an_empty_body_is_400(client: FlaskClient, uploads: Path) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    response = _submit(client, source.id, b"", token)
    assert response.status_code == 400 and "empty" in response.json["message"]
    assert not stored_files(uploads)


def test_a_header_lacking_a_required_column_is_422_naming_it(client: FlaskClient, uploads: Path) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    body = b"source_record_id,family_name,date_of_birth,gender\nS1,Bennett,2016-03-27,m\n"
    response = _submit(client, source.id, body, token)
    assert response.status_code == 422
    assert "given_name" in response.json["message"]
    assert not stored_files(uploads) and db.session.scalar(select(Load)) is None


@pytest.mark.parametrize(
    "query, named",
    [
        ({"kind": "partial"}, "kind"),
        ({"dry_run": "perhaps"}, "dry_run"),
        ({"file_name": "census.xlsx"}, "xlsx"),
        ({"file_name": "census.jsonl"}, "text/csv"),
    ],
)
def test_bad_parameters_are_422(client: FlaskClient, tmp_path: Path, query: dict[str, str], named: str) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    response = _submit(client, source.id, _csv(tmp_path, [row("S1")]), token, **query)
    assert response.status_code == 422
    assert named in str(response.json)


def test_an_extract_may_exceed_the_global_request_limit_but_not_the_upload_limit(
    app: Flask, client: FlaskClient, tmp_path: Path, uploads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source()
    token = _token(client, *_client(source))
    body = _csv(tmp_path, [row(f"S{number}") for number in range(14_000)])
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]
    response = _submit(client, source.id, body, token, dry_run="true")
    assert response.status_code == 202, response.text
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1000)
    too_large = _submit(client, source.id, body + b"S9,a,b,2016-01-01,m\n", token)
    assert too_large.status_code == 413 and too_large.json["message"]
    assert len(stored_files(uploads)) == 1


def test_the_api_is_in_the_openapi_document(app: Flask) -> None:
    from index_service.extensions import api

    with app.test_request_context():
        spec: dict[str, Any] = api.spec.to_dict()
    assert spec["paths"]["/api/v1/sources/{source_id}/loads"]["post"]["security"] == [
        {"source_system": ["loads:write"]}
    ]
    assert "/api/v1/loads/{load_id}" in spec["paths"] and "/api/v1/loads/{load_id}/report" in spec["paths"]
    assert "/api/v1/oauth/token" in spec["paths"]
    flow = spec["components"]["securitySchemes"]["source_system"]["flows"]["clientCredentials"]
    assert set(flow["scopes"]) == {scope.value for scope in Scope}


# Registering clients.


def test_the_cli_adds_a_client_showing_its_secret_once_and_revokes_it(app: Flask) -> None:
    source = make_source()
    runner = app.test_cli_runner()
    added = runner.invoke(args=["sources", "client", "add", source.name])
    assert added.exit_code == 0, added.output
    values = dict(line.split(":", 1) for line in added.output.splitlines() if line.startswith("client_"))
    client_id, secret = values["client_id"].strip(), values["client_secret"].strip()
    registered = client_by_id(client_id)
    assert registered is not None and registered.source_id == source.id and registered.scope == "loads:write"
    assert registered.check_client_secret(secret) and secret not in _every_stored_value("oauth_clients")
    assert _events(AuditTag.OAUTH_CLIENT_REGISTER)[-1].details["client_id"] == client_id

    unknown = runner.invoke(args=["sources", "client", "add", "No such source"])
    assert unknown.exit_code != 0 and "No data source" in unknown.output
    revoked = runner.invoke(args=["sources", "client", "revoke", client_id])
    assert revoked.exit_code == 0, revoked.output
    db.session.expire_all()
    assert client_by_id(client_id).revoked_at is not None  # type: ignore[union-attr]
    assert runner.invoke(args=["sources", "client", "revoke", client_id]).exit_code != 0


def test_client_ids_are_plain_hex_that_a_command_line_takes_as_an_argument(app: Flask) -> None:
    source = make_source()
    ids = [register_client(source, (Scope.LOADS_WRITE,))[0].client_id for _ in range(64)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", client_id) for client_id in ids), ids
    assert len(set(ids)) == len(ids)


def test_register_client_refuses_an_unknown_scope(app: Flask) -> None:
    from index_service.oauth.operations import ClientError

    with pytest.raises(ClientError, match="unknown scope"):
        register_client(make_source(), ["loads:everything"])
    with pytest.raises(ClientError, match="at least one scope"):
        register_client(make_source("Another source"), [])


def test_repeated_wrong_secrets_lock_the_client_out_for_the_window(app: Flask, client: FlaskClient) -> None:
    registered, secret = _client(make_source())
    other, other_secret = _client(make_source("Leeds health"))
    form = {"grant_type": "client_credentials"}
    for _ in range(app.config["ACCOUNT_LOCKOUT_FAILURES"]):
        assert client.post(TOKEN_URL, data=form, headers=_basic(registered.client_id, "guess")).status_code == 401
    locked = client.post(TOKEN_URL, data=form, headers=_basic(registered.client_id, secret))
    assert locked.status_code == 429 and locked.json["error"] == "temporarily_unavailable"
    assert "Wait 15 minutes" in locked.json["error_description"] and locked.headers["Retry-After"] == "900"
    assert db.session.scalar(select(OAuthToken)) is None
    assert _events(AuditTag.OAUTH_TOKEN_REFUSED)[-1].details["error"] == "temporarily_unavailable"
    _token(client, other, other_secret)  # another client is not held back by this one's failures
    db.session.execute(update(FailedAttempt).values(at=utcnow() - timedelta(minutes=16)))
    _token(client, registered, secret)  # the window has passed
    assert (
        db.session.scalar(
            select(func.count()).select_from(FailedAttempt).where(FailedAttempt.key == client_key(registered.client_id))
        )
        == 0
    )  # a success clears the count


def test_a_wrong_scope_is_not_counted_against_the_client(app: Flask, client: FlaskClient) -> None:
    registered, secret = _client(make_source())
    form = {"grant_type": "client_credentials", "scope": "children:read"}
    for _ in range(app.config["ACCOUNT_LOCKOUT_FAILURES"] + 1):
        assert client.post(TOKEN_URL, data=form, headers=_basic(registered.client_id, secret)).status_code == 400
    _token(client, registered, secret)
