"""Extracts with what no reader, column or hash can take: the file refused with a 422 when its
first line cannot be read at all, and otherwise each such row rejected with its reason while the
load goes on, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from index_service.extensions import db
from index_service.load_models import Load, LoadRow, LoadStatus, QuarantinedRow, RowOutcome
from index_service.oauth.operations import register_client
from index_service.scopes import Scope
from index_service.sources.loading.run import run_load
from index_service.sources.models import DataSource
from tests.sources.loads import TODAY, make_source, row, stored_files, uploads_kept_in

NDJSON = "application/x-ndjson"


@pytest.fixture(autouse=True)
def uploads(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Loads run only when a test runs them, and uploads go to a throwaway folder."""
    return uploads_kept_in(tmp_path / "uploads", app, monkeypatch)


def _submit(http: FlaskClient, body: bytes, content_type: str) -> tuple[DataSource, TestResponse]:
    source = make_source()
    registered, secret = register_client(source, (Scope.LOADS_WRITE,))
    db.session.commit()
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    token = http.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    ).json["access_token"]
    response = http.post(
        f"/api/v1/sources/{source.id}/loads",
        data=body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {token}"},
    )
    return source, response


def _loaded(http: FlaskClient, body: bytes, content_type: str) -> Load:
    _, response = _submit(http, body, content_type)
    assert response.status_code == 202, response.text
    load = db.session.get(Load, response.json["load_id"])
    run_load(load, today=TODAY)
    assert load.status is LoadStatus.COMPLETED, load.error
    return load


def _reasons(load: Load) -> dict[int, list[str]]:
    quarantined = db.session.scalars(select(QuarantinedRow).where(QuarantinedRow.load_id == load.id))
    return {entry.row_number: entry.reasons for entry in quarantined}


def _report(load: Load) -> dict[int, tuple[str | None, RowOutcome]]:
    lines = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id))
    return {line.row_number: (line.source_record_id, line.outcome) for line in lines}


def test_an_ndjson_extract_whose_first_line_nests_100000_deep_is_a_422(client: FlaskClient, uploads: Path) -> None:
    body = b'{"source_record_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + json.dumps(row("R1")).encode()
    _, response = _submit(client, body, NDJSON)
    assert response.status_code == 422
    assert response.json["message"] == (
        "The first line cannot be read as a JSON object: line is nested too deeply to read"
    )
    assert db.session.scalar(select(Load)) is None and not stored_files(uploads)


def test_ndjson_rows_no_column_can_hold_are_rejected_with_reasons_and_the_load_goes_on(client: FlaskClient) -> None:
    lines = [
        json.dumps(row("R1")),
        '{"source_record_id": "R2", "given_name": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps(row("R3", family_name="\ud800Khan")),  # written as the escape \ud800
        json.dumps(row("R4", family_name="Kh\x00an")),  # written as the escape \u0000
        json.dumps(row("R5")).replace('"Oliver"', "1e400"),
        json.dumps(row("R6")).replace('"Oliver"', "9" * 5000),
        json.dumps(row("R7")).replace('"Oliver"', "NaN"),
        json.dumps(row("R8" * 40)),
        json.dumps(row("R9\x00")),
        json.dumps(row("R10", given_name=[[["Oliver"]]])),
    ]
    load = _loaded(client, "\n".join(lines).encode() + b"\n", NDJSON)
    reasons = _reasons(load)
    assert set(reasons) == set(range(2, 11)), "every row but the first is rejected"
    assert reasons[2][0] == "line is nested too deeply to read"  # then each required field, missing
    assert reasons[3] == ["family_name: invalid UTF-8 (bytes that are not UTF-8 were replaced)"]
    assert "family_name: contains a NUL byte" in reasons[4]
    assert reasons[5] == ["given_name: is a number too large to read"]
    assert reasons[6] == [
        "given_name: is 5000 characters long; at most 100 are allowed",
        f"given_name: {'9' * 39}\u2026 must contain at least one letter",
    ]
    assert reasons[7][0].startswith("line is not valid JSON: NaN is not a JSON value")
    assert reasons[8] == ["source_record_id: is 80 characters long; at most 64 are allowed"]
    assert "source_record_id: contains a NUL byte" in reasons[9]
    assert reasons[10] == ["given_name: is a list or object, not a single value"]
    report = _report(load)
    assert report[1] == ("R1", RowOutcome.CREATED)
    assert report[8] == (None, RowOutcome.REJECTED) and report[9] == (None, RowOutcome.REJECTED)
    assert report[3] == ("R3", RowOutcome.REJECTED)


def test_csv_rows_no_column_can_hold_are_rejected_with_reasons_and_the_load_goes_on(client: FlaskClient) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(row("R1")))
    writer.writeheader()
    for values in (row("R1"), row("R2" * 40), row("R3\x00"), row("R4", family_name="KHAN")):
        writer.writerow(values)
    body = text.getvalue().encode().replace(b"KHAN", b"\xed\xa0\x80Khan")  # the UTF-8 form of a lone surrogate
    load = _loaded(client, body, "text/csv")
    reasons = _reasons(load)
    assert reasons[2] == ["source_record_id: is 80 characters long; at most 64 are allowed"]
    assert "source_record_id: contains a NUL byte" in reasons[3]
    assert reasons[4] == ["family_name: invalid UTF-8 (bytes that are not UTF-8 were replaced)"]
    assert _report(load) == {
        1: ("R1", RowOutcome.CREATED),
        2: (None, RowOutcome.REJECTED),
        3: (None, RowOutcome.REJECTED),
        4: ("R4", RowOutcome.REJECTED),
    }
