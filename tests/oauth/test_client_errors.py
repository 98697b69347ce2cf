"""The token endpoint gives one answer to every client it refuses, so it is no oracle of client ids.

Unknown, revoked and wrong-secret clients (and a client whose data source is inactive) all get
invalid_client, the same description, 401 and the same WWW-Authenticate, by HTTP Basic or in the form.
"""

from __future__ import annotations

import base64
import itertools

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from index_service.audit.models import AuditEvent, AuditTag
from index_service.extensions import db
from index_service.oauth.models import OAuthClient, OAuthToken
from index_service.oauth.operations import register_client, revoke_client
from index_service.oauth.server import CLIENT_REFUSED
from index_service.scopes import Scope
from index_service.sources.registry import set_active
from tests.sources.loads import make_source

TOKEN_URL = "/api/v1/oauth/token"  # noqa: S105 - a path
_serial = itertools.count(1)


def _registered() -> tuple[OAuthClient, str]:
    registered, secret = register_client(make_source(f"Source {next(_serial)}"), (Scope.LOADS_WRITE,))
    db.session.commit()
    return registered, secret


def _ask(http: FlaskClient, client_id: str, secret: str, how: str) -> TestResponse:
    form = {"grant_type": "client_credentials"}
    if how == "basic":
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return http.post(TOKEN_URL, data=form, headers={"Authorization": f"Basic {basic}"})
    return http.post(TOKEN_URL, data={**form, "client_id": client_id, "client_secret": secret})


def _refusals(http: FlaskClient, how: str) -> dict[str, TestResponse]:
    """The same request for an unknown client, a revoked one, a wrong secret and an inactive source's client."""
    revoked, revoked_secret = _registered()
    revoke_client(revoked)
    db.session.commit()
    good, secret = _registered()
    inactive, inactive_secret = _registered()
    set_active(inactive.source, False)
    db.session.commit()
    return {
        "unknown": _ask(http, "0" * 32, secret, how),
        "revoked": _ask(http, revoked.client_id, revoked_secret, how),
        "wrong secret": _ask(http, good.client_id, secret + "x", how),
        "inactive source": _ask(http, inactive.client_id, inactive_secret, how),
    }


@pytest.mark.parametrize("how", ["basic", "post"])
def test_unknown_revoked_and_wrong_secret_clients_get_one_and_the_same_answer(client: FlaskClient, how: str) -> None:
    answers = _refusals(client, how)
    for case, response in answers.items():
        assert response.status_code == 401, (case, response.text)
        assert response.json == {"error": "invalid_client", "error_description": CLIENT_REFUSED}, case
        assert response.headers["WWW-Authenticate"].startswith('Basic error="invalid_client"'), case
    assert len({(r.status_code, r.get_data(), r.headers["WWW-Authenticate"]) for r in answers.values()}) == 1
    assert db.session.scalar(select(OAuthToken)) is None


def test_the_audit_trail_still_names_the_client_each_refusal_claimed(client: FlaskClient) -> None:
    """The caller learns nothing, but the auditors see every refusal and the client id it claimed."""
    answers = _refusals(client, "basic")
    refused = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.OAUTH_TOKEN_REFUSED)).all()
    assert len(refused) == len(answers)
    assert all(event.details["error"] == "invalid_client" for event in refused)
    assert refused[0].details["client_id"] == "0" * 32


def test_a_good_client_still_gets_a_token_and_other_errors_keep_their_own_answers(client: FlaskClient) -> None:
    registered, secret = _registered()
    assert _ask(client, registered.client_id, secret, "basic").status_code == 200
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    scope = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "scope": "nonsense"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert scope.status_code == 400 and scope.json["error"] == "invalid_scope"
