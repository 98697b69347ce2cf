"""Shielding and the emergency override in a real browser, with axe-core checking every page for WCAG 2.2 A/AA.

A shielder shields a child and her sister at the same address. A practitioner holding
`override` searches, finds a shielded child (redacted), breaks the glass (refused first without
a reason), sees the whole record once and not twice; an auditor then finds the override in
their queue and records the outcome.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from accreditation.permissions import Role
from index_service.auth.totp import code_at
from index_service.children.records import AddressSpec
from index_service.extensions import db
from tests.browser.conftest import Practitioner, migrated_browser_app, serving
from tests.browser.test_practitioner_journey import check_accessibility, screenshot, sign_in
from tests.factories import make_child, make_user


@dataclass(frozen=True)
class OverrideServer:
    url: str
    practitioner: Practitioner
    auditor: Practitioner
    shielder: Practitioner
    index_id: str
    unshielded_id: str


@pytest.fixture(scope="module")
def override_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OverrideServer]:
    folder = tmp_path_factory.mktemp("override-browser")
    app = migrated_browser_app(folder)
    with app.app_context():
        holder, auditor, shielder = make_user(Role.OVERRIDE), make_user(Role.AUDITOR), make_user(Role.SHIELDER)
        child = make_child(is_shielded=True)
        household = make_child(
            given_name="Amara",
            family_name="Okafor",
            date_of_birth=date(2015, 5, 4),
            nhs_number=None,
            address=AddressSpec("3 Rowan Court", "York", "YO1 7HH"),
        )
        make_child(
            given_name="Isla",
            family_name="Okafor",
            date_of_birth=date(2018, 6, 1),
            nhs_number=None,
            address=AddressSpec("3 Rowan Court", "York", "YO1 7HH"),
        )
        people = tuple(Practitioner(user.email, user.totp_secret) for user in (holder, auditor, shielder))
        index_id, unshielded_id = child.index_id, household.index_id
        db.session.commit()
        db.session.remove()

    with serving(app) as url:
        yield OverrideServer(url, *people, index_id, unshielded_id)


@pytest.mark.browser
def test_a_practitioner_breaks_the_glass_and_an_auditor_reviews_it(override_server: OverrideServer, page: Page) -> None:
    base = override_server.url
    sign_in(page, base, override_server.practitioner)

    page.get_by_role("radio", name="Safeguarding concern").check()
    page.get_by_label("Family name", exact=True).fill("Bennett")
    page.get_by_label("Date of birth", exact=True).fill("27/03/2016")
    page.get_by_role("button", name="Search", exact=True).click()
    result = page.get_by_role("heading", level=2, name=re.compile("Oliver Bennett"))
    expect(result).to_contain_text("Shielded")
    expect(page.locator("#results")).not_to_contain_text("LS6")
    check_accessibility(page)

    page.get_by_role("link", name="Oliver Bennett").click()
    expect(page.get_by_role("heading", level=1, name="Oliver Bennett")).to_be_visible()
    expect(page.locator("#shielded-notice")).to_contain_text("This record is shielded")
    expect(page.get_by_text("Meadow Lane")).to_have_count(0)
    check_accessibility(page)

    page.get_by_role("link", name="Ask for emergency access").click()
    expect(page.get_by_role("heading", level=1, name="Emergency access to Oliver Bennett's record")).to_be_visible()
    expect(page.locator("#override-warning")).to_contain_text("This access will be investigated")
    check_accessibility(page)

    page.get_by_role("button", name="Break the glass and see the record").click()
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary.get_by_role("link", name="Select why you need emergency access")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Error: "))
    check_accessibility(page)

    page.get_by_role("radio", name="The child is missing").check()
    justification = page.get_by_role("textbox", name="Justification")
    justification.fill("Police report Oliver missing tonight; we need his school and GP.")
    # The sign-in used this time step's code; the next step's code is fresh and within the allowed drift.
    page.get_by_label("Security code").fill(code_at(override_server.practitioner.totp_secret, time.time() + 30))
    page.get_by_role("button", name="Break the glass and see the record").click()

    expect(page).to_have_url(re.compile(rf"{base}/overrides/OVR-"))
    banner = page.locator("#override-banner")
    expect(banner).to_contain_text("You are seeing this shielded record once")
    expect(page.get_by_text("12 Meadow Lane")).to_be_visible()
    expect(page.get_by_role("table", name="Current involvements")).to_contain_text("Ms Patel")
    reference = banner.get_by_role("heading").inner_text().removeprefix("Emergency access ").strip()
    check_accessibility(page)
    screenshot(page, "override-record")

    page.reload()
    expect(page.get_by_role("heading", level=1, name="This emergency access has ended")).to_be_visible()
    expect(page.get_by_text("Meadow Lane")).to_have_count(0)
    check_accessibility(page)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, base, override_server.auditor)
    page.get_by_role("link", name="Overrides").click()
    expect(page.get_by_role("heading", level=1, name="Emergency overrides")).to_be_visible()
    waiting = page.get_by_role("table", name="Waiting for review")
    expect(waiting).to_contain_text(reference)
    expect(waiting).to_contain_text(override_server.practitioner.email)
    expect(waiting).not_to_contain_text("Oliver")
    check_accessibility(page)
    screenshot(page, "override-queue")

    waiting.get_by_role("link", name=reference).click()
    expect(page.get_by_role("heading", level=1, name=reference)).to_be_visible()
    expect(page.locator("#override-details")).to_contain_text("Police report Oliver missing tonight")
    check_accessibility(page)
    page.get_by_role("radio", name="Justified", exact=True).check()
    page.get_by_label("Review note").fill("Confirmed with the police: the child was reported missing.")
    page.get_by_role("button", name="Record the outcome").click()

    expect(page.get_by_role("alert").filter(has_text=f"Recorded the outcome of {reference}")).to_be_visible()
    expect(page.locator("#none-waiting")).to_be_visible()
    expect(page.get_by_role("table", name="Recently reviewed")).to_contain_text("Justified")
    check_accessibility(page)


@pytest.mark.browser
def test_a_shielder_shields_a_child_and_the_household(override_server: OverrideServer, page: Page) -> None:
    base = override_server.url
    sign_in(page, base, override_server.shielder)
    page.goto(f"{base}/children/{override_server.unshielded_id}")
    expect(page.locator("#shielding-current")).to_contain_text("This record is not shielded")
    page.get_by_role("link", name="Shield this record").click()
    expect(page.get_by_role("heading", level=1, name="Shield Amara Okafor's record")).to_be_visible()
    household = page.get_by_role("group", name="Shield the other children at this address too")
    expect(household.get_by_role("checkbox", name=re.compile("Isla Okafor"))).to_be_checked()
    check_accessibility(page)

    page.get_by_role("button", name="Shield these records").click()
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary.get_by_role("link", name="Select why the child must be shielded")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("radio", name="Witness protection").check()
    page.get_by_role("textbox", name="A note for shielders and auditors").fill("Family moved under protection.")
    page.get_by_label("Review date").fill((date.today() + timedelta(days=90)).strftime("%d/%m/%Y"))
    page.get_by_label("Security code").fill(code_at(override_server.shielder.totp_secret, time.time() + 30))
    page.get_by_role("button", name="Shield these records").click()

    expect(page.get_by_role("alert").filter(has_text="and so are the records of Isla Okafor")).to_be_visible()
    expect(page.locator("#shielding-current")).to_contain_text("Witness protection")
    expect(page.locator("#unshielded-household")).to_have_count(0)
    page.get_by_text("Shielding history (1 decision)").click()
    expect(page.locator("#shielding-history")).to_contain_text("Family moved under protection.")
    check_accessibility(page)
    screenshot(page, "shielded-record")
