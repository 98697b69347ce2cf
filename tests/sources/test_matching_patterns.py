"""How a child's record from one source meets the record another source made, pattern by pattern
(issue 26): a health extract (NHS numbers, no UPNs) loaded first, then a school extract (UPNs, no
NHS numbers) whose row for the same child differs the way real extracts do. Loads run as
`flask sources load` runs them (begin_load, run_load), on the test's database, with the shipped
model; each test says what the row must become, never a weight."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from index_service.children.models import Child, IdentifierKind, Service, SourceIdentifier
from index_service.extensions import db
from index_service.load_models import Load
from index_service.organisation_models import OrganisationType
from tests.factories import make_organisation
from tests.sources.loads import load_file, make_source, outcomes, row, write_extract

NHS_NUMBER = "9434765919"
TWIN_NHS_NUMBER = "4010232137"
UPN = "P373668835601"
TWIN_UPN = "Z373274281998"


def _health(**values: str) -> dict[str, str]:
    """The child as the health extract holds her: an NHS number, no UPN, no carer."""
    base = {
        "source_record_id": "H1",
        "given_name": "Geraldine",
        "family_name": "OKONKWO",
        "date_of_birth": "2014-03-18",
        "gender": "2",
        "nhs_number": NHS_NUMBER,
        "address_line1": "14 CARDIGAN ROAD",
        "town": "LEEDS",
        "postcode": "LS6 3AG",
        "parent_carer_name": "",
        "parent_carer_phone": "",
    }
    return row(**{**base, **values})


def _school(**values: str) -> dict[str, str]:
    """The same child as the school census holds her: a UPN, no NHS number, a contact."""
    base = {
        "source_record_id": "S1",
        "given_name": "Geraldine",
        "family_name": "Okonkwo",
        "date_of_birth": "18/03/2014",
        "gender": "F",
        "upn": UPN,
        "address_line1": "14 Cardigan Road",
        "town": "Leeds",
        "postcode": "LS6 3AG",
        "parent_carer_name": "Ngozi Okonkwo",
        "parent_carer_phone": "07700 900456",
    }
    return row(**{**base, **values})


def _health_then_school(
    tmp_path: Path, school: dict[str, str], health: list[dict[str, str]] | None = None
) -> tuple[Load, Child | None]:
    """Load the health extract, then the school one; the school load and the child its row went to."""
    nhs_trust = make_source(
        "Leeds GP registrations",
        Service.GP_PRACTICE,
        make_organisation(name="Leeds NHS", kind=OrganisationType.NHS_TRUST),
    )
    load_file(nhs_trust, write_extract(tmp_path / "health.csv", health or [_health()]))
    census = make_source("Leeds school census", Service.EDUCATION)
    load = load_file(census, write_extract(tmp_path / "school.csv", [school]))
    return load, _child_of(school["source_record_id"])


def _child_of(source_record_id: str) -> Child | None:
    return db.session.scalar(
        select(Child)
        .join(SourceIdentifier)
        .where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD, SourceIdentifier.value == source_record_id)
    )


def _children() -> int:
    return db.session.scalar(select(func.count()).select_from(Child)) or 0


def _links_to_health_record(load: Load, child: Child | None) -> None:
    assert outcomes(load) == {"S1": "linked"}
    assert child is not None and child == _child_of("H1")
    assert {(i.kind, i.value) for i in child.identifiers} >= {
        (IdentifierKind.NHS_NUMBER, NHS_NUMBER),
        (IdentifierKind.UPN, UPN),
    }
    assert _children() == 1


def test_near_identical_records_from_health_and_school_link(app: Flask, tmp_path: Path) -> None:
    """One with an NHS number and one with a UPN, nothing else different: the same child."""
    _links_to_health_record(*_health_then_school(tmp_path, _school()))


def test_one_digit_wrong_in_the_date_of_birth_with_the_same_names_links(app: Flask, tmp_path: Path) -> None:
    _links_to_health_record(*_health_then_school(tmp_path, _school(date_of_birth="18/08/2014")))


def test_day_and_month_swapped_links(app: Flask, tmp_path: Path) -> None:
    health = [_health(date_of_birth="2014-03-08")]
    _links_to_health_record(*_health_then_school(tmp_path, _school(date_of_birth="03/08/2014"), health))


def test_a_day_out_links(app: Flask, tmp_path: Path) -> None:
    health = [_health(date_of_birth="2014-03-19")]
    _links_to_health_record(*_health_then_school(tmp_path, _school(date_of_birth="20/03/2014"), health))


def test_a_dropped_or_doubled_letter_in_the_given_name_links(app: Flask, tmp_path: Path) -> None:
    _links_to_health_record(*_health_then_school(tmp_path, _school(given_name="Geralldine")))


def test_a_dropped_letter_in_a_short_given_name_links(app: Flask, tmp_path: Path) -> None:
    """ "Aa" for "Ada": two letters of three, which only the rest of the record can confirm."""
    health = [_health(given_name="Ada")]
    _links_to_health_record(*_health_then_school(tmp_path, _school(given_name="Aa"), health))


def test_a_nickname_links(app: Flask, tmp_path: Path) -> None:
    _links_to_health_record(*_health_then_school(tmp_path, _school(given_name="Gerry")))


def test_a_missing_postcode_and_a_wrong_date_of_birth_still_find_the_child(app: Flask, tmp_path: Path) -> None:
    """No postcode to meet her by name and postcode, and a date of birth a digit out: her names
    with the year of birth still find her, so no second record is made."""
    load, child = _health_then_school(tmp_path, _school(date_of_birth="18/03/2015", postcode=""))
    assert outcomes(load)["S1"] in ("linked", "review")
    assert _children() == 1
    assert child is None or child == _child_of("H1")


def test_twins_in_two_sources_are_never_merged(app: Flask, tmp_path: Path) -> None:
    """Her twin brother Gerald (his own UPN, same family, birthday and home, a name a few letters
    from hers) is never put on her record, and her own school row still links to her."""
    twin = _school(source_record_id="S2", given_name="Gerald", gender="M", upn=TWIN_UPN)
    load, child = _health_then_school(tmp_path, twin)
    assert outcomes(load) == {"S2": "created"}
    assert child is not None and child != _child_of("H1")
    census = make_source("Leeds school nursing", Service.SCHOOL_NURSE)
    again = load_file(census, write_extract(tmp_path / "nursing.csv", [_school(source_record_id="N1")]))
    assert outcomes(again) == {"N1": "linked"}
    assert _child_of("N1") == _child_of("H1") != _child_of("S2")
    assert _children() == 2
