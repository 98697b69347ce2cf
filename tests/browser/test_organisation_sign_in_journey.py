"""Signing in through an organisation's OpenID Connect provider in a real browser, under the production
configuration: gunicorn over TLS with the production settings and headers, its CSP enforced (no
bypass), against oidc-provider-mock running over TLS on loopback.

The journey: choose the organisation, sign in at the provider (its page asks for the subject), come
back, give the index's own code, search. Then what must be refused is: a wrong issuer, an
id_token expired, altered after signing or with `alg: none`, a replayed callback; a crafted callback
does not cancel a sign-in waiting at the provider; an unlinked subject is linked only after the
person's index password and code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.auth.totp import code_at
from index_service.extensions import db
from index_service.identity.models import IdentityProvider, ProviderIdentity
from index_service.sealed_secrets import PROVIDER_KEYS, seal
from tests.browser.conftest import migrated_browser_app
from tests.browser.identity_provider import TAMPERINGS, MockProvider, serving_mock_provider
from tests.browser.production import ProductionServer, local_tls, production_environment, production_server
from tests.factories import PASSWORD, make_organisation, make_user, wait_for_fresh_time_step

# oidc-provider-mock 0.3.4 signs id_tokens through a hook authlib deprecates; its warning would be an error
# (pyproject's filterwarnings) inside the provider's thread, and the provider would answer 500.
pytestmark = pytest.mark.filterwarnings(r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning")

ORGANISATION = "Brindle Vale Trust"
NOT_SIGNED_IN = "We could not sign you in through your organisation"
EXPECTED_WHY = {
    "wrong issuer": "id_token claim not valid",
    "expired": "id_token expired",
    "altered": "id_token signature not valid",
    "alg none": "id_token signature not valid",
}


@dataclass(frozen=True)
class Person:
    email: str
    totp_secret: str
    subject: str  # at the provider


@dataclass(frozen=True)
class Deployment:
    app: Flask  # the test's own app on the server's database, to read the audit trail
    server: ProductionServer
    provider: MockProvider
    linked: tuple[Person, ...]
    unlinked: Person
    auditor: Person


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("organisation-sign-in")
    tls = local_tls()
    app = migrated_browser_app(folder)
    with serving_mock_provider(tls) as provider:
        with app.app_context():
            organisation = make_organisation(ORGANISATION)
            idp = IdentityProvider(
                organisation_id=organisation.id,
                issuer=provider.issuer,
                client_id="child-index",
                client_secret_encrypted=seal(PROVIDER_KEYS, "issued-by-the-mock"),
            )
            db.session.add(idp)
            db.session.flush()
            people = []
            for name in ("ada", "ben", "cara"):
                user = make_user(organisation=organisation)
                people.append(Person(user.email, user.totp_secret or "", f"{name}@brindle-vale.example"))
                if name != "cara":
                    db.session.add(ProviderIdentity(provider_id=idp.id, subject=people[-1].subject, user_id=user.id))
            auditor = make_user(Role.AUDITOR)
            people.append(Person(auditor.email, auditor.totp_secret or "", ""))
            db.session.commit()
            db.session.remove()  # SQLite: hold no lock while the server runs
        # The index calls the provider over TLS and trusts the test CA, as a deployment trusts a real one.
        settings = production_environment(app, REQUESTS_CA_BUNDLE=str(tls.ca_file))
        with production_server(settings, folder, workers=1) as server:
            yield Deployment(app, server, provider, tuple(people[:2]), people[2], people[3])


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A context of its own: the CSP is enforced, as in every real browser (the `page` fixture bypasses it)."""
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


def _events(deployment: Deployment, tag: AuditTag) -> list[AuditEvent]:
    with deployment.app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))
        db.session.expunge_all()
        db.session.remove()
    return found


def _to_provider(page: Page, deployment: Deployment) -> None:
    """From the index's sign-in page to the provider's, through the organisation chooser."""
    page.goto(f"{deployment.server.url}/sign-in")
    page.get_by_role("link", name="Sign in with your organisation").click()
    page.get_by_label("Your organisation").select_option(label=ORGANISATION)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    assert page.url.startswith(f"{deployment.provider.issuer}/oauth2/authorize?")


def _at_provider_as(page: Page, subject: str) -> str:
    """Sign in at the provider as the subject; the callback URL it sent the browser back to."""
    page.get_by_placeholder("sub").fill(subject)
    with page.expect_request("**/sign-in/organisation/callback?*") as callback:
        page.get_by_role("button", name="Authorize").click()
    return callback.value.url


def _code(page: Page, deployment: Deployment, person: Person) -> None:
    page.wait_for_load_state()
    if page.url.endswith("/sign-in"):
        refusals = _events(deployment, AuditTag.LOGIN_OIDC_REFUSED)
        pytest.fail(f"refused: {refusals[-1].details if refusals else 'no refusal audited'}")
    box = page.get_by_label("Enter the security code from your authenticator app")
    expect(box).to_be_visible()
    expect(page).to_have_url(f"{deployment.server.url}/sign-in/code")
    wait_for_fresh_time_step()
    box.fill(code_at(person.totp_secret, time.time()))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{deployment.server.url}/search")


def _refused_back_at_sign_in(page: Page, deployment: Deployment) -> None:
    expect(page).to_have_url(f"{deployment.server.url}/sign-in")
    expect(page.get_by_text(NOT_SIGNED_IN)).to_be_visible()
    page.goto(f"{deployment.server.url}/search")
    expect(page).to_have_url(f"{deployment.server.url}/sign-in")


@pytest.mark.browser
def test_a_practitioner_signs_in_through_the_provider_then_the_index_code(
    deployment: Deployment, context: BrowserContext
) -> None:
    page = context.new_page()
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    ada = deployment.linked[0]
    _to_provider(page, deployment)
    _at_provider_as(page, ada.subject)
    _code(page, deployment, ada)
    expect(page.get_by_role("heading", level=1, name="Search for a child")).to_be_visible()
    assert blocked == []
    success = _events(deployment, AuditTag.LOGIN_SUCCESS)[-1]
    assert success.details["via"] == "identity provider" and success.details["second_factor"] == "index code"
    assert _events(deployment, AuditTag.LOGIN_PASSWORD) == []


@pytest.mark.browser
@pytest.mark.parametrize("tamper", TAMPERINGS)
def test_an_id_token_that_does_not_check_out_is_refused(
    deployment: Deployment, context: BrowserContext, tamper: str
) -> None:
    page = context.new_page()
    deployment.provider.tamper = tamper
    try:
        _to_provider(page, deployment)
        _at_provider_as(page, deployment.linked[0].subject)
        _refused_back_at_sign_in(page, deployment)
    finally:
        deployment.provider.tamper = None
    why = _events(deployment, AuditTag.LOGIN_OIDC_REFUSED)[-1].details["why"]
    assert why.startswith(EXPECTED_WHY[tamper])


@pytest.mark.browser
def test_a_callback_is_good_once_and_a_crafted_one_cancels_nothing(
    deployment: Deployment, context: BrowserContext
) -> None:
    ben = deployment.linked[1]
    page = context.new_page()
    _to_provider(page, deployment)  # ben's sign-in waits at the provider
    crafted = context.new_page()
    crafted.goto(f"{deployment.server.url}/sign-in/organisation/callback?code=made-up&state=made-up")
    _refused_back_at_sign_in(crafted, deployment)
    crafted.close()
    assert _events(deployment, AuditTag.LOGIN_OIDC_REFUSED)[-1].details["why"] == "state does not match"
    callback = _at_provider_as(page, ben.subject)
    _code(page, deployment, ben)
    page.goto(callback)  # the same answer again, signed in or not
    expect(page).to_have_url(f"{deployment.server.url}/sign-in")
    assert _events(deployment, AuditTag.LOGIN_OIDC_REFUSED)[-1].details["why"] == "no sign-in in progress"


@pytest.mark.browser
def test_an_unlinked_subject_is_linked_by_the_index_password_and_code(
    deployment: Deployment, context: BrowserContext
) -> None:
    cara = deployment.unlinked
    page = context.new_page()
    _to_provider(page, deployment)
    _at_provider_as(page, "nobody@brindle-vale.example")
    heading = page.get_by_role("heading", level=1, name=f"Link your {ORGANISATION} sign-in to Child Index")
    expect(heading).to_be_visible()
    page.get_by_label("Email address").fill(cara.email)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("link", name="Enter a correct email address and password")).to_be_visible()

    page = context.new_page()
    _to_provider(page, deployment)
    _at_provider_as(page, cara.subject)
    page.get_by_label("Email address").fill(cara.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    _code(page, deployment, cara)
    links = _events(deployment, AuditTag.IDENTITY_LINK)
    assert [e.details["subject"] for e in links] == [cara.subject]


@pytest.mark.browser
def test_the_auditor_sees_a_refusal_with_no_user_among_the_failed_sign_ins(
    deployment: Deployment, context: BrowserContext
) -> None:
    stranger = context.new_page()
    stranger.goto(f"{deployment.server.url}/sign-in/organisation/callback?code=made-up&state=made-up")
    _refused_back_at_sign_in(stranger, deployment)
    stranger.close()

    page = context.new_page()
    page.goto(f"{deployment.server.url}/sign-in")
    page.get_by_label("Email address").fill(deployment.auditor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    _code(page, deployment, deployment.auditor)
    page.goto(f"{deployment.server.url}/audit/sign-in-failures")
    expect(page.get_by_role("heading", level=1, name="Failed sign-ins")).to_be_visible()
    refusal = page.get_by_role("row").filter(has_text="account:oidc:refused").filter(has_text="no sign-in in progress")
    expect(refusal.first).to_be_visible()
