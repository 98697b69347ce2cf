"""Loads through the real pipeline and database: every outcome, idempotency, resume, full and delta."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.held import person_of
from index_service.children.models import (
    BlockingKey,
    Child,
    ChildStatus,
    Gender,
    IdentifierKind,
    Involvement,
    Service,
    SourceIdentifier,
)
from index_service.children.records import AddressSpec
from index_service.database import SQLITE_LOAD_CACHE_KIB, SQLITE_LOAD_CHECKPOINT_PAGES
from index_service.extensions import db
from index_service.index_ids import new_index_id
from index_service.load_models import Load, LoadKind, LoadRow, LoadStatus, QuarantinedRow, ReviewItem
from index_service.sources.loading.run import begin_load, run_load
from index_service.sources.report import summary_lines
from matching.blocking import record_keys
from matching.levels import prepare
from matching.linkage import could_matter
from matching.person import Person
from tests.factories import make_child
from tests.sources.loads import TODAY, distinct_children, load_file, make_source, outcomes, row, write_extract


def _children() -> int:
    return db.session.scalar(select(func.count()).select_from(Child)) or 0


def _child_with_record(source_record_id: str) -> Child:
    return db.session.scalar(
        select(Child)
        .join(SourceIdentifier)
        .where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD, SourceIdentifier.value == source_record_id)
    )


def test_new_rows_create_children_with_involvement_and_provenance(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    path = write_extract(
        tmp_path / "census.csv",
        [
            row("S1", nhs_number="943 476 5919", practitioner_name="Ms Patel"),
            row(
                "S2",
                given_name="Amelia",
                family_name="Khan",
                date_of_birth="04/09/2014",
                gender="f",
                postcode="BD1 1AA",
                address_line1="3 Mill Street",
                parent_carer_name="Imran Khan",
            ),
        ],
    )
    load = load_file(source, path)
    assert load.status is LoadStatus.COMPLETED
    assert outcomes(load) == {"S1": "created", "S2": "created"}
    oliver = _child_with_record("S1")
    assert oliver.current_address.postcode == "LS6 2AB"
    assert {(i.kind, i.value) for i in oliver.identifiers} >= {(IdentifierKind.NHS_NUMBER, "9434765919")}
    [involvement] = oliver.involvements
    assert involvement.service is Service.EDUCATION
    assert involvement.organisation_id == source.involvement_organisation_id
    assert involvement.practitioner_name == "Ms Patel"
    assert involvement.role == "Designated safeguarding lead"
    assert {p.field: p.source_id for p in oliver.provenance}["family_name"] == source.id
    amelia = _child_with_record("S2")
    assert str(amelia.date_of_birth) == "2014-09-04"


def test_loading_the_same_file_twice_changes_nothing_and_says_so(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    path = write_extract(
        tmp_path / "census.csv",
        [
            row("S1"),
            row("S2", given_name="Amelia", gender="f", date_of_birth="2014-09-04"),
            row("S3", given_name=""),
        ],
    )
    first = load_file(source, path)
    children = _children()
    second = load_file(source, path)
    assert second.id != first.id
    assert outcomes(second) == {"S1": "unchanged", "S2": "unchanged", "S3": "rejected"}
    assert _children() == children
    assert second.summary["nothing_changed"] is True
    assert second.summary["same_file_as_load"] == first.id
    assert any("Nothing changed: this file was loaded before" in line for line in summary_lines(second))


def test_a_known_record_is_updated_and_blank_values_never_erase(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load_file(source, write_extract(tmp_path / "one.csv", [row("S1", middle_names="James")]))
    blanks = row(
        "S1", middle_names="", postcode="", address_line1="", town="", parent_carer_name="", parent_carer_phone=""
    )
    second = load_file(source, write_extract(tmp_path / "two.csv", [blanks]))
    assert outcomes(second) == {"S1": "unchanged"}
    child = _child_with_record("S1")
    assert child.middle_names == "James"
    assert child.current_address.postcode == "LS6 2AB"
    assert [c.phone for c in child.carers] == ["07700 900123"]

    moved = row("S1", address_line1="7 Hill Road", postcode="LS7 3QP", parent_carer_phone="07700 900999")
    third = load_file(source, write_extract(tmp_path / "three.csv", [moved]))
    assert outcomes(third) == {"S1": "updated"}
    db.session.refresh(child)
    assert child.current_address.postcode == "LS7 3QP"
    assert [a.postcode for a in child.addresses if not a.is_current] == ["LS6 2AB"]
    assert [c.phone for c in child.carers] == ["07700 900999"]


def test_a_row_for_a_child_already_in_the_index_links_to_it(app: Flask, tmp_path: Path) -> None:
    existing = make_child()
    source = make_source("Leeds social care", Service.SOCIAL_CARE)
    load = load_file(
        source,
        write_extract(
            tmp_path / "care.csv",
            [
                row("C9", given_name="Ollie", nhs_number="9434765919", practitioner_name="Dee Okafor"),
            ],
        ),
    )
    assert outcomes(load) == {"C9": "linked"}
    [report] = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id))
    assert report.child_id == existing.id
    assert report.score and report.score > 90
    assert report.reasons
    db.session.refresh(existing)
    assert {i.service for i in existing.involvements} == {Service.EDUCATION, Service.SOCIAL_CARE}
    assert existing.given_name == "Oliver"
    assert [n.given_name for n in existing.other_names] == ["Ollie"]


def test_a_row_with_both_names_and_the_postcode_mistyped_is_found_by_its_address(app: Flask, tmp_path: Path) -> None:
    existing = make_child()
    source = make_source("Leeds social care", Service.SOCIAL_CARE)
    load = load_file(
        source,
        write_extract(
            tmp_path / "care.csv",
            [
                row("C7", given_name="Pliver", family_name="Vennett", postcode="LS6 2AP"),
            ],
        ),
    )
    assert outcomes(load) == {"C7": "linked"}
    assert _child_with_record("C7").id == existing.id


def test_a_twin_is_never_linked_to_their_sibling(app: Flask, tmp_path: Path) -> None:
    twin = make_child(nhs_number=None)
    source = make_source()
    load = load_file(source, write_extract(tmp_path / "census.csv", [row("T2", given_name="Harriet", gender="f")]))
    assert outcomes(load) == {"T2": "created"}
    assert _child_with_record("T2").id != twin.id


def test_an_uncertain_row_waits_for_review_once(app: Flask, tmp_path: Path) -> None:
    existing = make_child(nhs_number=None)
    source = make_source()
    uncertain = row(
        "U1",
        given_name="Olivr",
        family_name="Bennet",
        gender="u",
        address_line1="2 Mill Street",
        postcode="BD1 1AA",
        parent_carer_name="",
    )
    path = write_extract(tmp_path / "census.csv", [uncertain])
    first = load_file(source, path)
    assert outcomes(first) == {"U1": "review"}
    [item] = db.session.scalars(select(ReviewItem))
    assert item.incoming["family_name"] == "Bennet"
    assert item.candidates[0]["child_id"] == existing.id
    assert item.candidates[0]["contributions"]
    second = load_file(source, path)
    assert outcomes(second) == {"U1": "review"}
    assert db.session.scalar(select(func.count()).select_from(ReviewItem)) == 1
    assert _children() == 1


def test_a_review_lists_candidates_too_weak_to_have_been_read_in_full(app: Flask, tmp_path: Path) -> None:
    oliver = make_child(nhs_number=None)
    harriet = make_child(
        given_name="Harriet",
        middle_names="Rose",
        gender=Gender.FEMALE,
        nhs_number="9434765870",
        address=AddressSpec("3 Elm Road", "Bradford", "BD3 9QQ"),
        carers=(),
    )
    source = make_source()
    uncertain = row(
        "U1",
        given_name="Olivr",
        middle_names="James",
        family_name="Bennet",
        gender="m",
        address_line1="2 Mill Street",
        postcode="BD1 1AA",
        parent_carer_name="",
    )
    incoming = Person(
        given_name="Olivr",
        middle_names="James",
        family_name="Bennet",
        date_of_birth=date(2016, 3, 27),
        gender="male",
        postcode="BD11AA",
        address_line="2 Mill Street",
    )
    assert not could_matter(incoming, person_of(harriet).without_details())  # a load reads her only for the review
    assert could_matter(incoming, person_of(oliver).without_details())
    load = load_file(source, write_extract(tmp_path / "census.csv", [uncertain]))
    assert outcomes(load) == {"U1": "review"}
    [item] = db.session.scalars(select(ReviewItem))
    assert [c["child_id"] for c in item.candidates] == [oliver.id, harriet.id]
    assert all(c["contributions"] for c in item.candidates)
    household = next(c for c in item.candidates[1]["contributions"] if c["field"] == "household")
    assert "BD3 9QQ" in household["explanation"]  # read in full: her address is compared


def test_an_nhs_number_the_index_holds_never_makes_a_second_record(app: Flask, tmp_path: Path) -> None:
    existing = make_child()
    source = make_source()
    stranger = row(
        "X1",
        given_name="Zara",
        family_name="Quinn",
        date_of_birth="2012-07-14",
        gender="f",
        nhs_number="9434765919",
        address_line1="4 Elm Road",
        postcode="BD3 9QQ",
        parent_carer_name="",
    )
    twice = [
        row(
            "T1",
            given_name="Amelia",
            family_name="Khan",
            date_of_birth="2014-09-04",
            gender="f",
            nhs_number="9434765870",
        ),
        row(
            "T2",
            given_name="Yusuf",
            family_name="Ahmed",
            date_of_birth="2010-01-30",
            gender="m",
            nhs_number="9434765870",
            address_line1="9 Far Lane",
            postcode="HX1 1AA",
            parent_carer_name="",
        ),
    ]
    load = load_file(source, write_extract(tmp_path / "census.csv", [stranger, *twice]))
    assert outcomes(load) == {"X1": "review", "T1": "created", "T2": "review"}
    reasons = {r.source_record_id: r.reasons for r in db.session.scalars(select(LoadRow))}
    for record in ("X1", "T2"):
        assert "conflict: the NHS number is already held by a record the names do not match" in reasons[record]
    assert db.session.scalar(select(func.count()).select_from(Child)) == 2
    assert existing.given_name == "Oliver"


def test_one_nhs_number_from_one_source_is_never_on_two_records(app: Flask, tmp_path: Path) -> None:
    oliver = make_child(nhs_number=None)
    source = make_source()
    rows = [
        row(
            "A1",
            given_name="Amelia",
            family_name="Khan",
            date_of_birth="2014-09-04",
            gender="f",
            nhs_number="9434765870",
            address_line1="3 Mill Street",
            postcode="BD1 1AA",
            parent_carer_name="Imran Khan",
        ),
        row("O1", nhs_number="9434765870"),
    ]
    load = load_file(source, write_extract(tmp_path / "census.csv", rows))
    report = {r.source_record_id: r for r in db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id))}
    assert report["O1"].outcome.value == "linked" and report["O1"].child_id == oliver.id
    assert any("gave the NHS number 9434765870 for another record too" in r for r in report["O1"].reasons)
    holders = db.session.scalars(select(SourceIdentifier.child_id).where(SourceIdentifier.value == "9434765870"))
    assert list(holders) == [report["A1"].child_id]


def test_bad_rows_are_quarantined_with_every_reason_and_the_load_goes_on(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    path = write_extract(
        tmp_path / "census.csv",
        [
            row("B1", date_of_birth="31/02/2015", nhs_number="9434765918"),
            row("G1"),
            row("B1", given_name="Amelia"),
        ],
    )
    load = load_file(source, path)
    report = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id).order_by(LoadRow.row_number))
    assert [r.outcome.value for r in report] == ["rejected", "created", "rejected"]
    quarantined = {q.row_number: q for q in db.session.scalars(select(QuarantinedRow))}
    assert set(quarantined) == {1, 3}
    assert quarantined[1].raw_values["date_of_birth"] == "31/02/2015"
    assert any(r.startswith("date_of_birth") for r in quarantined[1].reasons)
    assert any(r.startswith("nhs_number") for r in quarantined[1].reasons)
    assert any("more than once" in r for r in quarantined[3].reasons)
    assert load.summary["rejected_by_field"]["date_of_birth"] == 1


def test_over_eighteen_is_rejected_when_new_and_archives_a_known_child(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load_file(source, write_extract(tmp_path / "one.csv", [row("K1", date_of_birth="2008-11-27")]))
    adult_rows = [row("K1", date_of_birth="2008-11-26"), row("N1", given_name="Zara", date_of_birth="2001-01-01")]
    # K1's date of birth now makes them 18: their own source corrected it.
    load = load_file(source, write_extract(tmp_path / "two.csv", adult_rows))
    assert outcomes(load) == {"K1": "updated", "N1": "rejected"}
    assert _child_with_record("K1").status is ChildStatus.ARCHIVED
    assert any("18 or over" in r for r in db.session.scalar(select(QuarantinedRow)).reasons)


def test_a_full_load_ends_involvements_no_longer_supplied_and_a_delta_does_not(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    both = [row("S1"), row("S2", given_name="Amelia", family_name="Khan", gender="f", date_of_birth="2014-09-04")]
    load_file(source, write_extract(tmp_path / "both.csv", both), LoadKind.FULL)
    only_first = write_extract(tmp_path / "first.csv", [row("S1")])
    delta = load_file(source, only_first, LoadKind.DELTA)
    assert delta.summary["involvements_ended"] == 0
    dry = load_file(source, only_first, LoadKind.FULL, dry_run=True)
    assert dry.summary["involvements_ended"] == 1
    assert any(line == "  involvements that would end (not in this full load): 1" for line in summary_lines(dry))
    ended = select(func.count()).select_from(Involvement).where(Involvement.end_date.is_not(None))
    assert db.session.scalar(ended) == 0
    full = load_file(source, only_first, LoadKind.FULL)
    assert full.summary["involvements_ended"] == 1
    ended = {i.child_id: i.end_date for i in db.session.scalars(select(Involvement))}
    assert ended[_child_with_record("S2").id] == TODAY
    assert ended[_child_with_record("S1").id] is None


def test_a_dry_run_predicts_without_changing_the_index(app: Flask, tmp_path: Path) -> None:
    make_child()
    source = make_source()
    path = write_extract(
        tmp_path / "census.csv",
        [
            row("D1", nhs_number="9434765919"),
            row("D2", given_name="Amelia", gender="f", date_of_birth="2014-09-04"),
            row("D3", date_of_birth="yesterday"),
        ],
    )
    dry = load_file(source, path, dry_run=True)
    assert outcomes(dry) == {"D1": "linked", "D2": "created", "D3": "rejected"}
    assert _children() == 1
    assert db.session.scalar(select(func.count()).select_from(Involvement)) == 1
    assert dry.summary["missing"]["upn"] == 2
    assert any(line.startswith("  would create: 1") for line in summary_lines(dry))
    real = load_file(source, path)
    assert outcomes(real) == outcomes(dry)


def test_a_load_stopped_part_way_resumes_after_its_last_committed_batch(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "LOAD_BATCH_ROWS", 3)
    source = make_source()
    rows = [
        row(f"R{n}", given_name=name, date_of_birth=f"2015-01-{n + 1:02d}")
        for n, name in enumerate(["Ava", "Ben", "Cara", "Dev", "Ella", "Finn", "Gus", "Hana"])
    ]
    path = write_extract(tmp_path / "census.csv", rows)
    load = begin_load(source, path, LoadKind.DELTA)
    db.session.commit()

    def stop_after_first_batch(progress: Load) -> None:
        raise RuntimeError("the machine went down")

    with pytest.raises(RuntimeError):
        run_load(load, today=TODAY, progress=stop_after_first_batch)
    assert load.status is LoadStatus.FAILED
    assert load.rows_done == 3
    assert _children() == 3
    again = begin_load(source, path, LoadKind.DELTA)
    assert again.id == load.id
    run_load(again, today=TODAY)
    assert again.status is LoadStatus.COMPLETED
    assert _children() == 8
    assert sorted(outcomes(again)) == sorted(f"R{n}" for n in range(8))
    assert set(outcomes(again).values()) == {"created"}


def test_every_load_is_audited(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load = load_file(source, write_extract(tmp_path / "census.csv", [row("S1")]))
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tag.in_((AuditTag.LOAD_START, AuditTag.LOAD_FINISH)))
            .order_by(AuditEvent.id)
        )
    )
    assert [e.tag for e in events] == [AuditTag.LOAD_START, AuditTag.LOAD_FINISH]
    assert events[1].details["load_id"] == load.id
    assert events[1].details["counts"] == {"created": 1}
    assert events[1].details["file_sha256"] == load.file_sha256
    # Run from the command line, by nobody: the source's organisation is the one acting.
    assert all(e.user_id is None and e.organisation_id == source.organisation_id for e in events)


def test_a_new_record_never_takes_an_index_id_already_held(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = make_child()
    unused = new_index_id()
    fresh = iter([existing.index_id, existing.index_id, unused])
    monkeypatch.setattr("index_service.children.writes.new_index_id", lambda: next(fresh))
    load = load_file(
        make_source(),
        write_extract(
            tmp_path / "census.csv",
            [row("N1", given_name="Amelia", family_name="Khan", date_of_birth="2014-09-04", gender="f")],
        ),
    )
    assert outcomes(load) == {"N1": "created"}
    assert _child_with_record("N1").index_id == unused


def _stored_keys(child: Child) -> set[int]:
    return set(db.session.scalars(select(BlockingKey.key).where(BlockingKey.child_id == child.id)))


def test_rows_for_one_child_in_one_batch_land_on_one_record_with_every_change(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load = load_file(
        source,
        write_extract(
            tmp_path / "census.csv",
            [
                row("S1", nhs_number="9434765919", town=""),
                row("S2", nhs_number="9434765919", middle_names="James", town="Leeds"),
                row("S3", nhs_number="9434765919", address_line1="7 Hill Road", postcode="LS7 3QP", town=""),
                row("S4", nhs_number="9434765919", address_line1="7 Hill Road", postcode="LS7 3QP", town="Leeds"),
            ],
        ),
    )
    assert outcomes(load) == {"S1": "created", "S2": "linked", "S3": "linked", "S4": "linked"}
    assert _children() == 1
    child = _child_with_record("S1")
    assert {i.value for i in child.identifiers if i.kind is IdentifierKind.SOURCE_RECORD} == {"S1", "S2", "S3", "S4"}
    assert child.middle_names == "James"
    assert [(a.postcode, a.town, a.is_current) for a in child.addresses] == [
        ("LS6 2AB", "Leeds", False),
        ("LS7 3QP", "Leeds", True),
    ]
    assert _stored_keys(child) == record_keys(person_of(child, household=True))


def test_a_change_to_a_known_record_refreshes_its_blocking_keys(app: Flask, tmp_path: Path) -> None:
    existing = make_child()
    before = _stored_keys(existing)
    source = make_source("Leeds social care", Service.SOCIAL_CARE)
    load = load_file(
        source,
        write_extract(
            tmp_path / "care.csv",
            [
                row(
                    "C1",
                    nhs_number="9434765919",
                    family_name="Bennett-Hall",
                    address_line1="7 Hill Road",
                    postcode="LS7 3QP",
                ),
            ],
        ),
    )
    assert outcomes(load) == {"C1": "linked"}
    db.session.expire_all()
    child = db.session.get_one(Child, existing.id)
    assert [n.family_name for n in child.other_names] == ["Bennett-Hall"]
    assert child.current_address.postcode == "LS7 3QP"
    assert _stored_keys(child) == record_keys(person_of(child, household=True)) != before


@pytest.mark.perf
def test_a_load_forgets_the_people_it_prepared_for_matching(app: Flask, tmp_path: Path) -> None:
    """Kept, a batch's prepared people outlived it, and the cycle collector scanned them all after every batch."""
    load_file(make_source(), write_extract(tmp_path / "children.csv", distinct_children("P", 3)))
    assert prepare.cache_info().currsize == 0


@pytest.mark.perf
def test_a_load_gives_its_sqlite_connection_a_bulk_loads_cache_and_log(app: Flask, tmp_path: Path) -> None:
    load_file(make_source(), write_extract(tmp_path / "children.csv", distinct_children("P", 3)))
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("SQLite's settings")
    assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_LOAD_CACHE_KIB
    assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SQLITE_LOAD_CHECKPOINT_PAGES
