"""An auditor's journey in a real browser, with axe-core checking every page for WCAG 2.2 A/AA.

A practitioner has viewed a child's record and searched for their own family name in their own
postcode area, and someone has failed to sign in. The auditor finds each of these: the child's
report (and its CSV), the subject access pack (and its PDF), the practitioner's own activity,
their organisation's activity by day, failed sign-ins and unusual use.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from accreditation.permissions import Role
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.extensions import db
from tests.browser.conftest import Practitioner, migrated_browser_app, serving
from tests.browser.test_practitioner_journey import check_accessibility, screenshot, sign_in
from tests.factories import make_child, make_organisation, make_user


@dataclass(frozen=True)
class AuditServer:
    url: str
    auditor: Practitioner
    practitioner_email: str
    organisation: str
    index_id: str


@pytest.fixture(scope="module")
def audit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditServer]:
    app = migrated_browser_app(
        tmp_path_factory.mktemp("audit-browser"), WORKING_HOURS=(0, 24)
    )  # nothing out of hours, whenever the test runs
    with app.app_context():
        organisation = make_organisation("Leeds Children's Services")
        practitioner = make_user(Role.PRACTITIONER, organisation=organisation)
        practitioner.display_name = "Jo Bennett"
        practitioner.home_postcode_district = "LS17"
        auditor = make_user(Role.AUDITOR)
        child = make_child()  # Oliver Bennett, 12 Meadow Lane, LS6 2AB
        db.session.commit()
        record_event(
            AuditTag.RECORD_SEARCH,
            user=practitioner,
            reason="safeguarding",
            target_ids=[child.index_id],
            details={"criteria": {"family_name": "Bennett", "date_of_birth": "2016-03-27"}},
        )
        record_event(AuditTag.RECORD_VIEW, user=practitioner, reason="safeguarding", target_ids=[child.index_id])
        record_event(
            AuditTag.LOGIN_FAILURE,
            Outcome.FAILURE,
            reason="wrong password",
            details={"email": "someone@example.org"},
            organisation_id=organisation.id,
        )
        db.session.commit()
        server = (
            Practitioner(auditor.email, auditor.totp_secret),
            practitioner.email,
            organisation.name,
            child.index_id,
        )
        db.session.remove()

    with serving(app) as url:
        yield AuditServer(url, *server)


def _download(page: Page, link_name: str) -> bytes:
    with page.expect_download() as download:
        page.get_by_role("link", name=link_name).click()
    path = download.value.path()
    assert path is not None
    with open(path, "rb") as saved:
        return saved.read()


@pytest.mark.browser
def test_an_auditor_answers_who_looked_and_who_used_the_index_unusually(audit_server: AuditServer, page: Page) -> None:
    base, index_id = audit_server.url, audit_server.index_id
    sign_in(page, base, audit_server.auditor)
    page.get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Audit")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^Searches and views by organisation"))).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name="Activity on a child's record").click()
    page.get_by_label("Index ID of the child").fill(index_id)
    page.get_by_role("button", name="Show").click()
    events = page.get_by_role("table", name="Events")
    expect(events).to_contain_text("record:view")
    expect(events).to_contain_text("Jo Bennett")
    expect(events).to_contain_text("safeguarding")
    expect(page.locator("#event-count")).to_contain_text("2 events")
    check_accessibility(page)
    screenshot(page, "audit-child")
    rows = list(csv.DictReader(io.StringIO(_download(page, "Download every event as CSV").decode("utf-8-sig"))))
    # The auditor's own look at this report, and this export, are on the child's trail too.
    assert [(row["action"], row["user_roles"]) for row in rows] == [
        ("record:search", "practitioner"),
        ("record:view", "practitioner"),
        ("audit:report:run", "auditor"),
        ("audit:export", "auditor"),
    ]
    assert all(index_id in row["target_ids"] for row in rows)

    page.get_by_role("link", name="Subject access pack for this child").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Subject access pack")
    looked = page.locator("#looks")
    expect(looked).to_contain_text(audit_server.organisation)
    expect(looked).to_contain_text("Practitioner")
    expect(looked).not_to_contain_text("Jo Bennett")
    check_accessibility(page)
    assert _download(page, "Download as PDF").startswith(b"%PDF-")

    page.goto(f"{base}/audit/users")
    page.get_by_label("Email address of the user").fill(audit_server.practitioner_email)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Activity of Jo Bennett")
    expect(page.get_by_role("table", name="Events")).to_contain_text("record:search")
    check_accessibility(page)

    page.goto(f"{base}/audit/organisations")
    page.get_by_label("Organisation").select_option(label=audit_server.organisation)
    page.get_by_role("button", name="Show").click()
    chart = page.get_by_role("img", name=re.compile(f"^Searches and views a day by {audit_server.organisation}"))
    expect(chart).to_be_visible()
    expect(page.locator("#event-count")).to_contain_text("3 events")
    check_accessibility(page)

    page.goto(f"{base}/audit/sign-in-failures")
    expect(page.get_by_role("table", name="Events")).to_contain_text("wrong password")
    check_accessibility(page)

    page.goto(f"{base}/audit/unusual")
    own = page.locator("#own_surname + table")
    expect(own).to_contain_text("Jo Bennett")
    expect(own).to_contain_text("in their own postcode area LS (home district LS17)")
    expect(
        page.get_by_role("heading", name="Searches and views outside working hours or at weekends (0)")
    ).to_be_visible()
    check_accessibility(page)
    screenshot(page, "audit-unusual")
