"""Signing in through an organisation's OpenID Connect provider, against a provider the tests run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User, UserSession
from index_service.database import utcnow
from index_service.extensions import db
from index_service.identity.models import IdentityProvider, ProviderIdentity
from index_service.organisation_models import Organisation
from index_service.sealed_secrets import PROVIDER_KEYS, seal
from tests.factories import csrf_token, current_code, make_organisation, make_user, sign_in, submit_code
from tests.identity.provider import CLIENT_ID, CLIENT_SECRET, Provider, serving_provider


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with serving_provider() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_behaviour(provider: Provider) -> None:
    provider.behaviour = {}


def register(
    provider: Provider,
    organisation: Organisation | None = None,
    *,
    trusts_mfa: bool = False,
    secret: str = CLIENT_SECRET,
    enabled: bool = True,
) -> IdentityProvider:
    row = IdentityProvider(
        organisation_id=(organisation or make_organisation()).id,
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret_encrypted=seal(PROVIDER_KEYS, secret),
        trusts_provider_mfa=trusts_mfa,
        is_enabled=enabled,
    )
    db.session.add(row)
    db.session.commit()
    return row


def linked_user(idp: IdentityProvider, subject: str = "subject-1", *roles: Role) -> User:
    user = make_user(*roles, organisation=idp.organisation)
    db.session.add(ProviderIdentity(provider_id=idp.id, subject=subject, user_id=user.id))
    db.session.commit()
    return user


def through_provider(client: FlaskClient, idp: IdentityProvider) -> TestResponse:
    """Choose the organisation, let the provider answer, and bring its answer back to the index."""
    token = csrf_token(client.get("/sign-in/organisation").text)
    started = client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    assert started.status_code == 302, started.text
    assert started.location.startswith(idp.issuer + "/authorize?")
    answer = requests.get(started.location, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/sign-in/organisation/callback"
    return client.get(f"{back.path}?{back.query}")


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def signed_in(client: FlaskClient) -> bool:
    return client.get("/search").status_code == 200


def refused(client: FlaskClient, response: TestResponse, why: str, outcome: Outcome = Outcome.FAILURE) -> None:
    assert response.status_code == 302 and response.location.endswith("/sign-in")
    event = events(AuditTag.LOGIN_OIDC_REFUSED)[-1]
    assert event.details["why"].startswith(why) and event.outcome == outcome, event.details
    assert events(AuditTag.LOGIN_OIDC) == [] and events(AuditTag.LOGIN_SUCCESS) == []
    assert not signed_in(client)
    assert client.get("/sign-in/code").status_code == 302  # no code step either


def test_success_with_the_index_own_code(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    user = linked_user(idp)
    back = through_provider(client, idp)
    assert back.status_code == 302 and back.location.endswith("/sign-in/code")
    assert not signed_in(client)
    assert submit_code(client, current_code(user)).status_code == 302
    assert signed_in(client)
    assert [e.outcome for e in events(AuditTag.LOGIN_OIDC_START)] == [Outcome.SUCCESS]
    verified = events(AuditTag.LOGIN_OIDC)
    assert len(verified) == 1 and verified[0].user_id == user.id
    assert verified[0].details["second_factor"] == "index code" and verified[0].details["amr"] == ["pwd"]
    success = events(AuditTag.LOGIN_SUCCESS)
    assert [e.user_id for e in success] == [user.id]
    assert success[0].details == {"via": "identity provider", "provider_id": idp.id, "second_factor": "index code"}
    assert events(AuditTag.LOGIN_PASSWORD) == []  # no password was used


def test_success_trusting_the_provider_multi_factor_claim(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    user = linked_user(idp)
    provider.behaviour = {"amr": ["pwd", "mfa"]}
    back = through_provider(client, idp)
    assert back.status_code == 302 and back.location.endswith("/")
    assert signed_in(client)
    success = events(AuditTag.LOGIN_SUCCESS)
    assert [e.user_id for e in success] == [user.id]
    assert success[0].details == {"via": "identity provider", "provider_id": idp.id, "second_factor": "provider"}


@pytest.mark.parametrize(("trusts_mfa", "amr"), [(False, ["pwd", "mfa"]), (True, ["pwd"]), (True, ["pin"]), (True, [])])
def test_multi_factor_claimed_but_not_trusted_still_needs_the_code(
    client: FlaskClient, provider: Provider, trusts_mfa: bool, amr: object
) -> None:
    idp = register(provider, trusts_mfa=trusts_mfa)
    user = linked_user(idp)
    provider.behaviour = {"amr": amr}
    back = through_provider(client, idp)
    assert back.location.endswith("/sign-in/code")
    assert not signed_in(client)
    assert events(AuditTag.LOGIN_SUCCESS) == []
    assert submit_code(client, "000000").status_code == 401  # the code step is the real one
    assert submit_code(client, current_code(user)).status_code == 302 and signed_in(client)


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [
        ({"nonce": "not-the-nonce-we-sent"}, "id_token claim not valid"),
        ({"state": "not-the-state-we-sent"}, "state does not match"),
        ({"expires_in": -600}, "id_token expired"),
        ({"sign_with": "stranger"}, "id_token signature not valid"),
        ({"aud": "another-client"}, "id_token claim not valid"),
        ({"iss": "https://impostor.example"}, "id_token claim not valid"),
        ({"error": "access_denied"}, "provider refused: access_denied"),
        ({"amr": "mfa"}, "id_token claim not valid"),  # amr must be a list
        ({"jwks": {"keys": [{"kty": "nonsense"}]}}, "key set not valid"),
        ({"jwks": ["not", "an", "object"]}, "key set is not a JSON object"),
    ],
)
def test_a_token_or_answer_that_does_not_check_out_is_refused(
    client: FlaskClient, provider: Provider, behaviour: dict[str, object], why: str
) -> None:
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    provider.behaviour = {"amr": ["mfa"], **behaviour}
    refused(client, through_provider(client, idp), why)


def test_a_callback_is_good_once(client: FlaskClient, provider: Provider) -> None:
    provider.token_requests = 0
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    provider.behaviour = {"amr": ["mfa"]}
    token = csrf_token(client.get("/sign-in/organisation").text)
    started = client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    back = urlsplit(requests.get(started.location, allow_redirects=False, timeout=10).headers["Location"])
    thief = client.application.test_client()
    refused(thief, thief.get(f"{back.path}?{back.query}"), "no sign-in in progress")
    assert client.get(f"{back.path}?{back.query}").location.endswith("/")
    assert signed_in(client)
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/search").text)})
    replayed = client.get(f"{back.path}?{back.query}")
    assert replayed.location.endswith("/sign-in") and not signed_in(client)
    assert [e.details["why"] for e in events(AuditTag.LOGIN_OIDC_REFUSED)] == ["no sign-in in progress"] * 2
    assert provider.token_requests == 1


def test_a_forged_callback_is_refused_without_a_request_to_the_provider(
    client: FlaskClient, provider: Provider
) -> None:
    provider.token_requests = 0
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    token = csrf_token(client.get("/sign-in/organisation").text)
    client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    forged = client.get("/sign-in/organisation/callback?code=made-up&state=%C3%A9t%C3%A9")
    refused(client, forged, "state does not match")
    assert provider.token_requests == 0


def _started(client: FlaskClient, idp: IdentityProvider) -> str:
    """The callback the provider answers with, before the index has seen it."""
    token = csrf_token(client.get("/sign-in/organisation").text)
    started = client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    back = urlsplit(requests.get(started.location, allow_redirects=False, timeout=10).headers["Location"])
    return f"{back.path}?{back.query}"


def test_a_provider_disabled_meanwhile_is_refused(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    callback = _started(client, idp)
    idp.is_enabled = False
    db.session.commit()
    refused(client, client.get(callback), "provider removed or disabled")


def test_a_sign_in_left_too_long_is_refused(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    callback = _started(client, idp)
    for row in db.session.scalars(select(UserSession).where(UserSession.ended_at.is_(None))):
        if "oidc_request" in row.data:
            row.data = {
                **row.data,
                "oidc_request": {**row.data["oidc_request"], "at": (utcnow() - timedelta(minutes=11)).isoformat()},
            }
    db.session.commit()
    refused(client, client.get(callback), "sign-in request expired")


def test_a_callback_without_a_code_is_refused(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    linked_user(idp)
    callback = _started(client, idp)
    refused(client, client.get(callback.replace("code=", "nocode=")), "no authorization code")


def test_a_secret_sealed_with_a_retired_key_is_refused(client: FlaskClient, provider: Provider, app: Flask) -> None:
    idp = register(provider)
    linked_user(idp)
    callback = _started(client, idp)
    keys = app.config["IDENTITY_PROVIDER_KEYS"]
    app.config["IDENTITY_PROVIDER_KEYS"] = (Fernet.generate_key().decode(),)
    try:
        refused(client, client.get(callback), "client secret cannot be read with the configured keys")
    finally:
        app.config["IDENTITY_PROVIDER_KEYS"] = keys


def test_refusals_count_towards_the_address_lockout(
    client: FlaskClient, provider: Provider, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "ADDRESS_LOCKOUT_FAILURES", 3)
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    for _ in range(3):
        client.get("/sign-in/organisation/callback?code=made-up&state=made-up")
    token = csrf_token(client.get("/sign-in/organisation").text)
    locked = client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert events(AuditTag.LOGIN_OIDC_START) == []
    last = events(AuditTag.LOGIN_OIDC_REFUSED)[-1]
    assert (last.details["why"], last.outcome) == ("locked", Outcome.DENIED)


def test_a_wrong_client_secret_is_refused(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, secret="not-what-the-provider-issued")
    linked_user(idp)
    refused(client, through_provider(client, idp), "token request refused")


def test_an_unknown_subject_is_offered_linking_not_signed_in(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    linked_user(idp, "subject-1")
    provider.behaviour = {"sub": "subject-nobody-linked", "amr": ["mfa"]}
    response = through_provider(client, idp)
    assert response.status_code == 302 and response.location.endswith("/sign-in/organisation/link")
    assert not signed_in(client)
    assert client.get("/sign-in/code").status_code == 302
    verified = events(AuditTag.LOGIN_OIDC)[-1]
    assert verified.user_id is None and verified.details["subject"] == "subject-nobody-linked"
    assert events(AuditTag.LOGIN_SUCCESS) == [] and events(AuditTag.LOGIN_OIDC_REFUSED) == []


def test_a_subject_of_another_organisation_is_refused(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    outsider = make_user(organisation=make_organisation())
    db.session.add(ProviderIdentity(provider_id=idp.id, subject="subject-1", user_id=outsider.id))
    db.session.commit()
    provider.behaviour = {"amr": ["mfa"]}
    refused(client, through_provider(client, idp), "subject of a user of another organisation", Outcome.DENIED)
    assert events(AuditTag.LOGIN_OIDC_REFUSED)[-1].user_id == outsider.id


def test_a_closed_account_is_refused(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    user = linked_user(idp)
    user.is_active = False
    db.session.commit()
    provider.behaviour = {"amr": ["mfa"]}
    refused(client, through_provider(client, idp), "account closed", Outcome.DENIED)


def test_the_same_subject_at_another_provider_is_someone_else(client: FlaskClient, provider: Provider) -> None:
    mine = register(provider, trusts_mfa=True)
    linked_user(mine, "subject-1")
    theirs = register(provider, trusts_mfa=True)
    provider.behaviour = {"amr": ["mfa"], "sub": "subject-1"}
    assert through_provider(client, theirs).location.endswith("/sign-in/organisation/link")
    assert not signed_in(client)


def test_a_provider_whose_discovery_names_another_issuer_is_not_used(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    provider.behaviour = {"discovery_issuer": "https://impostor.example"}
    token = csrf_token(client.get("/sign-in/organisation").text)
    started = client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    assert started.status_code == 302 and started.location.endswith("/sign-in")
    assert events(AuditTag.LOGIN_OIDC_REFUSED)[-1].details["why"] == "discovery document names another issuer"
    assert "is not answering" in client.get("/sign-in").text


def test_only_enabled_providers_are_offered(client: FlaskClient, provider: Provider) -> None:
    offered = register(provider, make_organisation("Brindle Vale Trust"))
    hidden = register(provider, make_organisation("Quarrymoor Academy"), enabled=False)
    page = client.get("/sign-in/organisation")
    assert "Brindle Vale Trust" in page.text and "Quarrymoor Academy" not in page.text
    token = csrf_token(page.text)
    response = client.post("/sign-in/organisation", data={"provider": str(hidden.id), "csrf_token": token})
    assert response.status_code == 400 and "Not a valid choice" in response.text
    empty = client.post("/sign-in/organisation", data={"provider": "0", "csrf_token": token})
    assert empty.status_code == 400 and "Select your organisation" in empty.text
    assert events(AuditTag.LOGIN_OIDC_START) == []
    assert offered.is_enabled
    assert "Sign in with your organisation" in client.get("/sign-in").text


@pytest.mark.parametrize("trusts_mfa", [True, False])
def test_the_access_decision_applies_after_a_provider_as_after_a_password(
    client: FlaskClient, provider: Provider, trusts_mfa: bool
) -> None:
    idp = register(provider, trusts_mfa=trusts_mfa)
    user = linked_user(idp)
    user.vetting_expires_on = utcnow().date()  # a check stops counting on its expiry day
    db.session.commit()
    provider.behaviour = {"amr": ["pwd", "mfa"]}
    back = through_provider(client, idp)
    assert back.status_code == 403 and "Your enhanced vetting check has expired." in back.text
    assert not signed_in(client)
    assert events(AuditTag.LOGIN_SUCCESS) == []
    refusal = events(AuditTag.LOGIN_FAILURE)[-1]
    assert refusal.user_id == user.id and refusal.details["reasons"] == ["vetting_expired"]


def test_a_trusted_provider_signs_in_without_the_code_but_is_no_fresh_code(
    client: FlaskClient, provider: Provider
) -> None:
    idp = register(provider, trusts_mfa=True)
    linked_user(idp)
    provider.behaviour = {"amr": ["mfa"]}
    assert through_provider(client, idp).location.endswith("/")
    assert signed_in(client)
    with client.session_transaction() as session:
        assert "code_at" not in session  # re-authentication still asks for the index's own code


def test_a_trusted_provider_does_not_stand_in_for_a_token_not_enrolled(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider, trusts_mfa=True)
    user = linked_user(idp)
    user.totp_secret, user.token_enrolled_at = None, None
    db.session.commit()
    provider.behaviour = {"amr": ["mfa"]}
    assert through_provider(client, idp).location.endswith("/sign-in/enrol")  # the token issued: enrol it first
    assert not signed_in(client)
    user.token_issued_at = None
    db.session.commit()
    back = through_provider(client, idp)
    assert back.status_code == 403 and "You have no two-factor token enrolled." in back.text
    assert not signed_in(client)


def test_a_crafted_callback_is_refused_without_cancelling_the_sign_in_in_progress(
    client: FlaskClient, provider: Provider
) -> None:
    provider.token_requests = 0
    idp = register(provider)
    user = linked_user(idp)
    callback = _started(client, idp)
    for crafted in (
        "/sign-in/organisation/callback?code=made-up&state=made-up",
        "/sign-in/organisation/callback?error=access_denied",
        "/sign-in/organisation/callback",
    ):
        refused(client, client.get(crafted), "state does not match")
    assert provider.token_requests == 0
    back = client.get(callback)  # the provider's real answer still completes the first factor
    assert back.location.endswith("/sign-in/code")
    assert submit_code(client, current_code(user)).status_code == 302 and signed_in(client)
    assert [e.details["why"] for e in events(AuditTag.LOGIN_OIDC_REFUSED)] == ["state does not match"] * 3


def test_the_chooser_may_send_its_form_on_to_the_offered_providers_only(
    client: FlaskClient, provider: Provider
) -> None:
    register(provider, make_organisation("Brindle Vale Trust"))
    register(provider, make_organisation("Quarrymoor Academy"), enabled=False)
    policy = client.get("/sign-in/organisation").headers["Content-Security-Policy"]
    assert f"form-action 'self' {provider.issuer};" in policy
    assert "form-action 'self';" in client.get("/sign-in").headers["Content-Security-Policy"]


def test_a_provider_signing_in_on_another_origin_gets_a_link(client: FlaskClient, provider: Provider) -> None:
    idp = register(provider)
    linked_user(idp)
    elsewhere = provider.issuer.replace("127.0.0.1", "localhost") + "/authorize"
    provider.behaviour = {"authorization_endpoint": elsewhere}
    token = csrf_token(client.get("/sign-in/organisation").text)
    page = client.post("/sign-in/organisation", data={"provider": str(idp.id), "csrf_token": token})
    assert page.status_code == 200 and f'href="{elsewhere}?' in page.text
    assert "Continue to" in page.text and events(AuditTag.LOGIN_OIDC_START)[-1].outcome == Outcome.SUCCESS


def test_every_refusal_is_in_the_failed_sign_ins_report_with_its_reason(
    client: FlaskClient, provider: Provider
) -> None:
    idp = register(provider, make_organisation("Brindle Vale Trust"), trusts_mfa=True)
    outsider = make_user(organisation=make_organisation())
    db.session.add(ProviderIdentity(provider_id=idp.id, subject="subject-9", user_id=outsider.id))
    db.session.commit()
    visitor = client.application.test_client()
    visitor.get("/sign-in/organisation/callback?code=made-up&state=made-up")  # no user, no organisation
    provider.behaviour = {"expires_in": -600}
    through_provider(visitor, idp)
    provider.behaviour = {"sub": "subject-9", "amr": ["mfa"]}
    through_provider(visitor, idp)
    sign_in(client, make_user(Role.AUDITOR))
    page = client.get("/audit/sign-in-failures")
    assert page.status_code == 200 and "3 events" in page.text
    for why in ("no sign-in in progress", "id_token expired", "subject of a user of another organisation"):
        assert f'<td class="govuk-table__cell">{why}</td>' in page.text
    assert page.text.count("account:oidc:refused") == 3
    listed = client.get("/api/v1/audit/sign-in-failures").get_json()
    assert {line["reason"] for line in listed["events"]} >= {"no sign-in in progress", "id_token expired"}
