"""The data administrator's pages, through the real app: sources, uploads, reports, review, merges."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from stdnum import luhn
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.auth.models import User
from index_service.children.merges import Merge
from index_service.children.models import Child, Involvement, Service
from index_service.extensions import db
from index_service.index_ids import ALPHABET, format_index_id
from index_service.load_models import Load, LoadStatus, ReviewItem, ReviewStatus
from index_service.organisation_models import Organisation, OrganisationType
from index_service.sources.loading.run import run_load
from index_service.sources.models import DataSource
from tests.factories import csrf_token, make_child, make_organisation, make_user, page_csrf, sign_in
from tests.sources.loads import (
    COLUMNS,
    TODAY,
    load_file,
    make_source,
    row,
    stored_files,
    supplied_by,
    uploads_kept_in,
    write_extract,
)


@pytest.fixture(autouse=True)
def _uploads(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads go to the test's own folder, and loads run only when a test runs them."""
    return uploads_kept_in(tmp_path / "uploads", app, monkeypatch)


@pytest.fixture
def organisation(app: Flask) -> Organisation:
    return make_organisation(kind=OrganisationType.SCHOOL)


@pytest.fixture
def admin(organisation: Organisation) -> User:
    return make_user(Role.DATA_ADMIN, organisation=organisation)


@pytest.fixture
def source(organisation: Organisation) -> DataSource:
    return make_source(organisation=organisation)


def _csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for item in rows:
        writer.writerow(item)
    return out.getvalue().encode()


def _upload(
    client: FlaskClient,
    source: DataSource,
    content: bytes,
    *,
    action: str = "load",
    kind: str = "delta",
    name: str = "census.csv",
    token: str | None = "",
) -> TestResponse:
    path = f"/data/sources/{source.id}/loads/new"
    data: dict[str, object] = {"kind": kind, "action": action, "extract": FileStorage(io.BytesIO(content), name)}
    if token is not None:
        data["csrf_token"] = token or page_csrf(client, path)
    # Encoded in memory: the test client would spool a large body to a temporary file it never closes.
    boundary, body = encode_multipart(data)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _load_from(response: TestResponse) -> Load:
    assert response.status_code == 302, response.text
    found = re.search(r"/data/loads/(\d+)$", response.location)
    assert found, response.location
    db.session.expire_all()
    load = db.session.get(Load, int(found.group(1)))
    assert load is not None
    return load


def _children() -> int:
    return db.session.scalar(select(func.count()).select_from(Child)) or 0


def _events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def _review_item(source: DataSource, tmp_path: Path) -> tuple[ReviewItem, Child]:
    """A row too like Oliver Bennett to create, not enough to link (as in test_loading)."""
    existing = make_child(nhs_number=None)
    uncertain = row(
        "U1",
        given_name="Olivr",
        family_name="Bennet",
        gender="u",
        address_line1="2 Mill Street",
        postcode="BD1 1AA",
        parent_carer_name="",
    )
    load_file(source, write_extract(tmp_path / "uncertain.csv", [uncertain]))
    item = db.session.scalar(select(ReviewItem).where(ReviewItem.source_id == source.id))
    assert item is not None
    return item, existing


def _post(client: FlaskClient, path: str, data: dict[str, str] | None = None, form_page: str = "/data") -> TestResponse:
    """A POST with a CSRF token taken from a page the user can see."""
    return client.post(path, data={"csrf_token": page_csrf(client, form_page), **(data or {})})


# Who may reach the pages.


def test_a_practitioner_is_refused_every_data_page(app: Flask, client: FlaskClient) -> None:
    practitioner = make_user(Role.PRACTITIONER)
    sign_in(client, practitioner)
    token = page_csrf(client)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("sources."):
            continue
        path = rule.build({name: "1" for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
            assert response.status_code == 403, f"{method} {path}"
            checked += 1
    assert checked >= 15
    assert 'href="/data"' not in client.get("/search").text


def test_another_organisations_data_administrator_finds_nothing(
    app: Flask, client: FlaskClient, source: DataSource, tmp_path: Path
) -> None:
    item, _ = _review_item(source, tmp_path)
    load = item.load
    outsider = make_user(Role.DATA_ADMIN, organisation=make_organisation())
    sign_in(client, outsider)
    for path in (
        f"/data/sources/{source.id}",
        f"/data/sources/{source.id}/loads/new",
        f"/data/loads/{load.id}",
        f"/data/loads/{load.id}/report",
        f"/data/loads/{load.id}/report.csv",
        f"/data/review/{item.id}",
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/data/review/{item.id}/link",
        f"/data/review/{item.id}/create",
        f"/data/review/{item.id}/defer",
        f"/data/sources/{source.id}/active",
        f"/data/loads/{load.id}/resume",
        f"/data/loads/{load.id}/load",
    ):
        assert _post(client, path, {"index_id": item.candidates[0]["index_id"], "active": "0"}).status_code == 404, path
    assert _upload(client, source, _csv([row("X1")])).status_code == 404
    assert not _events(AuditTag.LOAD_REPORT_VIEW)
    db.session.expire_all()
    assert item.status is ReviewStatus.OPEN and source.is_active
    dashboard = client.get("/data").text
    assert source.name not in dashboard
    assert "Nothing is waiting for review" in client.get("/data/review").text


# Sources.


def test_registering_a_source_and_refusing_a_duplicate_name(
    client: FlaskClient, admin: User, organisation: Organisation
) -> None:
    sign_in(client, admin)
    form = {
        "name": "Leeds social care",
        "kind": "social_care",
        "service": "social_care",
        "involvement_organisation": str(organisation.id),
        "involvement_role": "Social worker",
    }
    page = client.get("/data/sources/new")
    assert f'<option value="{organisation.id}" selected>' in page.text
    response = client.post("/data/sources/new", data={**form, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    source = db.session.scalar(select(DataSource).where(DataSource.name == "Leeds social care"))
    assert source is not None
    assert source.organisation_id == organisation.id and source.service is Service.SOCIAL_CARE
    assert [e.details["source_id"] for e in _events(AuditTag.SOURCE_REGISTER)] == [source.id]
    assert "Leeds social care" in client.get("/data").text

    again = _post(client, "/data/sources/new", {**form, "name": "leeds SOCIAL care"}, "/data/sources/new")
    assert again.status_code == 200
    assert "There is a problem" in again.text and "already exists" in again.text
    assert db.session.scalar(select(func.count()).select_from(DataSource)) == 1


def test_a_source_can_be_deactivated_and_then_refuses_loads(
    client: FlaskClient, admin: User, source: DataSource
) -> None:
    sign_in(client, admin)
    assert _post(client, f"/data/sources/{source.id}/active", {"active": "0"}).status_code == 302
    db.session.expire_all()
    assert source.is_active is False
    response = _upload(client, source, _csv([row("S1")]))
    assert response.status_code == 200 and "is not active" in response.text
    assert db.session.scalar(select(func.count()).select_from(Load)) == 0
    _post(client, f"/data/sources/{source.id}/active", {"active": "1"})
    db.session.expire_all()
    assert source.is_active is True


# Uploads, progress and dry runs.


def test_an_upload_queues_a_load_and_the_progress_page_shows_its_counts(
    client: FlaskClient, admin: User, source: DataSource
) -> None:
    sign_in(client, admin)
    content = _csv(
        [
            row("S1"),
            row("S2", given_name="Amelia", gender="f", date_of_birth="2014-09-04"),
            row("S3", date_of_birth="not a date"),
        ]
    )
    load = _load_from(_upload(client, source, content))
    assert load.status is LoadStatus.QUEUED and not load.is_dry_run and load.rows_expected == 3
    queued = client.get(f"/data/loads/{load.id}")
    assert '<meta http-equiv="refresh" content="3">' in queued.text
    assert "<progress" in queued.text and "0 of 3 rows" in queued.text
    assert "refresh" not in client.get(f"/data/loads/{load.id}?refresh=off").text.split("<body")[0]

    run_load(load, today=TODAY)
    done = client.get(f"/data/loads/{load.id}")
    assert "http-equiv" not in done.text
    assert "Completed" in done.text
    summary = done.text.split('id="load-summary"')[1].split("</dl>")[0]
    assert re.search(r"Rows</dt><dd[^>]*>3<", summary)
    assert re.search(r"Created</dt>.*?>2<span", summary, re.S)
    assert "date_of_birth: 1" in done.text  # rejected rows by field
    assert _children() == 2


def test_a_dry_run_changes_nothing_shows_predictions_and_can_be_loaded_for_real(
    client: FlaskClient, admin: User, source: DataSource
) -> None:
    make_child()
    sign_in(client, admin)
    before = _children()
    content = _csv(
        [row("D1", nhs_number="9434765919"), row("D2", given_name="Amelia", gender="f", date_of_birth="2014-09-04")]
    )
    dry = _load_from(_upload(client, source, content, action="check"))
    assert dry.is_dry_run
    run_load(dry, today=TODAY)
    assert _children() == before
    assert db.session.scalar(select(func.count()).select_from(Involvement)) == 1
    page = client.get(f"/data/loads/{dry.id}")
    assert "Dry run" in page.text and "Would create" in page.text and "Would link" in page.text
    assert "Load this file for real" in page.text

    real = _load_from(_post(client, f"/data/loads/{dry.id}/load"))
    assert real.id != dry.id and not real.is_dry_run and real.file_sha256 == dry.file_sha256
    run_load(real, today=TODAY)
    assert _children() == before + 1


def test_a_file_that_cannot_load_is_refused_on_the_form(
    client: FlaskClient, admin: User, source: DataSource, _uploads: Path
) -> None:
    sign_in(client, admin)
    no_gender = _csv([row("S1")], tuple(c for c in COLUMNS if c != "gender"))
    response = _upload(client, source, no_gender)
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert "The header lacks required columns: gender" in response.text
    assert 'class="govuk-file-upload govuk-file-upload--error"' in response.text
    wrong = _upload(client, source, b"x", name="census.xlsx")
    assert wrong.status_code == 200 and "is not a .csv" in wrong.text
    assert db.session.scalar(select(func.count()).select_from(Load)) == 0
    assert stored_files(_uploads) == []


def test_uploads_may_exceed_the_global_limit_up_to_their_own(
    app: Flask, client: FlaskClient, admin: User, source: DataSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, admin)
    padding = [row(f"P{n}", given_name="Ava", date_of_birth="2015-01-01") for n in range(12000)]
    content = _csv(padding)
    assert len(content) > app.config["MAX_CONTENT_LENGTH"]
    assert _load_from(_upload(client, source, content)).rows_expected == 12000

    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1000)
    too_large = _upload(client, source, _csv([row("S1")] * 20))
    assert too_large.status_code == 413
    assert "The file is too large: the limit is 1,000 bytes" in too_large.text


def test_a_failed_load_shows_its_error_and_can_be_resumed(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    sign_in(client, admin)
    load = _load_from(_upload(client, source, _csv([row("S1")])))
    load.status, load.error = LoadStatus.FAILED, "RuntimeError: stopped after row 0; run the load again to resume"
    db.session.commit()
    page = client.get(f"/data/loads/{load.id}")
    assert "stopped after row 0" in page.text and "Resume the load" in page.text
    assert _post(client, f"/data/loads/{load.id}/resume").status_code == 302
    db.session.expire_all()
    assert load.status is LoadStatus.QUEUED and load.error is None
    run_load(load, today=TODAY)
    assert load.status is LoadStatus.COMPLETED


def test_a_failed_dry_run_says_it_checks_the_file_again_from_the_first_row(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    sign_in(client, admin)
    dry = _load_from(_upload(client, source, _csv([row("S1"), row("S2")]), action="check"))
    dry.status, dry.rows_done, dry.error = LoadStatus.FAILED, 1, "RuntimeError: stopped after row 1"
    db.session.commit()
    page = client.get(f"/data/loads/{dry.id}").text
    assert "checks the file again from the first row" in page and "Check the file again" in page
    assert "Resume the load" not in page and "Resuming carries on" not in page
    assert _post(client, f"/data/loads/{dry.id}/resume").status_code == 302
    run_load(dry, today=TODAY)
    assert dry.status is LoadStatus.COMPLETED and dry.counts == {"created": 1, "linked": 1}


# Reports.


def _loaded(source: DataSource, tmp_path: Path) -> Load:
    return load_file(
        source,
        write_extract(
            tmp_path / "census.csv",
            [
                row("S1"),
                row("S2", date_of_birth="31/02/2015"),
                row("S3", given_name="Amelia", gender="f", date_of_birth="2014-09-04"),
            ],
        ),
    )


def test_the_report_lists_rows_filters_by_outcome_and_is_audited(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    load = _loaded(source, tmp_path)
    sign_in(client, admin)
    page = client.get(f"/data/loads/{load.id}/report")
    assert page.status_code == 200
    table = page.text.split('id="report-rows"')[1]
    assert table.count('<tr class="govuk-table__row">') == 4  # the header and three rows
    assert ">S1<" in table and ">S2<" in table and ">S3<" in table
    rejected = client.get(f"/data/loads/{load.id}/report?outcome=rejected").text.split('id="report-rows"')[1]
    assert rejected.count('<tr class="govuk-table__row">') == 2
    assert ">S2<" in rejected and ">S1<" not in rejected
    assert "date_of_birth" in rejected and "31/02/2015" in rejected  # the reason and the value as sent
    assert [e.details["load_id"] for e in _events(AuditTag.LOAD_REPORT_VIEW)] == [load.id, load.id]


def test_the_report_is_paginated(
    app: Flask, client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    rows = [
        row(f"R{n}", given_name="Ava", date_of_birth=f"2015-01-{n % 28 + 1:02d}", family_name=f"Name{n}")
        for n in range(55)
    ]
    load = load_file(source, write_extract(tmp_path / "many.csv", rows))
    sign_in(client, admin)
    first = client.get(f"/data/loads/{load.id}/report").text
    second = client.get(f"/data/loads/{load.id}/report?page=2").text
    assert first.split('id="report-rows"')[1].count('<tr class="govuk-table__row">') == 51
    assert second.split('id="report-rows"')[1].count('<tr class="govuk-table__row">') == 6
    assert 'aria-label="Pages of the report"' in first and ">R54<" in second and ">R54<" not in first


def test_the_report_downloads_as_csv_and_is_audited(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    load = _loaded(source, tmp_path)
    sign_in(client, admin)
    # buffered: the test client reads the whole stream inside the request's context, as a server does
    response = client.get(f"/data/loads/{load.id}/report.csv", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["row_number", "source_record_id", "outcome", "index_id", "score", "reasons"]
    assert [line[:3] for line in lines[1:]] == [["1", "S1", "created"], ["2", "S2", "rejected"], ["3", "S3", "created"]]
    [event] = _events(AuditTag.LOAD_REPORT_VIEW)
    assert event.details["load_id"] == load.id and event.user_id == admin.id


# The review queue.


def test_the_queue_lists_an_item_and_its_page_explains_each_candidate(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    item, existing = _review_item(source, tmp_path)
    sign_in(client, admin)
    assert "<strong>1</strong> item waits" in client.get("/data").text
    queue = client.get("/data/review").text
    assert f'href="/data/review/{item.id}"' in queue and "Olivr Bennet" in queue
    page = client.get(f"/data/review/{item.id}").text
    comparison = page.split('id="comparison"')[1].split("</table>")[0]
    assert "Bennet" in comparison and existing.family_name in comparison and "BD1 1AA" in comparison
    assert format_index_id(existing.index_id) in page
    explanation = page.split('id="explanation-1"')[1].split("</table>")[0]
    for contribution in item.candidates[0]["contributions"]:
        assert contribution["explanation"] in explanation
    assert "Link to this child" in page and "Create a new child" in page and "Defer" in page


@pytest.mark.parametrize("decision", ["link", "create"])
def test_a_decision_is_made_audited_and_cannot_be_made_twice(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path, decision: str
) -> None:
    item, existing = _review_item(source, tmp_path)
    sign_in(client, admin)
    children = _children()
    path = f"/data/review/{item.id}/{decision}"
    response = _post(client, path, {"index_id": existing.index_id}, f"/data/review/{item.id}")
    assert response.status_code == 302 and response.location.endswith("/data/review")
    banner = client.get("/data/review").text
    assert "govuk-notification-banner--success" in banner
    db.session.expire_all()
    assert item.status is (ReviewStatus.LINKED if decision == "link" else ReviewStatus.CREATED)
    if decision == "link":
        assert item.child_id == existing.id and _children() == children
    else:
        assert item.child_id != existing.id and _children() == children + 1
    [event] = _events(AuditTag.REVIEW_DECISION)
    assert event.details["review_item"] == item.id and event.user_id == admin.id

    again = _post(client, f"/data/review/{item.id}/create", form_page="/data")
    assert again.status_code == 200
    assert "This item has already been decided" in again.text
    assert len(_events(AuditTag.REVIEW_DECISION)) == 1
    assert _children() == children + (decision == "create")


def test_deferring_keeps_the_item_in_the_queue_after_the_open_ones(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    item, _ = _review_item(source, tmp_path)
    sign_in(client, admin)
    assert _post(client, f"/data/review/{item.id}/defer").status_code == 302
    db.session.expire_all()
    assert item.status is ReviewStatus.DEFERRED
    assert _events(AuditTag.REVIEW_DECISION)[0].details["decision"] == "deferred"
    assert "Deferred" in client.get("/data/review").text
    assert "0 open, 1 deferred" in client.get("/data/review").text


def test_linking_to_a_child_who_is_not_a_candidate_is_refused(
    client: FlaskClient, admin: User, source: DataSource, tmp_path: Path
) -> None:
    item, _ = _review_item(source, tmp_path)
    other = make_child(given_name="Zara", family_name="Ahmed", nhs_number=None)
    sign_in(client, admin)
    response = _post(client, f"/data/review/{item.id}/link", {"index_id": other.index_id})
    assert response.status_code == 200 and "Choose one of the candidates shown" in response.text
    db.session.expire_all()
    assert item.status is ReviewStatus.OPEN


# Merging.


def _involvement_orgs(child: Child) -> set[int]:
    return {i.organisation_id for i in db.session.scalars(select(Involvement).where(Involvement.child_id == child.id))}


def test_merge_and_undo_round_trip_through_the_pages(client: FlaskClient, admin: User) -> None:
    kept = supplied_by(make_child(nhs_number=None), admin.organisation)
    retired = supplied_by(make_child(given_name="Ollie", nhs_number=None), admin.organisation)
    kept_orgs, retired_orgs = _involvement_orgs(kept), _involvement_orgs(retired)
    sign_in(client, admin)

    confirm = _post(
        client,
        "/data/merge",
        {"kept": format_index_id(kept.index_id), "retired": retired.index_id.lower()},
        "/data/merge",
    )
    assert confirm.status_code == 200 and "Are these the same child?" in confirm.text
    assert "Ollie" in confirm.text and "Oliver" in confirm.text
    merged = _post(client, "/data/merge/confirm", {"kept": kept.index_id, "retired": retired.index_id}, "/data/merge")
    assert merged.status_code == 302
    db.session.expire_all()
    merge = db.session.scalar(select(Merge))
    assert merge is not None and retired.merged_into_id == kept.id
    assert _involvement_orgs(kept) == kept_orgs | retired_orgs
    assert [e.tag for e in _events(AuditTag.RECORD_MERGE)] == [AuditTag.RECORD_MERGE]
    listing = client.get("/data/merge").text
    assert f"/data/merges/{merge.id}/undo" in listing

    again = _post(client, "/data/merge", {"kept": kept.index_id, "retired": retired.index_id}, "/data/merge")
    assert "has already been merged" in again.text

    assert _post(client, f"/data/merges/{merge.id}/undo", form_page="/data/merge").status_code == 302
    db.session.expire_all()
    assert retired.merged_into_id is None and merge.undone_at is not None
    assert _involvement_orgs(kept) == kept_orgs and _involvement_orgs(retired) == retired_orgs
    assert len(_events(AuditTag.RECORD_UNMERGE)) == 1
    assert f"/data/merges/{merge.id}/undo" not in client.get("/data/merge").text
    twice = _post(client, f"/data/merges/{merge.id}/undo", form_page="/data/merge")
    assert "already been undone" in client.get(twice.location).text


def test_merge_never_shows_another_organisations_record(client: FlaskClient, admin: User) -> None:
    ours = supplied_by(make_child(nhs_number=None), admin.organisation)
    theirs = supplied_by(make_child(given_name="Zara", family_name="Quinn", nhs_number=None), make_organisation())
    sign_in(client, admin)
    page = _post(client, "/data/merge", {"kept": ours.index_id, "retired": theirs.index_id}, "/data/merge")
    assert f"data sources supplied has the index ID {theirs.index_id}" in page.text
    assert "Quinn" not in page.text
    confirm = _post(client, "/data/merge/confirm", {"kept": ours.index_id, "retired": theirs.index_id}, "/data/merge")
    assert confirm.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Merge)) == 0


def test_merge_refuses_a_bad_or_unknown_index_id(client: FlaskClient, admin: User) -> None:
    kept = supplied_by(make_child(), admin.organisation)
    sign_in(client, admin)
    response = _post(client, "/data/merge", {"kept": kept.index_id, "retired": "ABC"}, "/data/merge")
    assert response.status_code == 200 and "An index ID has 9 characters" in response.text
    same = _post(client, "/data/merge", {"kept": kept.index_id, "retired": kept.index_id}, "/data/merge")
    assert "Enter two different index IDs" in same.text
    unknown = "00000000" + luhn.calc_check_digit("00000000", alphabet=ALPHABET)
    missing = _post(client, "/data/merge", {"kept": kept.index_id, "retired": unknown}, "/data/merge")
    assert f"data sources supplied has the index ID {unknown}" in missing.text
    assert db.session.scalar(select(func.count()).select_from(Merge)) == 0


# CSRF.


def test_every_form_needs_its_csrf_token(client: FlaskClient, admin: User, source: DataSource, tmp_path: Path) -> None:
    item, existing = _review_item(source, tmp_path)
    sign_in(client, admin)
    posts = {
        "/data/sources/new": {
            "name": "Another",
            "kind": "other",
            "service": "other",
            "involvement_organisation": str(admin.organisation_id),
        },
        f"/data/sources/{source.id}/active": {"active": "0"},
        f"/data/review/{item.id}/link": {"index_id": existing.index_id},
        f"/data/review/{item.id}/create": {},
        "/data/merge/confirm": {"kept": existing.index_id, "retired": existing.index_id},
    }
    for path, data in posts.items():
        assert client.post(path, data=data).status_code == 400, path
    assert _upload(client, source, _csv([row("S1")]), token=None).status_code == 400
    assert _upload(client, source, _csv([row("S1")]), token="forged").status_code == 400
    db.session.expire_all()
    assert item.status is ReviewStatus.OPEN and source.is_active
    assert db.session.scalar(select(func.count()).select_from(DataSource)) == 1
    assert db.session.scalar(select(func.count()).select_from(Load)) == 1  # the review item's own load
