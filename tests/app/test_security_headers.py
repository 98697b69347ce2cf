"""The security headers and the CSRF check of each environment, through the app built as each runs it.

Production sends HSTS and a `same-origin` referrer policy, and accepts a form over HTTPS only with
its token and a Referer from its own origin. Development and the tests serve plain HTTP: no HSTS.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from index_service import create_app
from index_service.auth.totp import code_at
from index_service.errors import CSRF_MESSAGE
from index_service.extensions import db
from tests.factories import PASSWORD, csrf_token, make_user

HSTS = "max-age=31536000; includeSubDomains"
ORIGIN = "https://childindex.example"
AppIn = Callable[..., Flask]


@pytest.fixture
def app_in(committed_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppIn]:
    """An app built from the environment as a deployment's is, on the test database and with its keys."""
    built: list[Flask] = []

    def build(environment: str, **settings: str) -> Flask:
        values = {
            "CHILD_INDEX_ENV": environment,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": committed_app.config["SQLALCHEMY_DATABASE_URI"],
            "TOTP_ENCRYPTION_KEY": committed_app.config["TOTP_ENCRYPTION_KEY"],
            "IDENTITY_PROVIDER_KEYS": ",".join(committed_app.config["IDENTITY_PROVIDER_KEYS"]),
            **settings,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        built.append(create_app())
        return built[-1]

    yield build
    for app in built:
        with app.app_context():
            db.engine.dispose()


def _person() -> tuple[str, str]:
    """A person who may sign in, committed; their email and two-factor secret.

    The test's own session lets go of the database (SQLite takes BEGIN IMMEDIATE) for the app under test.
    """
    user = make_user()
    email, secret = user.email, user.totp_secret
    assert secret is not None
    db.session.remove()
    return email, secret


def _sign_in_form(client: FlaskClient, email: str, referer: str | None) -> tuple[int, str]:
    token = csrf_token(client.get(f"{ORIGIN}/sign-in").text)
    headers = {"Referer": referer} if referer else {}
    response = client.post(
        f"{ORIGIN}/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token}, headers=headers
    )
    return response.status_code, response.text


def test_production_sends_hsts_and_a_same_origin_referrer_policy(app_in: AppIn) -> None:
    client = app_in("production").test_client()
    for path in ("/sign-in", "/health", "/static/app.css"):
        with client.get(f"{ORIGIN}{path}") as response:
            assert response.status_code == 200, path
            assert response.headers["Strict-Transport-Security"] == HSTS, path
            assert response.headers["Referrer-Policy"] == "same-origin", path


@pytest.mark.parametrize("environment", ["development", "testing"])
def test_local_environments_send_no_hsts_over_http(app_in: AppIn, environment: str) -> None:
    response = app_in(environment).test_client().get("http://localhost/sign-in")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_the_test_suite_app_sends_the_same_referrer_policy_and_no_hsts(client: FlaskClient) -> None:
    response = client.get("/sign-in")
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_production_signs_in_with_a_same_origin_referer(app_in: AppIn) -> None:
    email, secret = _person()
    client = app_in("production").test_client()
    status, _ = _sign_in_form(client, email, f"{ORIGIN}/sign-in")
    assert status == 302
    token = csrf_token(client.get(f"{ORIGIN}/sign-in/code").text)
    response = client.post(
        f"{ORIGIN}/sign-in/code",
        data={"code": code_at(secret, time.time()), "csrf_token": token},
        headers={"Referer": f"{ORIGIN}/sign-in/code"},
    )
    assert response.status_code == 302
    assert client.get(f"{ORIGIN}/search").status_code == 200
    assert client.get_cookie("__Host-child_index_session", domain="childindex.example") is not None


@pytest.mark.parametrize(
    "referer",
    [
        None,
        "https://elsewhere.example/sign-in",
        "http://childindex.example/sign-in",
        "https://childindex.example:8443/sign-in",
    ],
)
def test_production_refuses_a_form_without_a_referer_from_its_own_origin(app_in: AppIn, referer: str | None) -> None:
    email, _ = _person()
    client = app_in("production").test_client()
    status, text = _sign_in_form(client, email, referer)
    assert status == 400 and CSRF_MESSAGE in text.replace("&#39;", "'")


def test_production_refuses_a_same_origin_form_without_its_token(app_in: AppIn) -> None:
    email, _ = _person()
    client = app_in("production").test_client()
    client.get(f"{ORIGIN}/sign-in")
    response = client.post(
        f"{ORIGIN}/sign-in", data={"email": email, "password": PASSWORD}, headers={"Referer": f"{ORIGIN}/sign-in"}
    )
    assert response.status_code == 400


def test_behind_a_trusted_proxy_the_forwarded_scheme_makes_the_request_https(app_in: AppIn) -> None:
    """The proxy speaks HTTP to the app; X-Forwarded-Proto, trusted for one hop, makes the CSRF check strict."""
    email, _ = _person()
    client = app_in("production", TRUSTED_PROXY_HOPS="1").test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    token = csrf_token(client.get("http://childindex.example/sign-in", headers=forwarded).text)
    form = {"email": email, "password": PASSWORD, "csrf_token": token}
    refused = client.post("http://childindex.example/sign-in", data=form, headers=forwarded)
    assert refused.status_code == 400
    accepted = client.post(
        "http://childindex.example/sign-in", data=form, headers={**forwarded, "Referer": f"{ORIGIN}/sign-in"}
    )
    assert accepted.status_code == 302
