"""Loads and shielded children: a load can shield but never unshield, and a row that resembles a
shielded child never becomes a second, unshielded record of that child."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.models import Child, IdentifierKind, SourceIdentifier
from index_service.children.records import AddressSpec
from index_service.children.shielding_decisions import ShieldingDecision
from index_service.extensions import db
from index_service.load_models import LoadRow, ReviewItem
from index_service.record_shielding.operations import shield
from index_service.sources import review, shielded
from index_service.sources.models import DataSource
from index_service.sources.report import report_csv
from index_service.sources.review import ReviewError
from shielding.policy import ShieldAction, ShieldReason
from tests.factories import make_child, make_user, sign_in
from tests.sources.loads import load_file, make_source, outcomes, row, write_extract


def _children() -> int:
    return db.session.scalar(select(func.count()).select_from(Child)) or 0


def _with_record(source_record_id: str) -> Child:
    return db.session.scalar(
        select(Child)
        .join(SourceIdentifier)
        .where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD, SourceIdentifier.value == source_record_id)
    )


def _decisions(child: Child) -> list[ShieldingDecision]:
    return list(db.session.scalars(select(ShieldingDecision).where(ShieldingDecision.child_id == child.id)))


# Amelia adopted: a new family name and a new home; only her given name and date of birth agree.
ADOPTED_AMELIA = {
    "given_name": "Amelia",
    "family_name": "Holt",
    "date_of_birth": "2014-09-04",
    "gender": "f",
    "address_line1": "3 Elm Close",
    "postcode": "HG1 2AA",
    "parent_carer_name": "",
}


def _shielded_child() -> Child:
    """Amelia Khan, shielded, at a refuge: every row below is compared with her."""
    return make_child(
        given_name="Amelia",
        family_name="Khan",
        date_of_birth=date(2014, 9, 4),
        address=AddressSpec("1 Refuge Row", "Bradford", "BD7 1AA"),
        carers=(),
        nhs_number=None,
        is_shielded=True,
    )


def test_a_row_flagged_for_shielding_makes_a_shielded_record_with_a_decision(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load = load_file(
        source,
        write_extract(
            tmp_path / "census.csv",
            [
                row("S1", shield="yes"),
                row(
                    "S2",
                    given_name="Zara",
                    family_name="Ahmed",
                    date_of_birth="2013-01-02",
                    gender="f",
                    postcode="LS1 4AP",
                    address_line1="9 Park Row",
                    parent_carer_name="",
                ),
            ],
        ),
    )
    assert outcomes(load) == {"S1": "created", "S2": "created"}
    flagged, plain = _with_record("S1"), _with_record("S2")
    assert flagged.is_shielded and not plain.is_shielded
    [decision] = _decisions(flagged)
    assert decision.action is ShieldAction.SHIELD and decision.load_id == load.id and decision.decided_by_id is None
    assert source.name in decision.note
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.SHIELD_ADD)).all()
    assert [event.target_ids for event in events] == [[flagged.index_id]]


def test_a_flagged_row_shields_a_known_record_and_no_later_row_unshields_it(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load_file(source, write_extract(tmp_path / "one.csv", [row("S1")]))
    child = _with_record("S1")
    assert not child.is_shielded
    second = load_file(source, write_extract(tmp_path / "two.csv", [row("S1", shield="y")]))
    assert outcomes(second) == {"S1": "updated"}
    db.session.refresh(child)
    assert child.is_shielded
    for number, flag in enumerate(("no", "", "false"), start=3):
        later = load_file(source, write_extract(tmp_path / f"{number}.csv", [row("S1", shield=flag, town="Otley")]))
        assert outcomes(later)["S1"] == "shielded"  # shielded now: the same outcome whatever the row says
        db.session.refresh(child)
        assert child.is_shielded, flag
    assert [d.action for d in _decisions(child)] == [ShieldAction.SHIELD]


def test_a_row_weakly_like_a_shielded_child_goes_to_review_where_an_unshielded_one_would_be_new(
    app: Flask,
    tmp_path: Path,
) -> None:
    """An adopted child under a new family name at a new address: only the given name and date of birth agree."""
    amelia = _shielded_child()
    adopted = row("A1", **ADOPTED_AMELIA)
    load = load_file(make_source(), write_extract(tmp_path / "census.csv", [adopted]))
    assert outcomes(load) == {"A1": "review"}
    assert _children() == 1
    item = db.session.scalar(select(ReviewItem))
    assert amelia.index_id in {candidate["index_id"] for candidate in item.candidates}

    amelia.is_shielded = False
    db.session.commit()
    elsewhere = make_source("Harrogate census")
    again = load_file(elsewhere, write_extract(tmp_path / "again.csv", [{**adopted, "source_record_id": "A2"}]))
    assert outcomes(again) == {"A2": "created"}


def test_a_twin_of_a_shielded_child_goes_to_review_not_a_new_record(app: Flask, tmp_path: Path) -> None:
    _shielded_child()
    twin = row(
        "T1",
        given_name="Hana",
        family_name="Khan",
        date_of_birth="2014-09-04",
        gender="f",
        address_line1="1 Refuge Row",
        town="Bradford",
        postcode="BD7 1AA",
        parent_carer_name="",
    )
    load = load_file(make_source(), write_extract(tmp_path / "census.csv", [twin]))
    assert outcomes(load) == {"T1": "review"}
    assert _children() == 1


def test_a_record_made_in_review_from_such_a_row_is_shielded(app: Flask, tmp_path: Path) -> None:
    _shielded_child()
    source = make_source()
    load_file(
        source,
        write_extract(
            tmp_path / "census.csv",
            [row("A1", **ADOPTED_AMELIA)],
        ),
    )
    item = db.session.scalar(select(ReviewItem))
    # Its best candidate is the shielded record: decided by someone who may see it.
    admin = make_user(Role.DATA_ADMIN, Role.SHIELDER, organisation=source.organisation)
    made = review.create_from_item(item, admin)
    db.session.commit()
    assert made.is_shielded
    [decision] = _decisions(made)
    assert decision.decided_by_id == admin.id and "resembled a shielded record" in decision.note


def test_a_data_administrator_cannot_see_or_decide_an_item_whose_best_candidate_is_shielded(
    app: Flask,
    client: FlaskClient,
    tmp_path: Path,
) -> None:
    amelia = _shielded_child()
    source = make_source()
    load_file(
        source,
        write_extract(
            tmp_path / "census.csv",
            [row("A1", **ADOPTED_AMELIA)],
        ),
    )
    item = db.session.scalar(select(ReviewItem))
    assert item.best_shielded
    admin = make_user(Role.DATA_ADMIN, organisation=source.organisation)
    sign_in(client, admin)
    assert client.get(f"/data/review/{item.id}").status_code == 404
    queue = client.get("/data/review").text
    assert "1 more item resembles a shielded record" in queue and "Amelia" not in queue
    assert amelia.index_id not in queue and "Refuge Row" not in queue and "BD7" not in queue
    assert review.queue(admin) == ([], 0)
    for decide in (
        lambda: review.link_item(item, amelia.index_id, admin),
        lambda: review.create_from_item(item, admin),
    ):
        with pytest.raises(ReviewError, match="shielded"):
            decide()


def test_a_candidate_shielded_after_the_item_was_made_is_hidden_and_cannot_be_linked(
    app: Flask,
    client: FlaskClient,
    tmp_path: Path,
) -> None:
    oliver = make_child(nhs_number=None)
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
    load_file(source, write_extract(tmp_path / "census.csv", [uncertain]))
    item = db.session.scalar(select(ReviewItem))
    assert not item.best_shielded
    shield(oliver, ShieldReason.DOMESTIC_ABUSE, "Moved to a refuge", date(2027, 5, 1), make_user(Role.SHIELDER))
    db.session.commit()
    admin = make_user(Role.DATA_ADMIN, organisation=source.organisation)
    sign_in(client, admin)
    page = client.get(f"/data/review/{item.id}").text
    assert "resembles 1 shielded record" in page
    assert oliver.index_id not in page and "Meadow Lane" not in page and "LS6" not in page
    with pytest.raises(ReviewError, match="shielded"):
        review.link_item(item, oliver.index_id, admin)


def test_a_dry_run_of_a_flagged_row_shields_nothing(app: Flask, tmp_path: Path) -> None:
    source = make_source()
    load = load_file(source, write_extract(tmp_path / "census.csv", [row("S1", shield="yes")]), dry_run=True)
    assert outcomes(load) == {"S1": "created"}
    assert _children() == 0
    assert db.session.scalar(select(func.count()).select_from(ShieldingDecision)) == 0


def test_the_load_report_never_names_a_shielded_record_a_row_resembles(app: Flask, tmp_path: Path) -> None:
    amelia = _shielded_child()
    load = load_file(
        make_source(),
        write_extract(
            tmp_path / "census.csv",
            [
                row("A1", **ADOPTED_AMELIA),
                row(
                    "T1",
                    given_name="Hana",
                    family_name="Khan",
                    date_of_birth="2014-09-04",
                    gender="f",
                    address_line1="1 Refuge Row",
                    town="Bradford",
                    postcode="BD7 1AA",
                    parent_carer_name="",
                ),
            ],
        ),
    )
    assert outcomes(load) == {"A1": "review", "T1": "review"}
    report = "".join(report_csv(load.id))
    assert amelia.index_id not in report
    reported = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id)).all()
    assert all(r.score is None and "shielded record" in "; ".join(r.reasons) for r in reported)


def test_a_guessed_postcode_and_date_of_birth_never_reveal_a_shielded_child(app: Flask, tmp_path: Path) -> None:
    """Where a row says a child lives cannot make it resemble a shielded child: only who the child is can."""
    _shielded_child()
    probe = row(
        "P1",
        given_name="Oscar",
        family_name="Lindqvist",
        date_of_birth="2014-09-04",
        gender="m",
        address_line1="2 Refuge Row",
        town="Bradford",
        postcode="BD7 1AA",
        parent_carer_name="",
    )
    load = load_file(make_source(), write_extract(tmp_path / "census.csv", [probe]))
    assert outcomes(load) == {"P1": "created"}
    [reported] = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id)).all()
    assert not any("shielded" in reason for reason in reported.reasons)


def _sent_before(child: Child, source_record_id: str) -> DataSource:
    """A source that sent a record of the child before, under this id."""
    source = make_source()
    child.identifiers.append(SourceIdentifier(kind=IdentifierKind.SOURCE_RECORD, value=source_record_id, source=source))
    db.session.commit()
    return source


def test_a_row_on_a_shielded_record_is_applied_in_full_and_reported_the_same_way_whatever_it_holds(
    app: Flask,
    tmp_path: Path,
) -> None:
    amelia = _shielded_child()
    source = _sent_before(amelia, "K1")
    sent = {
        "given_name": "Amelia",
        "family_name": "Khan",
        "date_of_birth": "2014-09-04",
        "gender": "f",
        "parent_carer_name": "",
    }
    same = load_file(
        source,
        write_extract(
            tmp_path / "same.csv",
            [row("K1", **sent, address_line1="1 Refuge Row", town="Bradford", postcode="BD7 1AA")],
        ),
    )
    moved = load_file(
        source,
        write_extract(
            tmp_path / "moved.csv",
            [row("K1", **sent, address_line1="4 Mill Lane", town="Keighley", postcode="BD21 3AA")],
        ),
    )
    reports = [db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id)).one() for load in (same, moved)]
    assert [(r.outcome.value, r.score, r.reasons) for r in reports] == [("shielded", None, [shielded.REASON])] * 2
    assert same.counts == moved.counts == {"shielded": 1}
    assert not same.summary["nothing_changed"] and not moved.summary["nothing_changed"]
    db.session.expire_all()
    assert amelia.current_address.postcode == "BD21 3AA"  # nothing the row said is lost


def test_rows_on_an_unshielded_record_still_say_whether_they_changed_it(app: Flask, tmp_path: Path) -> None:
    oliver = make_child(nhs_number=None)
    source = _sent_before(oliver, "K1")
    same = load_file(source, write_extract(tmp_path / "same.csv", [row("K1")]))
    moved = load_file(
        source, write_extract(tmp_path / "moved.csv", [row("K1", postcode="LS1 4AP", address_line1="9 Park Row")])
    )
    assert outcomes(same) == {"K1": "updated"}  # the source's involvement is new
    again = load_file(
        source, write_extract(tmp_path / "again.csv", [row("K1", postcode="LS1 4AP", address_line1="9 Park Row")])
    )
    assert outcomes(again) == {"K1": "unchanged"} and outcomes(moved) == {"K1": "updated"}
