"""The index team's identity-provider pages, the secret's encryption, and the amr rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.config import ConfigError, load_settings
from index_service.extensions import db
from index_service.identity.models import IdentityProvider, ProviderIdentity
from index_service.identity.policy import completes_sign_in
from index_service.organisation_models import Organisation
from index_service.sealed_secrets import PROVIDER_KEYS, SecretUnreadable, seal, unseal
from tests.factories import csrf_token, home_csrf, make_organisation, make_user, sign_in
from tests.identity.provider import Provider, serving_provider

SECRET = "kx9-Provider-Issued-Secret-0042"
SETTINGS = {
    "issuer": "https://login.brindle-vale.example/tenant",
    "client_id": "child-index",
    "client_secret": SECRET,
    "trusts_provider_mfa": "no",
    "is_enabled": "yes",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with serving_provider() as running:
        yield running


@pytest.fixture(autouse=True)
def _real_issuer(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registration reads the issuer's discovery document: the settings name a provider that answers."""
    provider.behaviour = {}
    monkeypatch.setitem(SETTINGS, "issuer", provider.issuer)


def _index_team(client: FlaskClient) -> None:
    sign_in(client, make_user(Role.INDEX_TEAM))


def _register(client: FlaskClient, organisation: Organisation, /, **changes: str) -> object:
    token = csrf_token(client.get("/identity-providers/new").text)
    return client.post(
        "/identity-providers/new",
        data={"csrf_token": token, "organisation": str(organisation.id), **SETTINGS, **changes},
    )


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _provider(organisation: Organisation) -> IdentityProvider:
    return db.session.scalars(select(IdentityProvider).where(IdentityProvider.organisation_id == organisation.id)).one()


def test_index_team_registers_a_provider_whose_secret_is_stored_encrypted(client: FlaskClient) -> None:
    organisation = make_organisation("Brindle Vale Trust")
    _index_team(client)
    response = _register(client, organisation)
    assert response.status_code == 302
    provider = _provider(organisation)
    assert SECRET not in provider.client_secret_encrypted
    assert unseal(PROVIDER_KEYS, provider.client_secret_encrypted) == SECRET
    event = _events(AuditTag.IDENTITY_PROVIDER_REGISTER)[0]
    assert SECRET not in str(event.details) and event.details["issuer"] == SETTINGS["issuer"]
    page = client.get(response.location)
    assert page.status_code == 200 and SECRET not in page.text
    assert "/sign-in/organisation/callback" in page.text
    assert f"{SETTINGS['issuer']}/.well-known/openid-configuration" in page.text
    assert f"sends people to sign in at {SETTINGS['issuer']}/authorize" in page.text
    listing = client.get("/identity-providers")
    assert "Brindle Vale Trust" in listing.text and SECRET not in listing.text


@pytest.mark.parametrize(
    ("changes", "message", "status"),
    [
        ({"issuer": "http://login.brindle-vale.example"}, "Enter the issuer as an https address", 400),
        ({"issuer": "https://login.example/?tenant=1"}, "Enter the issuer as an https address", 400),
        ({"issuer": "not a url"}, "Enter the issuer as an https address", 400),
        ({"client_id": " "}, "Enter the client ID", 400),
        ({"client_secret": ""}, "Enter the client secret the provider gave you", 400),
        ({"trusts_provider_mfa": "maybe"}, "Not a valid choice", 400),
        ({"organisation": "0"}, "Select the organisation", 400),
    ],
)
def test_bad_settings_get_messages(client: FlaskClient, changes: dict[str, str], message: str, status: int) -> None:
    organisation = make_organisation()
    _index_team(client)
    response = _register(client, organisation, **changes)
    assert response.status_code == status and message in response.text
    assert db.session.scalars(select(IdentityProvider)).all() == []


@pytest.mark.parametrize(
    ("issuer", "says"),
    [
        ("{issuer}/", "names the issuer “{issuer}”, not “{issuer}/”"),
        ("{issuer}/tenant", "No discovery document could be read at {issuer}/tenant/.well-known/openid-configuration"),
    ],
)
def test_registration_checks_the_issuer_against_the_discovery_document(
    client: FlaskClient, provider: Provider, issuer: str, says: str
) -> None:
    organisation = make_organisation()
    _index_team(client)
    response = _register(client, organisation, issuer=issuer.format(issuer=provider.issuer))
    assert response.status_code == 400 and says.format(issuer=provider.issuer) in response.text
    assert db.session.scalars(select(IdentityProvider)).all() == []
    assert _events(AuditTag.IDENTITY_PROVIDER_REGISTER) == []


def test_plain_http_to_loopback_is_for_tests_only_never_production(
    client: FlaskClient, app: Flask, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert provider.issuer.startswith("http://127.0.0.1:")
    _index_team(client)
    monkeypatch.setitem(app.config, "INDEX_ENVIRONMENT", "production")
    refused = _register(client, make_organisation())
    assert refused.status_code == 400 and "Enter the issuer as an https address" in refused.text
    monkeypatch.setitem(app.config, "INDEX_ENVIRONMENT", "testing")
    assert _register(client, make_organisation()).status_code == 302


def test_a_changed_issuer_is_checked_too(client: FlaskClient, provider: Provider) -> None:
    organisation = make_organisation()
    _index_team(client)
    _register(client, organisation)
    registered = _provider(organisation)
    path = f"/identity-providers/{registered.id}"
    form = {**SETTINGS, "client_secret": "", "csrf_token": csrf_token(client.get(path).text)}
    provider.behaviour = {"discovery_issuer": "https://elsewhere.example"}
    refused = client.post(path, data={**form, "issuer": provider.issuer + "/"})
    assert refused.status_code == 400 and "names the issuer “https://elsewhere.example”" in refused.text
    db.session.refresh(registered)
    assert registered.issuer == provider.issuer
    kept = client.post(path, data={**form, "is_enabled": "no"})  # an unchanged issuer is not read again
    assert kept.status_code == 302


def test_one_provider_per_organisation(client: FlaskClient) -> None:
    organisation = make_organisation()
    _index_team(client)
    assert _register(client, organisation).status_code == 302
    again = _register(client, organisation)
    assert again.status_code == 409 and "already has an identity provider" in again.text


def test_changing_settings_keeps_or_replaces_the_secret(client: FlaskClient) -> None:
    organisation = make_organisation()
    _index_team(client)
    _register(client, organisation)
    provider = _provider(organisation)
    path = f"/identity-providers/{provider.id}"
    form = {
        **SETTINGS,
        "client_secret": "",
        "trusts_provider_mfa": "yes",
        "csrf_token": csrf_token(client.get(path).text),
    }
    assert client.post(path, data=form).status_code == 302
    db.session.refresh(provider)
    assert provider.trusts_provider_mfa and unseal(PROVIDER_KEYS, provider.client_secret_encrypted) == SECRET
    assert client.post(path, data={**form, "client_secret": "a-new-secret-from-the-provider"}).status_code == 302
    db.session.refresh(provider)
    assert unseal(PROVIDER_KEYS, provider.client_secret_encrypted) == "a-new-secret-from-the-provider"
    changes = _events(AuditTag.IDENTITY_PROVIDER_CHANGE)
    assert [e.details["secret_replaced"] for e in changes] == [False, True]
    assert all("a-new-secret" not in str(e.details) for e in changes)


def test_linking_subjects_to_the_organisation_users_only(client: FlaskClient) -> None:
    organisation = make_organisation()
    member = make_user(organisation=organisation)
    outsider = make_user(organisation=make_organisation())
    _index_team(client)
    _register(client, organisation)
    provider = _provider(organisation)
    path = f"/identity-providers/{provider.id}/identities"
    token = csrf_token(client.get(f"/identity-providers/{provider.id}").text)
    linked = client.post(path, data={"csrf_token": token, "email": member.email.upper(), "subject": " sub-77 "})
    assert linked.status_code == 302
    identity = db.session.scalars(select(ProviderIdentity)).one()
    assert (identity.subject, identity.user_id) == ("sub-77", member.id)
    other = client.post(path, data={"csrf_token": token, "email": outsider.email, "subject": "sub-78"})
    assert other.status_code == 409 and "has no user with that email address" in other.text
    twice = client.post(path, data={"csrf_token": token, "email": member.email, "subject": "sub-79"})
    assert twice.status_code == 409 and "already linked" in twice.text
    empty = client.post(path, data={"csrf_token": token, "email": "", "subject": ""})
    assert empty.status_code == 400 and "Enter the subject the provider gives this user" in empty.text
    assert [e.details["linked_user_id"] for e in _events(AuditTag.IDENTITY_LINK)] == [member.id]
    wrong = client.post(
        f"/identity-providers/{provider.id + 1}/identities/{identity.id}/unlink", data={"csrf_token": token}
    )
    assert wrong.status_code == 404
    unlinked = client.post(
        f"/identity-providers/{provider.id}/identities/{identity.id}/unlink", data={"csrf_token": token}
    )
    assert unlinked.status_code == 302 and db.session.scalars(select(ProviderIdentity)).all() == []
    assert _events(AuditTag.IDENTITY_UNLINK)[0].details["subject"] == "sub-77"


@pytest.mark.parametrize("role", [role for role in Role if role != Role.INDEX_TEAM])
def test_only_the_index_team_configures_providers(client: FlaskClient, role: Role) -> None:
    organisation = make_organisation()
    sign_in(client, make_user(role, organisation=organisation))
    token = home_csrf(client)
    assert client.get("/identity-providers").status_code == 403
    assert client.get("/identity-providers/new").status_code == 403
    response = client.post(
        "/identity-providers/new", data={"csrf_token": token, "organisation": str(organisation.id), **SETTINGS}
    )
    assert response.status_code == 403
    assert db.session.scalars(select(IdentityProvider)).all() == []
    assert "Identity providers" not in client.get("/", follow_redirects=True).text


def test_index_team_needs_no_on_behalf_of_to_configure(client: FlaskClient) -> None:
    _index_team(client)
    assert client.get("/identity-providers").status_code == 200


def test_secrets_survive_key_rotation_and_fail_without_the_key(app: Flask) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["IDENTITY_PROVIDER_KEYS"] = (old,)
    sealed = seal(PROVIDER_KEYS, SECRET)
    app.config["IDENTITY_PROVIDER_KEYS"] = (new, old)
    assert unseal(PROVIDER_KEYS, sealed) == SECRET
    assert Fernet(new.encode()).decrypt(seal(PROVIDER_KEYS, SECRET).encode()).decode() == SECRET
    app.config["IDENTITY_PROVIDER_KEYS"] = (new,)
    with pytest.raises(SecretUnreadable):
        unseal(PROVIDER_KEYS, sealed)
    app.config["IDENTITY_PROVIDER_KEYS"] = ()
    with pytest.raises(SecretUnreadable):
        seal(PROVIDER_KEYS, SECRET)


def test_keys_come_from_configuration_and_are_checked(tmp_path: Path) -> None:
    production = {
        "CHILD_INDEX_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://db/index",
        "TOTP_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "AUDIT_CHECKPOINT_KEY": "k" * 40,
    }
    assert load_settings("/tmp", production).identity_provider_keys == ()
    key = Fernet.generate_key().decode()
    configured = load_settings("/tmp", {**production, "IDENTITY_PROVIDER_KEYS": f" {key} ,"})
    assert configured.flask_config()["IDENTITY_PROVIDER_KEYS"] == (key,)
    with pytest.raises(ConfigError, match="IDENTITY_PROVIDER_KEYS must hold Fernet keys"):
        load_settings("/tmp", {**production, "IDENTITY_PROVIDER_KEYS": "not-a-key"})
    development = load_settings(str(tmp_path), {"CHILD_INDEX_ENV": "development"}).identity_provider_keys
    assert len(development) == 1
    assert load_settings(str(tmp_path), {"CHILD_INDEX_ENV": "development"}).identity_provider_keys == development


def test_a_missing_key_stops_registration_with_a_message(client: FlaskClient, app: Flask) -> None:
    organisation = make_organisation()
    _index_team(client)
    app.config["IDENTITY_PROVIDER_KEYS"] = ()
    try:
        assert "IDENTITY_PROVIDER_KEYS is not set" in client.get("/identity-providers").text
        response = _register(client, organisation)
        assert response.status_code == 409 and "Set IDENTITY_PROVIDER_KEYS" in response.text
    finally:
        app.config["IDENTITY_PROVIDER_KEYS"] = (Fernet.generate_key().decode(),)


@pytest.mark.parametrize(
    ("trusted", "amr", "completes"),
    [
        (True, ["pwd", "mfa"], True),
        (True, ["otp"], True),
        (True, ["hwk"], True),
        (True, ["mca"], True),
        (True, ["pwd"], False),
        (True, ["pin", "pwd"], False),
        (True, [], False),
        (True, None, False),
        (True, "mfa", False),
        (True, [{"mfa": 1}], False),
        (False, ["mfa"], False),
    ],
)
def test_only_a_trusted_multi_factor_claim_completes_sign_in(trusted: bool, amr: object, completes: bool) -> None:
    assert completes_sign_in(trusted, amr) is completes
