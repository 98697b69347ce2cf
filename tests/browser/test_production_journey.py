"""The production configuration as it runs: gunicorn over TLS, and behind a TLS-terminating proxy.

Through chromium, with the app's real CSRF tokens, `__Host-` Secure cookies, Content Security
Policy and referrer policy, a shielder who is also a data administrator signs in (password, then
a code), searches, opens and shields a record, uploads an extract that the app's own background
process loads, and signs out. Each form is a POST that the production CSRF check must accept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.auth.totp import code_at
from index_service.extensions import db
from index_service.load_models import Load
from index_service.organisation_models import OrganisationType
from tests.browser.conftest import Practitioner
from tests.browser.production import ProductionServer, production_environment, production_server
from tests.browser.test_practitioner_journey import sign_in
from tests.factories import make_child, make_organisation, make_user
from tests.sources.loads import make_source, row, write_extract

HSTS = "max-age=31536000; includeSubDomains"


@dataclass(frozen=True)
class Deployment:
    server: ProductionServer
    person: Practitioner
    source_name: str
    behind_proxy: bool


@pytest.fixture(params=["gunicorn-tls", "behind-proxy"])
def deployment(request: pytest.FixtureRequest, committed_app: Flask, tmp_path: Path) -> Iterator[Deployment]:
    """The data committed by the test's app, then the server on the same database in production configuration."""
    school = make_organisation(kind=OrganisationType.SCHOOL)
    user = make_user(Role.SHIELDER, Role.DATA_ADMIN, organisation=school)
    make_child(nhs_number=None)
    source = make_source(organisation=school)
    person, source_name = Practitioner(user.email, user.totp_secret), source.name
    db.session.commit()
    db.session.remove()  # SQLite takes BEGIN IMMEDIATE: hold no lock while the server runs

    behind_proxy = request.param == "behind-proxy"
    settings = production_environment(committed_app, **({"TRUSTED_PROXY_HOPS": "1"} if behind_proxy else {}))
    try:
        with production_server(settings, tmp_path, behind_proxy=behind_proxy) as server:
            yield Deployment(server, person, source_name, behind_proxy)
    finally:
        # Uploads go to the instance folder, as in a deployment; keep none of the test's there.
        for stored in db.session.scalars(select(Load.stored_path)):
            if stored:
                Path(stored).unlink(missing_ok=True)
        db.session.remove()


@pytest.fixture
def production_page(browser: Browser) -> Iterator[Page]:
    """A page as a user's browser has it: the app's Content Security Policy applies."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.mark.browser
def test_a_person_signs_in_searches_shields_and_uploads_in_production(
    deployment: Deployment, production_page: Page, tmp_path: Path
) -> None:
    page, base, person = production_page, deployment.server.url, deployment.person

    sign_in(page, base, person)
    response = page.goto(f"{base}/search")
    assert response is not None
    assert response.headers["strict-transport-security"] == HSTS
    assert response.headers["referrer-policy"] == "same-origin"
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["__Host-child_index_session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
    assert session["path"] == "/"

    page.get_by_role("radio", name="Safeguarding concern").check()
    page.get_by_label("Family name", exact=True).fill("Bennett")
    page.get_by_label("Date of birth", exact=True).fill("27/03/2016")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Search results")).to_be_visible()
    page.get_by_role("link", name="Oliver Bennett").click()
    expect(page.get_by_role("heading", level=1, name="Oliver Bennett")).to_be_visible()

    page.get_by_role("link", name="Shield this record").click()
    expect(page.get_by_role("heading", level=1, name="Shield Oliver Bennett's record")).to_be_visible()
    page.get_by_role("radio", name="Witness protection").check()
    page.get_by_role("textbox", name="A note for shielders and auditors").fill("Family moved under protection.")
    page.get_by_label("Review date").fill((date.today() + timedelta(days=90)).strftime("%d/%m/%Y"))
    # The sign-in used this time step's code; the next step's code is fresh and within the allowed drift.
    page.get_by_label("Security code").fill(code_at(person.totp_secret, time.time() + 30))
    page.get_by_role("button", name="Shield this record").click()
    expect(page.locator("#shielding-current")).to_contain_text("Witness protection")

    page.get_by_role("link", name="Data", exact=True).click()
    page.get_by_role("link", name=deployment.source_name, exact=True).first.click()
    page.get_by_role("button", name="Upload a file").click()
    extract = write_extract(
        tmp_path / "census.csv",
        [
            row(
                "S2",
                given_name="Amelia",
                family_name="Khan",
                gender="f",
                date_of_birth="2014-09-04",
                address_line1="4 Park Road",
                postcode="BD1 1AA",
            ),
        ],
    )
    page.get_by_label("Extract file").set_input_files(str(extract))
    page.get_by_role("button", name="Load", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("census.csv")
    # The app's own background process runs the load; the page refreshes itself until it ends.
    expect(page.locator("#load-status")).to_contain_text("Completed", timeout=90_000)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/sign-in")
    expect(page.get_by_role("alert").filter(has_text="You have signed out")).to_be_visible()

    # Behind the proxy the app sees the proxy's connection (127.0.0.2), and takes the browser's
    # address from X-Forwarded-For only because TRUSTED_PROXY_HOPS says to.
    signed_in = db.session.scalars(
        select(AuditEvent.client_address).where(AuditEvent.tag == AuditTag.LOGIN_SUCCESS)
    ).all()
    assert signed_in == ["127.0.0.1"], signed_in
