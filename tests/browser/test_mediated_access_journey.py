"""The index team in a real browser, with axe-core checking every page for WCAG 2.2 A/AA.

An index-team member signs in through their organisation's OpenID Connect provider (the tests'
own, on 127.0.0.1, trusted for its multi-factor sign-in), is asked whom they are acting for
before any search, searches and opens a record with the practitioner's names shown on every
page, and ends it. An auditor then finds what was done, and for whom, in the mediated-access trail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from accreditation.permissions import Role
from index_service.extensions import db
from index_service.identity.models import IdentityProvider, ProviderIdentity
from index_service.organisation_models import OrganisationType
from index_service.sealed_secrets import PROVIDER_KEYS, seal
from tests.browser.conftest import Practitioner, migrated_browser_app, serving
from tests.browser.test_practitioner_journey import check_accessibility, screenshot, sign_in
from tests.factories import make_child, make_organisation, make_user
from tests.identity.provider import CLIENT_ID, CLIENT_SECRET, Provider, serving_provider

TEAM = "National Child Index team"


@dataclass(frozen=True)
class IndexTeamServer:
    url: str
    provider: Provider
    auditor: Practitioner


@pytest.fixture(scope="module")
def index_team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexTeamServer]:
    folder = tmp_path_factory.mktemp("index-team-browser")
    app = migrated_browser_app(folder)
    with serving_provider() as provider, app.app_context():
        team = make_organisation(TEAM, OrganisationType.NATIONAL_INDEX)
        member, auditor = make_user(Role.INDEX_TEAM, organisation=team), make_user(Role.AUDITOR)
        make_child()
        idp = IdentityProvider(
            organisation_id=team.id,
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret_encrypted=seal(PROVIDER_KEYS, CLIENT_SECRET),
            trusts_provider_mfa=True,
        )
        db.session.add(idp)
        db.session.flush()
        db.session.add(ProviderIdentity(provider_id=idp.id, subject="team-member-7", user_id=member.id))
        provider.behaviour = {"sub": "team-member-7", "amr": ["pwd", "mfa"]}
        people = Practitioner(auditor.email, auditor.totp_secret)
        db.session.commit()
        db.session.remove()
        with serving(app) as url:
            yield IndexTeamServer(url, provider, people)


@pytest.mark.browser
def test_the_index_team_signs_in_through_its_provider_and_acts_for_a_practitioner(
    index_team_server: IndexTeamServer, page: Page
) -> None:
    base = index_team_server.url
    page.goto(f"{base}/sign-in")
    page.get_by_role("link", name="Sign in with your organisation").click()
    expect(page.get_by_role("heading", level=1, name="Sign in with your organisation")).to_be_visible()
    check_accessibility(page)
    page.get_by_label("Your organisation").select_option(label=TEAM)
    page.get_by_role("button", name="Continue").click()

    # The provider vouched for the member with a multi-factor sign-in; the index asks whom for.
    expect(page).to_have_url(f"{base}/mediated-access")
    expect(page.get_by_role("heading", level=1, name="Who are you acting for?")).to_be_visible()
    expect(page.get_by_text("Say which practitioner you are acting for")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("button", name="Start mediated access").click()
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary.get_by_role("link", name="Enter the name of the practitioner you are acting for")).to_be_visible()
    check_accessibility(page)

    page.get_by_label("Practitioner's full name").fill("Ms Dana Okafor")
    page.get_by_label("Their organisation").fill("Wexley Family Practice")
    page.get_by_label("Contact number or reference").fill("0161 496 0733")
    page.get_by_role("button", name="Start mediated access").click()
    expect(page).to_have_url(f"{base}/search")
    banner = page.get_by_role("region", name="Mediated access")
    expect(banner).to_contain_text("You are acting for Ms Dana Okafor of Wexley Family Practice")
    check_accessibility(page)

    page.get_by_role("radio", name="Safeguarding concern").check()
    page.get_by_label("Family name", exact=True).fill("Bennett")
    page.get_by_label("Date of birth", exact=True).fill("27/03/2016")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name="Oliver Bennett").click()
    expect(page.get_by_role("heading", level=1, name="Oliver Bennett")).to_be_visible()
    expect(banner).to_contain_text("Ms Dana Okafor")
    check_accessibility(page)
    screenshot(page, "mediated-record")

    banner.get_by_role("button", name="End mediated access").click()
    expect(page).to_have_url(f"{base}/mediated-access")
    expect(page.get_by_text("You are no longer acting for Ms Dana Okafor")).to_be_visible()
    expect(page.get_by_role("region", name="Mediated access")).to_have_count(0)

    page.get_by_role("link", name="Identity providers").click()
    expect(page.get_by_role("table", name=re.compile("1 provider"))).to_contain_text(TEAM)
    check_accessibility(page)
    page.get_by_role("link", name=TEAM).click()
    expect(page.get_by_role("table")).to_contain_text("team-member-7")
    check_accessibility(page)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, base, index_team_server.auditor)
    page.get_by_role("link", name="Mediated access").click()
    trail = page.get_by_role("table", name=re.compile("events"))
    expect(trail).to_contain_text("Ms Dana Okafor")
    expect(trail).to_contain_text("record:view")
    expect(trail).to_contain_text("contact 0161 496 0733")
    check_accessibility(page)
    screenshot(page, "mediated-audit")
