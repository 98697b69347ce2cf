"""A practitioner's journey in a real browser, with axe-core checking every page for WCAG 2.2 A/AA.

Sign in (password, then a code), search with a misspelt family name, open the child's record,
sign out. Locators are accessible ones: if one cannot be found, the markup is what is wrong.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from index_service.auth.totp import code_at
from tests.browser.conftest import LiveServer, Practitioner
from tests.factories import PASSWORD, wait_for_fresh_time_step

AXE_SOURCE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/shots"))


def check_accessibility(page: Page) -> None:
    """Run axe-core on the page as it stands; fail on any WCAG 2.2 A or AA violation."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_SOURCE.read_text(encoding="utf-8"))
    violations = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations",
        WCAG_TAGS,
    )
    report = "\n".join(
        f"- {violation['id']} ({violation['impact']}): {violation['help']}\n"
        + "\n".join(f"    {node['target']}" for node in violation["nodes"])
        for violation in violations
    )
    assert not violations, f"axe found WCAG 2.2 A/AA violations on {page.url}:\n{report}"


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base: str, practitioner: Practitioner, check: bool = False) -> None:
    """Password, then the current code; `check` runs axe on both pages."""
    page.goto(f"{base}/sign-in")
    expect(page.get_by_role("heading", level=1, name="Sign in to Child Index")).to_be_visible()
    if check:
        check_accessibility(page)
    page.get_by_label("Email address").fill(practitioner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    code_box = page.get_by_label("Enter the security code from your authenticator app")
    expect(code_box).to_be_visible()
    expect(page).to_have_url(f"{base}/sign-in/code")
    if check:
        check_accessibility(page)
    wait_for_fresh_time_step()
    code_box.fill(code_at(practitioner.totp_secret, time.time()))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/search")


@pytest.mark.browser
def test_practitioner_signs_in_finds_a_child_and_signs_out(live_server: LiveServer, page: Page) -> None:
    base = live_server.url
    sign_in(page, base, live_server.practitioners[0], check=True)

    expect(page.get_by_role("heading", level=1, name="Search for a child")).to_be_visible()
    check_accessibility(page)

    # The error state: nothing filled in.
    page.get_by_role("button", name="Search", exact=True).click()
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link", name="Select why you are searching")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Error: "))
    check_accessibility(page)

    page.get_by_role("radio", name="Safeguarding concern").check()
    page.get_by_label("Family name", exact=True).fill("Benmett")
    page.get_by_label("Date of birth", exact=True).fill("27/03/2016")
    page.get_by_role("button", name="Search", exact=True).click()

    expect(page.get_by_role("heading", level=1, name="Search results")).to_be_visible()
    results = page.get_by_role("list").filter(has=page.get_by_role("link", name="Oliver Bennett"))
    expect(results).to_contain_text("similar spelling")
    check_accessibility(page)
    screenshot(page, "search-results")

    page.get_by_role("link", name="Oliver Bennett").click()
    expect(page).to_have_url(f"{base}/children/{live_server.child_index_id}")
    expect(page.get_by_role("heading", level=1, name="Oliver Bennett")).to_be_visible()
    expect(page.get_by_role("heading", name="Who is working with Oliver")).to_be_visible()
    expect(page.get_by_role("table", name="Current involvements")).to_contain_text("Ms Patel")
    check_accessibility(page)
    screenshot(page, "record")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/sign-in")
    expect(page.get_by_role("heading", level=1, name="Sign in to Child Index")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.get_by_role("alert").filter(has_text="You have signed out")).to_be_visible()
    check_accessibility(page)

    page.goto(f"{base}/search")
    expect(page).to_have_url(f"{base}/sign-in")
    expect(page.get_by_role("heading", level=1, name="Sign in to Child Index")).to_be_visible()
