"""Stored extracts: kept only while a load needs them, capped per organisation, never left by a
failed upload, swept when they expire; an operator's own file is never touched."""

from __future__ import annotations

import base64
import io
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from accreditation.permissions import Role
from index_service.auth.models import User
from index_service.config import ConfigError, load_settings
from index_service.database import utcnow
from index_service.extensions import db
from index_service.load_models import Load, LoadStatus
from index_service.oauth.operations import register_client
from index_service.organisation_models import Organisation
from index_service.scopes import Scope
from index_service.sources import jobs
from index_service.sources import uploads as uploads_module
from index_service.sources.loading import run
from index_service.sources.models import DataSource
from index_service.sources.uploads import ORPHAN_GRACE, sweep
from tests.factories import make_organisation, make_user, page_csrf, sign_in
from tests.sources.loads import TODAY, load_file, make_source, row, stored_files, uploads_kept_in, write_extract

QUOTA = 10_000


@pytest.fixture(autouse=True)
def uploads(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads go to the test's own folder, and loads run only when a test runs them."""
    folder = uploads_kept_in(tmp_path / "uploads", app, monkeypatch)
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA_BYTES", QUOTA)
    monkeypatch.setitem(app.config, "UPLOAD_RETENTION_HOURS", 24)
    return folder


@pytest.fixture
def organisation(app: Flask) -> Organisation:
    return make_organisation()


@pytest.fixture
def source(organisation: Organisation) -> DataSource:
    return make_source(organisation=organisation)


@pytest.fixture
def admin(organisation: Organisation) -> User:
    return make_user(Role.DATA_ADMIN, organisation=organisation)


@pytest.fixture
def token(client: FlaskClient, source: DataSource) -> str:
    registered, secret = register_client(source, (Scope.LOADS_WRITE,))
    db.session.commit()
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    return str(response.json["access_token"])


def _extract(tmp_path: Path, *ids: str, name: str = "census.csv") -> bytes:
    return write_extract(tmp_path / name, [row(source_record_id) for source_record_id in ids]).read_bytes()


def _submit(client: FlaskClient, source: DataSource, body: bytes, token: str, **query: str) -> TestResponse:
    return client.post(
        f"/api/v1/sources/{source.id}/loads",
        data=body,
        content_type="text/csv",
        headers={"Authorization": f"Bearer {token}"},
        query_string=query,
    )


def _upload(
    client: FlaskClient, source: DataSource, content: bytes, *, action: str = "load", name: str = "census.csv"
) -> TestResponse:
    path = f"/data/sources/{source.id}/loads/new"
    data = {
        "kind": "delta",
        "action": action,
        "extract": FileStorage(io.BytesIO(content), name),
        "csrf_token": page_csrf(client, path),
    }
    boundary, body = encode_multipart(data)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _accepted(response: TestResponse) -> Load:
    assert response.status_code in (202, 302), response.text
    load_id = response.json["load_id"] if response.status_code == 202 else int(response.location.rsplit("/", 1)[1])
    db.session.expire_all()
    load = db.session.get(Load, load_id)
    assert load is not None
    return load


def _fail_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(run, "_apply_in_turn", broken)


def _age(path: Path, by: timedelta) -> None:
    then = time.time() - by.total_seconds()
    os.utime(path, (then, then))


def _loads() -> int:
    return db.session.scalar(select(func.count()).select_from(Load)) or 0


# Deleted once the load no longer needs it.


def test_a_completed_load_deletes_its_upload_from_the_page_and_the_api(
    client: FlaskClient, admin: User, source: DataSource, token: str, tmp_path: Path, uploads: Path
) -> None:
    from_api = _accepted(_submit(client, source, _extract(tmp_path, "A1"), token))
    sign_in(client, admin)
    from_page = _accepted(_upload(client, source, _extract(tmp_path, "P1")))
    stored = stored_files(uploads)
    assert sorted([from_api.stored_path, from_page.stored_path]) == [str(path) for path in stored]
    assert all(path.parent == uploads / str(source.organisation_id) for path in stored)
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in stored)
    for load in (from_api, from_page):
        run.run_load(load, today=TODAY)
        assert load.status is LoadStatus.COMPLETED and load.stored_path is None
    assert stored_files(uploads) == []


def test_the_operators_own_file_is_never_deleted(source: DataSource, tmp_path: Path, uploads: Path) -> None:
    """`sources load FILE` runs from the operator's file, which is theirs, not the service's."""
    mine = write_extract(tmp_path / "mine.csv", [row("C1")])
    load = load_file(source, mine)
    assert load.status is LoadStatus.COMPLETED and load.stored_path == str(mine.resolve())
    _age(mine, timedelta(days=30))
    assert sweep().deleted == 0
    assert mine.read_bytes().startswith(b"source_record_id")


def test_a_dry_runs_file_is_kept_to_load_for_real_then_deleted_by_the_real_load(
    client: FlaskClient, admin: User, source: DataSource, token: str, tmp_path: Path, uploads: Path
) -> None:
    sign_in(client, admin)
    dry = _accepted(_upload(client, source, _extract(tmp_path, "D1"), action="check"))
    run.run_load(dry, today=TODAY)
    [kept] = stored_files(uploads)
    assert dry.stored_path == str(kept)
    page = client.get(f"/data/loads/{dry.id}").text
    assert re.search(r"The checked file is kept until \d+ \w+ \d{4} at \d\d:\d\d UTC", page)
    status = client.get(f"/api/v1/loads/{dry.id}", headers={"Authorization": f"Bearer {token}"}).json
    assert status["file_kept_until"].startswith(str((utcnow() + timedelta(hours=24)).date()))
    assert sweep().kept == 1

    real = _accepted(client.post(f"/data/loads/{dry.id}/load", data={"csrf_token": page_csrf(client, "/data")}))
    assert real.stored_path == str(kept)
    run.run_load(real, today=TODAY)
    db.session.expire_all()
    assert stored_files(uploads) == [] and real.stored_path is None and dry.stored_path is None


def test_a_dry_runs_file_expires_and_then_cannot_be_loaded_for_real(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path, uploads: Path
) -> None:
    sign_in(client, admin)
    dry = _accepted(_upload(client, source, _extract(tmp_path, "D1"), action="check"))
    run.run_load(dry, today=TODAY)
    assert sweep(utcnow() + timedelta(hours=23)).deleted == 0
    swept = sweep(utcnow() + timedelta(hours=24, seconds=1))
    assert swept.deleted == 1 and swept.freed > 0 and stored_files(uploads) == []
    db.session.expire_all()
    assert dry.stored_path is None
    refused = client.post(f"/data/loads/{dry.id}/load", data={"csrf_token": page_csrf(client, "/data")})
    assert refused.status_code == 302
    assert "The file is no longer stored: upload it again" in client.get(refused.location).text
    assert _loads() == 1


def test_a_failed_loads_file_is_kept_for_resuming_then_swept_and_a_new_copy_resumes_it(
    client: FlaskClient,
    admin: User,
    source: DataSource,
    token: str,
    tmp_path: Path,
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _extract(tmp_path, "F1", "F2")
    load = _accepted(_submit(client, source, body, token))
    with monkeypatch.context() as patch:
        _fail_the_next_run(patch)
        with pytest.raises(RuntimeError):
            run.run_load(load, today=TODAY)
    assert load.status is LoadStatus.FAILED and len(stored_files(uploads)) == 1
    sign_in(client, admin)
    assert "The file is kept until" in client.get(f"/data/loads/{load.id}").text
    assert sweep(utcnow() + timedelta(hours=23)).deleted == 0

    assert sweep(utcnow() + timedelta(hours=25)).deleted == 1 and stored_files(uploads) == []
    db.session.expire_all()
    assert load.stored_path is None
    assert (
        "The file is no longer stored: upload the same file again to resume"
        in client.get(f"/data/loads/{load.id}").text
    )
    refused = client.post(f"/data/loads/{load.id}/resume", data={"csrf_token": page_csrf(client, "/data")})
    assert "The file is no longer stored" in client.get(refused.location).text
    db.session.expire_all()
    assert load.status is LoadStatus.FAILED

    again = _submit(client, source, body, token)  # the same file, sent again: it resumes the same load
    assert again.status_code == 202 and again.json["load_id"] == load.id and again.json["repeat"] is True
    db.session.expire_all()
    [copy] = stored_files(uploads)
    assert load.stored_path == str(copy) and load.status is LoadStatus.QUEUED
    run.run_load(load, today=TODAY)
    assert load.status is LoadStatus.COMPLETED and load.rows_done == 2
    assert stored_files(uploads) == []


def test_loading_a_dry_run_for_real_resumes_a_stopped_load_of_the_same_file_whose_copy_expired(
    client: FlaskClient,
    admin: User,
    source: DataSource,
    token: str,
    tmp_path: Path,
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _extract(tmp_path, "F1", "F2")
    stopped = _accepted(_submit(client, source, body, token))
    with monkeypatch.context() as patch:
        _fail_the_next_run(patch)
        with pytest.raises(RuntimeError):
            run.run_load(stopped, today=TODAY)
    _age(Path(stopped.stored_path or ""), timedelta(hours=25))
    assert sweep().deleted == 1
    dry = _accepted(_submit(client, source, body, token, dry_run="true"))
    run.run_load(dry, today=TODAY)
    [checked] = stored_files(uploads)

    sign_in(client, admin)
    again = client.post(f"/data/loads/{dry.id}/load", data={"csrf_token": page_csrf(client, "/data")})
    assert again.location.endswith(f"/data/loads/{stopped.id}")
    db.session.expire_all()
    assert stopped.stored_path == str(checked) and stopped.status is LoadStatus.QUEUED
    run.run_load(stopped, today=TODAY)
    assert stopped.status is LoadStatus.COMPLETED and stored_files(uploads) == []


def test_with_no_retention_a_failed_loads_file_goes_at_once(
    app: Flask,
    client: FlaskClient,
    source: DataSource,
    token: str,
    tmp_path: Path,
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "UPLOAD_RETENTION_HOURS", 0)
    load = _accepted(_submit(client, source, _extract(tmp_path, "F1"), token))
    _fail_the_next_run(monkeypatch)
    with pytest.raises(RuntimeError):
        run.run_load(load, today=TODAY)
    assert load.status is LoadStatus.FAILED and load.stored_path is None and stored_files(uploads) == []


def test_the_sweep_keeps_a_queued_loads_file_however_old_and_deletes_a_forgotten_one(
    app: Flask, client: FlaskClient, source: DataSource, token: str, tmp_path: Path, uploads: Path
) -> None:
    queued = _accepted(_submit(client, source, _extract(tmp_path, "Q1"), token))
    _age(Path(queued.stored_path or ""), timedelta(days=30))
    folder = uploads / str(source.organisation_id)
    crashed, writing, legacy = folder / "crashed.csv", folder / "writing.csv", uploads / "before-folders.csv"
    for path in (crashed, writing, legacy):
        path.write_bytes(b"source_record_id,given_name\n")
    _age(crashed, ORPHAN_GRACE + timedelta(seconds=1))
    _age(legacy, ORPHAN_GRACE + timedelta(seconds=1))

    result = app.test_cli_runner().invoke(args=["sources", "uploads", "sweep"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 stored extract(s)" in result.output and "kept 2" in result.output
    assert stored_files(uploads) == sorted([Path(queued.stored_path or ""), writing])


def test_sources_work_says_which_loads_need_their_file_again(
    app: Flask,
    client: FlaskClient,
    source: DataSource,
    token: str,
    tmp_path: Path,
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load = _accepted(_submit(client, source, _extract(tmp_path, "F1"), token))
    with monkeypatch.context() as patch:
        _fail_the_next_run(patch)
        with pytest.raises(RuntimeError):
            run.run_load(load, today=TODAY)
    sweep(utcnow() + timedelta(hours=25))
    result = app.test_cli_runner().invoke(args=["sources", "work"])
    assert "its file is no longer stored; send the same file again to resume it" in result.output
    assert "0 load(s) finished, 1 could not be" in result.output
    db.session.expire_all()
    assert load.status is LoadStatus.FAILED


# A quota per organisation.


def test_the_api_refuses_an_upload_over_the_quota_with_the_figures(
    client: FlaskClient, source: DataSource, token: str, tmp_path: Path, uploads: Path
) -> None:
    first = _extract(tmp_path, *[f"S{n}" for n in range(70)])
    assert 5_000 < len(first) < QUOTA
    assert _submit(client, source, first, token, dry_run="true").status_code == 202
    stored = stored_files(uploads)
    second = _extract(tmp_path, *[f"T{n}" for n in range(70)], name="second.csv")
    refused = _submit(client, source, second, token)
    assert refused.status_code == 413
    assert refused.json["message"] == (
        "Your organisation's stored extracts would go over its limit of 9.8 KB: "
        f"{uploads_module.size_text(len(first))} is stored now for loads that are waiting, running, stopped or "
        f"checked, and this file is {uploads_module.size_text(len(second))}. Send it again once those loads have "
        "finished or their files have expired."
    )
    assert stored_files(uploads) == stored and _loads() == 1


def test_the_page_refuses_an_upload_over_the_quota_and_other_organisations_do_not_count(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path, uploads: Path
) -> None:
    other = uploads / str(make_organisation().id)
    other.mkdir()
    (other / "theirs.csv").write_bytes(b"x" * QUOTA)
    sign_in(client, admin)
    first = _extract(tmp_path, *[f"S{n}" for n in range(70)])
    assert _upload(client, source, first, action="check").status_code == 302
    refused = _upload(client, source, _extract(tmp_path, *[f"T{n}" for n in range(70)], name="second.csv"))
    assert refused.status_code == 413
    assert "There is a problem" in refused.text
    assert "would go over its limit of 9.8 KB" in refused.text and "this file is at least" in refused.text
    assert len(stored_files(uploads / str(source.organisation_id))) == 1 and _loads() == 1


# Nothing left behind by an upload that fails.


def test_no_failed_api_upload_leaves_a_file(
    app: Flask,
    client: FlaskClient,
    source: DataSource,
    token: str,
    tmp_path: Path,
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA_BYTES", 10 * 1024**2)
    body = _extract(tmp_path, "S1")
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/sources/{source.id}/loads"
    nested = b'{"source_record_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    answers = [
        _submit(client, source, b"", token).status_code,  # empty
        _submit(client, source, b"no,header\n", token).status_code,  # a header that cannot load
        client.post(path, data=nested, content_type="application/x-ndjson", headers=headers).status_code,
        # The sender goes away: fewer bytes than it announced.
        client.post(
            path,
            data=body,
            content_type="text/csv",
            headers=headers,
            environ_overrides={"CONTENT_LENGTH": str(len(body) + 1000)},
        ).status_code,
    ]
    assert answers[:2] == [400, 422] and answers[3] == 400
    assert answers[2] in (400, 422, 500)  # however the parser answers a first line nested 100,000 deep
    with monkeypatch.context() as patch:
        patch.setitem(app.config, "UPLOAD_MAX_BYTES", 100)
        assert _submit(client, source, body, token).status_code == 413
    with monkeypatch.context() as patch:

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the parser broke")

        patch.setattr(jobs, "check_header", broken)
        assert _submit(client, source, body, token).status_code == 500
    with monkeypatch.context() as patch:
        # The request's one commit fails after the load was begun: the load and its file both go.
        def failing_commit() -> None:
            raise OperationalError("COMMIT", {}, Exception("the database went away"))

        patch.setattr(db.session, "commit", failing_commit)
        assert _submit(client, source, body, token).status_code == 503
    assert stored_files(uploads) == [] and _loads() == 0


def test_no_failed_page_upload_leaves_a_file(
    app: Flask,
    client: FlaskClient,
    admin: User,
    source: DataSource,
    tmp_path: Path,
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA_BYTES", 10 * 1024**2)
    sign_in(client, admin)
    body = _extract(tmp_path, "S1")
    assert _upload(client, source, b"no,header\n").status_code == 200
    nested = b'{"source_record_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    assert _upload(client, source, nested, name="deep.jsonl").status_code in (200, 500)
    with monkeypatch.context() as patch:
        patch.setitem(app.config, "UPLOAD_MAX_BYTES", 100)
        assert _upload(client, source, body).status_code == 413
    with monkeypatch.context() as patch:

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the database broke")

        patch.setattr(run, "begin_load", broken)
        assert _upload(client, source, body).status_code == 500
    assert stored_files(uploads) == [] and _loads() == 0


# Settings.


def test_the_upload_settings_are_read_and_checked() -> None:
    base = {"CHILD_INDEX_ENV": "testing"}
    settings = load_settings("/nonexistent", base)
    assert (settings.upload_quota_bytes, settings.upload_retention_hours) == (10 * 1024**3, 24)
    assert settings.flask_config()["UPLOAD_QUOTA_BYTES"] == 10 * 1024**3
    chosen = load_settings(
        "/nonexistent",
        {**base, "UPLOAD_QUOTA_BYTES": "5000", "UPLOAD_MAX_BYTES": "5000", "UPLOAD_RETENTION_HOURS": "0"},
    )
    assert (chosen.upload_quota_bytes, chosen.upload_retention_hours) == (5000, 0)
    assert load_settings("/nonexistent", {**base, "UPLOAD_MAX_BYTES": str(20 * 1024**3)}).upload_quota_bytes == (
        20 * 1024**3
    )
    with pytest.raises(ConfigError, match="UPLOAD_QUOTA_BYTES must be at least UPLOAD_MAX_BYTES"):
        load_settings("/nonexistent", {**base, "UPLOAD_QUOTA_BYTES": "1000", "UPLOAD_MAX_BYTES": "5000"})
    with pytest.raises(ConfigError, match="UPLOAD_RETENTION_HOURS must be at least 0"):
        load_settings("/nonexistent", {**base, "UPLOAD_RETENTION_HOURS": "-1"})
    with pytest.raises(ConfigError, match="UPLOAD_QUOTA_BYTES must be a whole number"):
        load_settings("/nonexistent", {**base, "UPLOAD_QUOTA_BYTES": "lots"})
