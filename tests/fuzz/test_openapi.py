"""Every operation of the OpenAPI document, fuzzed by schemathesis as each kind of caller: no server errors.

Cases come from the document the app serves, valid ones and invalid ones, and each is sent
in-process to the real app on the test database as every caller: nobody, a practitioner and an
auditor (each with a signed-in session), and a source system (a bearer token). Each answer must
be below 500. Half the cases name the callers' own child, user, organisation, data source and
load, so they reach past the "no such record" answers. The run is bounded and derandomized: the
same cases every time, split into shards that pytest-xdist can run side by side.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accreditation.permissions import Role
from index_service.extensions import db
from index_service.oauth.operations import register_client
from index_service.scopes import Scope
from tests.factories import make_child, make_user, sign_in
from tests.sources.loads import make_source, row, uploads_kept_in

pytestmark = pytest.mark.fuzz

EXAMPLES = 25  # a mode, an operation
SHARDS = 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Caller:
    role: str
    client: FlaskClient
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Tally:
    operations: list[str] = field(default_factory=list)
    cases: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    nonconforming: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def uploads(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Loads the fuzzer submits are queued, never run, and their files go to a throwaway folder."""
    return uploads_kept_in(tmp_path / "uploads", app, monkeypatch)


@pytest.fixture(autouse=True)
def _no_lockouts(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every caller is on one address: lockouts would answer most cases 429 before the operation read them."""
    monkeypatch.setitem(app.config, "ADDRESS_LOCKOUT_FAILURES", 1_000_000)
    monkeypatch.setitem(app.config, "ACCOUNT_LOCKOUT_FAILURES", 1_000_000)


def _signed_in(app: Flask, role: Role) -> tuple[FlaskClient, Any]:
    http = app.test_client()
    user = make_user(role)
    sign_in(http, user)
    return http, user


def _source_system(app: Flask) -> tuple[Caller, dict[str, Any]]:
    """A data source's client with a token, and one load of its own (queued, never run)."""
    source = make_source()
    registered, secret = register_client(source, (Scope.LOADS_WRITE,))
    db.session.commit()
    http = app.test_client()
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    issued = http.post(
        "/api/v1/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"Bearer {issued.json['access_token']}"}
    extract = ",".join(row("R1")) + "\n" + ",".join(row("R1").values()) + "\n"
    submitted = http.post(
        f"/api/v1/sources/{source.id}/loads", data=extract.encode(), content_type="text/csv", headers=bearer
    )
    assert submitted.status_code == 202, submitted.text
    return Caller("source system", http, bearer), {"source_id": source.id, "load_id": submitted.json["load_id"]}


def _callers(app: Flask) -> tuple[list[Caller], dict[str, Any]]:
    child = make_child()
    practitioner, _ = _signed_in(app, Role.PRACTITIONER)
    auditor_client, auditor = _signed_in(app, Role.AUDITOR)
    system, theirs = _source_system(app)
    own = {"index_id": child.index_id, "user_id": auditor.id, "organisation_id": auditor.organisation_id, **theirs}
    callers = [
        Caller("nobody", app.test_client()),
        Caller("practitioner", practitioner),
        Caller("auditor", auditor_client),
        system,
    ]
    return callers, own


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def _send(case: Any, caller: Caller, tally: Tally) -> None:
    # Buffered: a streamed body (a load report) is read inside the request's own context, as a server reads it.
    response = case.call(app=caller.client.application, session=caller.client, headers=caller.headers, buffered=True)
    tally.statuses[caller.role, response.status_code] += 1
    label = f"{caller.role}: {case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 500:
        tally.server_errors.append(f"{label}\n    {case.as_curl_command(headers=caller.headers)}")
        return
    try:
        case.validate_response(response, checks=CHECKS, headers=caller.headers)
    except (AssertionError, FailureGroup) as failure:
        tally.nonconforming.append(f"{label}\n    {case.as_curl_command(headers=caller.headers)}\n{failure}")


def _fuzz(operation: Any, mode: GenerationMode, callers: list[Caller], own: dict[str, Any], tally: Tally) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), use_own=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, use_own: bool) -> None:
        if use_own:
            for name in case.path_parameters or {}:
                case.path_parameters[name] = own.get(name, case.path_parameters[name])
        tally.cases += 1
        for caller in callers:
            _send(case, caller, tally)

    try:
        run()
    except Unsatisfiable:
        # A string in a path has no invalid values: every text is a string, so there are no negative cases.
        assert mode is GenerationMode.NEGATIVE, f"no valid cases for {operation.label}"


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_operation_gives_a_server_error(
    app: Flask, shard: int, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alembic's logging set-up disables the loggers that exist when the migrations run; the error's own is wanted.
    monkeypatch.setattr(logging.getLogger("index_service.errors"), "disabled", False)
    caplog.set_level(logging.ERROR)
    callers, own = _callers(app)
    reader = next(caller for caller in callers if caller.role == "practitioner")
    schema = schemathesis.openapi.from_dict(reader.client.get("/api/v1/openapi.json").json)
    operations = sorted(_operations(schema), key=lambda operation: operation.label)
    assert operations, "the OpenAPI document lists no operations"
    tally = Tally()
    for operation in operations[shard::SHARDS]:
        tally.operations.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, callers, own, tally)
    requests = sum(tally.statuses.values())
    print(
        f"\nshard {shard}: {len(tally.operations)} operations, {tally.cases} cases, {requests} requests, "
        f"{len(tally.server_errors)} server errors, {len(tally.nonconforming)} answers unlike the document; "
        f"statuses {sorted(tally.statuses.items())}"
    )
    assert not tally.server_errors, "\n".join(tally.server_errors[:10]) + "\n" + caplog.text[:5000]
    assert not tally.nonconforming, "\n".join(tally.nonconforming[:5])
