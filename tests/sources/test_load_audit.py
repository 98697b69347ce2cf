"""A load's changes in each child's audit trail: every child a load makes, links, changes or
archives is found in that child's activity report, with the load, the source and the names of
the fields it changed (never their values). A dry run writes none of it."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.models import Child, IdentifierKind, SourceIdentifier
from index_service.children.records import AddressSpec
from index_service.extensions import db
from index_service.load_models import LoadKind
from tests.audit.support import verify_session
from tests.factories import make_child, make_user, sign_in
from tests.sources.loads import load_file, make_source, outcomes, row, write_extract


def _changes(index_id: str | None = None) -> list[AuditEvent]:
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.tag == AuditTag.LOAD_CHANGE).order_by(AuditEvent.id)
    ).all()
    return [e for e in events if index_id is None or index_id in e.target_ids]


def _with_record(source_record_id: str) -> Child:
    return db.session.scalar(
        select(Child)
        .join(SourceIdentifier)
        .where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD, SourceIdentifier.value == source_record_id)
    )


def test_a_fuzzy_link_that_moves_a_child_is_in_the_childs_activity_report(
    app: Flask,
    client: FlaskClient,
    tmp_path: Path,
) -> None:
    child = make_child(nhs_number=None)
    source = make_source()
    moved = row("M1", given_name="Olivr", address_line1="4 Canal Wharf", town="Leeds", postcode="LS1 4AP")
    load = load_file(source, write_extract(tmp_path / "moved.csv", [moved]))
    assert outcomes(load) == {"M1": "linked"}
    [event] = _changes(child.index_id)
    assert event.details == {
        "load_id": load.id,
        "source": source.name,
        "row": 1,
        "change": "linked",
        "fields": ["address", "involvement", "other_names", "source_record_id"],
    }
    assert event.target_ids == [child.index_id] and event.organisation_id == source.organisation_id
    text = json.dumps(event.details)
    assert "Canal" not in text and "LS1" not in text and "Olivr" not in text  # names of fields, never values

    sign_in(client, make_user(Role.AUDITOR))
    page = client.get(f"/audit/children?index_id={child.index_id}").text
    assert "load:record:change" in page and source.name in page and f'"load_id": {load.id}' in page
    api = client.get(f"/api/v1/audit/children/{child.index_id}").json
    assert [e["details"]["change"] for e in api["events"] if e["tag"] == "load:record:change"] == ["linked"]


def test_a_load_audits_each_child_it_makes_changes_or_archives_and_none_it_leaves_alone(
    app: Flask,
    tmp_path: Path,
) -> None:
    source = make_source()
    first = load_file(
        source,
        write_extract(
            tmp_path / "one.csv",
            [
                row("S1"),
                row(
                    "S2",
                    given_name="Amelia",
                    gender="f",
                    date_of_birth="2014-09-04",
                    postcode="",
                    address_line1="",
                    town="",
                    parent_carer_name="",
                ),
            ],
        ),
    )
    oliver, amelia = _with_record("S1"), _with_record("S2")
    assert [e.details["change"] for e in _changes(oliver.index_id)] == ["created"]
    [made] = _changes(amelia.index_id)
    assert made.details["load_id"] == first.id and made.details["fields"] == [
        "date_of_birth",
        "family_name",
        "gender",
        "given_name",
        "involvement",
        "source_record_id",
    ]

    second = load_file(
        source,
        write_extract(
            tmp_path / "two.csv",
            [
                row("S1"),  # the same again: nothing changed, nothing audited
                row(
                    "S2",
                    given_name="Amelia",
                    gender="f",
                    date_of_birth="2007-09-04",
                    postcode="",
                    address_line1="",
                    town="",
                    parent_carer_name="Hana Khan",
                ),
            ],
        ),
    )
    assert outcomes(second) == {"S1": "unchanged", "S2": "updated"}
    assert len(_changes(oliver.index_id)) == 1
    changed = _changes(amelia.index_id)[-1]
    assert changed.details["change"] == "archived" and changed.details["load_id"] == second.id
    assert changed.details["fields"] == ["carer", "date_of_birth", "status"]


def test_a_full_load_audits_each_child_whose_involvement_it_ends(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load_file(
        source,
        write_extract(
            tmp_path / "one.csv", [row("S1"), row("S2", given_name="Amelia", gender="f", date_of_birth="2014-09-04")]
        ),
    )
    amelia = _with_record("S2")
    full = load_file(source, write_extract(tmp_path / "full.csv", [row("S1")]), kind=LoadKind.FULL)
    assert full.summary["involvements_ended"] == 1
    ended = _changes(amelia.index_id)[-1]
    assert ended.details == {
        "load_id": full.id,
        "source": source.name,
        "row": None,
        "change": "involvement ended",
        "fields": ["involvement"],
    }
    assert len(_changes(_with_record("S1").index_id)) == 1  # made; supplied again unchanged


def test_a_dry_run_writes_no_childs_event(app: Flask, tmp_path: Path) -> None:
    child = make_child(nhs_number=None)
    before = len(_changes())
    load_file(
        make_source(),
        write_extract(
            tmp_path / "dry.csv",
            [
                row("M1", given_name="Olivr", address_line1="4 Canal Wharf", postcode="LS1 4AP"),
                row("N1", given_name="Zara", family_name="Ahmed", date_of_birth="2013-01-02", gender="f"),
            ],
        ),
        dry_run=True,
    )
    assert len(_changes()) == before == 0
    assert not _changes(child.index_id)


def test_a_load_on_a_shielded_record_is_audited_for_auditors_and_the_chain_holds(
    app: Flask,
    client: FlaskClient,
    tmp_path: Path,
) -> None:
    hidden = make_child(nhs_number=None, address=AddressSpec("1 Refuge Row", "Bradford", "BD7 1AA"), is_shielded=True)
    source = make_source()
    hidden.identifiers.append(SourceIdentifier(kind=IdentifierKind.SOURCE_RECORD, value="H1", source=source))
    db.session.commit()
    load = load_file(source, write_extract(tmp_path / "guess.csv", [row("H1", postcode="BD7 1AB", address_line1="")]))
    assert outcomes(load) == {"H1": "shielded"}
    [event] = _changes(hidden.index_id)
    assert event.details["fields"] == ["address", "involvement"]
    assert "BD7" not in json.dumps(event.details)
    sign_in(client, make_user(Role.DATA_ADMIN, organisation=source.organisation))
    assert client.get(f"/audit/children?index_id={hidden.index_id}").status_code == 403
    assert verify_session().intact
