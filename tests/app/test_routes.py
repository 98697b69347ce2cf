"""Every endpoint declares its guard, and none but the public list opens without sign-in."""

from __future__ import annotations

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter

from accreditation.permissions import Permission, Role
from index_service import create_app
from index_service.guards import PUBLIC, guard_for, public
from index_service.scopes import Scope
from tests.factories import make_user, sign_in

# The token endpoint is public in the guard's sense: it authenticates the client itself.
# Signing in through an organisation's identity provider starts and returns before anyone is signed in.
PUBLIC_ENDPOINTS = {
    "auth.login",
    "auth.code",
    "auth.enrol",
    "auth.recovery",
    "health.health",
    "static",
    "govuk_assets",
    "oauth.issue_token",
    "identity.choose",
    "identity.callback",
    "identity.link_self",
}


def _sample_path(rule) -> str:  # type: ignore[no-untyped-def]
    def sample(name: str) -> object:
        if isinstance(rule._converters.get(name), IntegerConverter):
            return 1
        return "ABC" if name != "filename" else "app.css"

    return rule.build({name: sample(name) for name in rule.arguments})[1]


def test_every_endpoint_is_guarded_or_explicitly_public(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        guard = guard_for(app, rule.endpoint)
        assert guard is not None, f"{rule.endpoint} ({rule.rule}) declares no guard"
        if guard == PUBLIC:
            assert rule.endpoint in PUBLIC_ENDPOINTS, f"{rule.endpoint} is public but not on the public list"
        else:
            assert isinstance(guard, Permission | Scope), f"{rule.endpoint} has an unknown guard {guard!r}"


def test_every_guarded_endpoint_refuses_an_anonymous_request(app: Flask, client: FlaskClient) -> None:
    checked = 0
    for rule in app.url_map.iter_rules():
        if guard_for(app, rule.endpoint) == PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            kwargs = {"json": {}} if rule.rule.startswith("/api/") and method == "POST" else {}
            response = client.open(_sample_path(rule), method=method, **kwargs)
            if rule.rule.startswith("/api/"):
                assert response.status_code == 401, f"{method} {rule.rule}"
                assert response.json["message"]
                if isinstance(guard_for(app, rule.endpoint), Scope):
                    assert response.headers["WWW-Authenticate"].startswith("Bearer "), rule.rule
            elif method == "GET":
                assert response.status_code == 302 and response.location.endswith("/sign-in"), rule.rule
            else:
                assert response.status_code in (302, 400), f"{method} {rule.rule}"
            checked += 1
    assert checked >= 5


def _scope_guarded(app: Flask):  # type: ignore[no-untyped-def]
    for rule in app.url_map.iter_rules():
        if isinstance(guard_for(app, rule.endpoint), Scope):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def test_every_scope_guarded_endpoint_refuses_a_session_or_a_bad_token(app: Flask, client: FlaskClient) -> None:
    """Source systems' endpoints take a bearer token only: a signed-in browser session is not one."""
    user = make_user(Role.DATA_ADMIN)
    sign_in(client, user)
    checked = 0
    for rule, method in _scope_guarded(app):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
            response = client.open(
                _sample_path(rule), method=method, headers=headers, data=b"x", content_type="text/csv"
            )
            assert response.status_code == 401, f"{method} {rule.rule} {headers}"
            assert response.headers["WWW-Authenticate"].startswith("Bearer "), rule.rule
            assert response.json["message"]
        checked += 1
    assert checked >= 3


def test_half_signed_in_session_reaches_nothing_guarded(app: Flask, client: FlaskClient) -> None:
    from tests.factories import submit_password

    user = make_user()
    submit_password(client, user.email)
    for rule in app.url_map.iter_rules():
        if guard_for(app, rule.endpoint) == PUBLIC or "GET" not in rule.methods:
            continue
        response = client.get(_sample_path(rule))
        assert response.status_code in (302, 401), rule.rule


def test_public_endpoints_answer_without_sign_in(client: FlaskClient) -> None:
    assert client.get("/health").json == {"status": "ok", "database": "ok"}
    assert client.get("/sign-in").status_code == 200
    for path in ("/static/app.css", "/assets/manifest.json"):
        with client.get(path) as response:
            assert response.status_code == 200, path


def test_a_role_without_the_permission_is_refused_and_audited(client: FlaskClient) -> None:
    from sqlalchemy import select

    from index_service.audit.models import AuditEvent, AuditTag
    from index_service.extensions import db

    user = make_user(Role.USER_ADMIN)
    sign_in(client, user)
    assert client.get("/search").status_code == 403
    assert client.get("/children/ABC").status_code == 403
    response = client.post("/api/v1/children/search", json={"purpose": "case_work", "family_name": "Smith"})
    assert response.status_code == 403 and response.json["message"]
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.ACCESS_DENIED)).all()
    assert len(denied) == 3 and all(event.user_id == user.id for event in denied)
    assert client.get("/", follow_redirects=True).status_code == 200


def test_unknown_page_is_a_404_page(client: FlaskClient) -> None:
    user = make_user()
    sign_in(client, user)
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "Page not found" in response.text


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/sign-in")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def _address_seen(hops: str | None, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    if hops is not None:
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", hops)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})

    @app.route("/_test/address")
    @public
    def address() -> str:
        return request.remote_addr or ""

    return app.test_client().get("/_test/address", headers={"X-Forwarded-For": "203.0.113.9"}).text


def test_client_address_comes_from_a_proxy_only_when_trusted(
    migrated_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = migrated_app.config["SQLALCHEMY_DATABASE_URI"]
    assert _address_seen(None, url, monkeypatch) == "127.0.0.1"
    assert _address_seen("1", url, monkeypatch) == "203.0.113.9"
