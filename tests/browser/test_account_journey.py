"""An account's life in a real browser, with axe-core checking every page for WCAG 2.2 A/AA.

A user administrator creates an account; the new person signs in with the one-time password,
enrols their authenticator by reading the key shown with the QR code, keeps their recovery codes,
chooses a password and signs in again. They lose their phone: the administrator revokes the token
and issues a new one, and the person enrols again and signs in again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from accreditation.permissions import Role
from index_service.auth.totp import code_at
from index_service.extensions import db
from tests.browser.conftest import Practitioner, migrated_browser_app, serving
from tests.browser.test_practitioner_journey import check_accessibility, screenshot
from tests.factories import PASSWORD, make_user, wait_for_fresh_time_step

NEW_PASSWORD = "lantern meadow copper quill"
EMAIL = "sam.okoro@example.org"


@dataclass(frozen=True)
class AccountServer:
    url: str
    admin: Practitioner


@pytest.fixture(scope="module")
def account_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountServer]:
    folder = tmp_path_factory.mktemp("account-browser")
    app = migrated_browser_app(folder)
    with app.app_context():
        admin = make_user(Role.USER_ADMIN)
        people = Practitioner(admin.email, admin.totp_secret or "")
        db.session.commit()
        db.session.remove()
    with serving(app) as url:
        yield AccountServer(url, people)


def _password_step(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def _code_step(page: Page, secret: str, steps_ahead: int) -> None:
    code_box = page.get_by_label("Enter the security code from your authenticator app")
    expect(code_box).to_be_visible()
    check_accessibility(page)
    code_box.fill(code_at(secret, time.time() + 30 * steps_ahead))
    page.get_by_role("button", name="Sign in").click()


def _admin_signs_in(page: Page, server: AccountServer, steps_ahead: int) -> None:
    _password_step(page, server.url, server.admin.email, PASSWORD)
    _code_step(page, server.admin.totp_secret, steps_ahead)
    expect(page.get_by_role("heading", level=1, name=re.compile("^Users in "))).to_be_visible()
    check_accessibility(page)


def _enrol(page: Page, base: str) -> str:
    """Read the key beside the QR code, prove a code from it, keep the recovery codes; returns the key."""
    expect(page).to_have_url(f"{base}/sign-in/enrol")
    expect(page.get_by_role("heading", level=1, name="Set up your authenticator app")).to_be_visible()
    expect(page.locator("#qr-code svg")).to_be_visible()
    check_accessibility(page)
    key = page.locator("#manual-key").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", key), key
    wait_for_fresh_time_step()
    page.get_by_label("Security code from your authenticator app").fill(code_at(key, time.time()))
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_role("heading", level=1, name="Your authenticator app is set up")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    check_accessibility(page)
    page.get_by_role("link", name="I have kept my codes: continue").click()
    return key


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1, name="Sign in to Child Index")).to_be_visible()


@pytest.mark.browser
def test_an_account_from_creation_to_a_lost_phone_and_back(account_server: AccountServer, page: Page) -> None:
    base = account_server.url
    wait_for_fresh_time_step(10)
    _admin_signs_in(page, account_server, steps_ahead=0)

    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", level=1, name="Create an account")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("button", name="Create the account").click()
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary.get_by_role("link", name="Enter the person's full name")).to_be_visible()
    check_accessibility(page)

    page.get_by_label("Full name").fill("Sam Okoro")
    page.get_by_label("Work email address").fill(EMAIL)
    page.get_by_role("checkbox", name="Practitioner").check()
    page.get_by_label("Vetting check reference").fill("001234567890")
    page.get_by_label("Vetting check expiry date").fill("31/03/2099")
    page.get_by_label("Training completed on").fill("05/01/2026")
    page.get_by_label("Manager approved on").fill("06/01/2026")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", level=1, name="Account created")).to_be_visible()
    one_time = page.locator("#one-time-password").inner_text().strip()
    check_accessibility(page)
    screenshot(page, "account-created")
    _sign_out(page)

    # The new person: one-time password, enrol by the key, recovery codes, a password of their own.
    _password_step(page, base, EMAIL, one_time)
    first_key = _enrol(page, base)
    expect(page.get_by_role("heading", level=1, name="Change your password")).to_be_visible()
    check_accessibility(page)
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password", exact=True).fill("qwerty123456")
    page.get_by_label("Confirm new password").fill("qwerty123456")
    page.get_by_role("button", name="Change password").click()
    expect(
        page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    ).to_contain_text("easy to guess")
    check_accessibility(page)
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", level=1, name="Search for a child")).to_be_visible()
    _sign_out(page)

    _password_step(page, base, EMAIL, NEW_PASSWORD)
    _code_step(page, first_key, steps_ahead=1)
    expect(page.get_by_role("heading", level=1, name="Search for a child")).to_be_visible()
    _sign_out(page)

    # The phone is lost: the administrator revokes the token and issues a new one.
    _admin_signs_in(page, account_server, steps_ahead=1)
    page.get_by_role("link", name="Sam Okoro").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("Sam Okoro"))).to_be_visible()
    expect(page.locator("#token-state")).to_contain_text("Enrolled")
    check_accessibility(page)
    page.get_by_role("button", name="Revoke the token").click()
    expect(page.get_by_role("alert").filter(has_text="token is revoked")).to_be_visible()
    expect(page.locator("#access")).to_contain_text("No two-factor token is enrolled")
    check_accessibility(page)
    page.get_by_role("button", name="Issue a new token").click()
    expect(page.locator("#token-state")).to_contain_text("Issued, waiting to be set up")
    check_accessibility(page)
    _sign_out(page)

    # The old phone's codes no longer work; the person enrols the new token and signs in again.
    _password_step(page, base, EMAIL, NEW_PASSWORD)
    second_key = _enrol(page, base)
    assert second_key != first_key
    expect(page.get_by_role("heading", level=1, name="Search for a child")).to_be_visible()
    _sign_out(page)
    _password_step(page, base, EMAIL, NEW_PASSWORD)
    _code_step(page, second_key, steps_ahead=1)
    expect(page.get_by_role("heading", level=1, name="Search for a child")).to_be_visible()
    screenshot(page, "signed-in-again")
