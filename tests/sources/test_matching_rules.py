"""Two rules of matching, through real loads (`flask sources load` and the load it runs): the twin
rule yields to a shared NHS number or UPN, and a row never links to a shielded record on a fuzzy
match alone (that review item is for those who may see the record)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.children.models import Child
from index_service.children.records import AddressSpec
from index_service.extensions import db
from index_service.index_ids import format_index_id
from index_service.load_models import Load, LoadRow, ReviewItem, ReviewStatus
from index_service.organisation_models import Organisation
from index_service.sources import review, shielded
from index_service.sources.report import report_csv
from index_service.sources.review import ReviewError
from matching.deciding import SHIELDED_RESEMBLANCE
from tests.factories import make_child, make_organisation, make_user, page_csrf, sign_in
from tests.sources.loads import load_file, make_source, outcomes, row, write_extract

NHS_NUMBER = "9434765919"
UPN = "R373412315021"
IDENTIFIERS = {"NHS number": ("nhs_number", NHS_NUMBER), "UPN": ("upn", UPN)}


def _children() -> int:
    return db.session.scalar(select(func.count()).select_from(Child)) or 0


def _command_load(app: Flask, source_name: str, path: Path) -> Load:
    """`flask sources load SOURCE FILE`, as a data administrator's server would run it."""
    ran = app.test_cli_runner().invoke(args=["sources", "load", source_name, str(path)])
    assert ran.exit_code == 0, ran.output
    db.session.expire_all()
    load = db.session.scalar(select(Load).order_by(Load.id.desc()))
    assert load is not None
    return load


# The twin rule yields to a shared NHS number or UPN.


def _william(**identifiers: str) -> Child:
    return make_child(
        given_name="William",
        family_name="Oyelaran",
        date_of_birth=date(2015, 4, 9),
        address=AddressSpec("12 Hyde Park Road", "Leeds", "LS6 2AB"),
        carers=(("Ada Oyelaran", "Mother", "07700 900456"),),
        nhs_number=identifiers.get("nhs_number"),
        upn=identifiers.get("upn"),
    )


def _samuel(source_record_id: str, **values: str) -> dict[str, str]:
    """A row at William's home and birthday with another given name: his twin, unless it shares his number."""
    return row(
        source_record_id,
        given_name="Samuel",
        family_name="Oyelaran",
        date_of_birth="2015-04-09",
        address_line1="12 Hyde Park Road",
        postcode="LS6 2AB",
        parent_carer_name="Ada Oyelaran",
        **values,
    )


@pytest.mark.parametrize("kind", sorted(IDENTIFIERS))
def test_a_twin_like_row_that_shares_an_nhs_number_or_upn_links_to_that_child(
    app: Flask, tmp_path: Path, kind: str
) -> None:
    column, value = IDENTIFIERS[kind]
    william = _william(**{column: value})
    source = make_source()
    load = _command_load(app, source.name, write_extract(tmp_path / "census.csv", [_samuel("S1", **{column: value})]))
    assert outcomes(load) == {"S1": "linked"}
    assert db.session.scalar(select(LoadRow.child_id).where(LoadRow.load_id == load.id)) == william.id
    assert _children() == 1


def test_without_a_shared_identifier_a_twin_is_a_new_child_and_two_nhs_numbers_never_link(
    app: Flask, tmp_path: Path
) -> None:
    william = _william(nhs_number=NHS_NUMBER)
    other_number = row(
        "W2",
        given_name="William",
        family_name="Oyelaran",
        date_of_birth="2015-04-09",
        address_line1="12 Hyde Park Road",
        postcode="LS6 2AB",
        parent_carer_name="Ada Oyelaran",
        nhs_number="4010232137",
    )
    load = load_file(make_source(), write_extract(tmp_path / "census.csv", [_samuel("T1"), other_number]))
    assert outcomes(load) == {"T1": "created", "W2": "review"}
    assert _children() == 2
    db.session.expire_all()
    assert william.given_name == "William" and {i.value for i in william.identifiers} == {NHS_NUMBER}


# A row never links to a shielded record on a fuzzy match alone.


def _garry() -> Child:
    """Garry Doherty, shielded, in Glasgow: the record a row for "Gary" must not move."""
    return make_child(
        given_name="Garry",
        family_name="Doherty",
        date_of_birth=date(2015, 2, 11),
        address=AddressSpec("4 Kelvin Way", "Glasgow", "G12 8QQ"),
        carers=(("Moira Doherty", "Mother", "07700 900789"),),
        nhs_number=NHS_NUMBER,
        upn=UPN,
        is_shielded=True,
    )


def _gary(source_record_id: str = "G1", **values: str) -> dict[str, str]:
    """Gary Doherty, born the same day, at an address in another city, no identifiers."""
    return row(
        source_record_id,
        given_name="Gary",
        family_name="Doherty",
        date_of_birth="2015-02-11",
        address_line1="7 Otley Road",
        town="Leeds",
        postcode="LS16 5AA",
        parent_carer_name="",
        **values,
    )


def _address(child: Child) -> str:
    db.session.expire_all()
    return db.session.get_one(Child, child.id).current_address.postcode


def test_a_row_like_a_shielded_record_by_name_and_birthday_alone_goes_to_review_and_moves_nothing(
    app: Flask, tmp_path: Path
) -> None:
    garry = _garry()
    source = make_source()
    load = _command_load(app, source.name, write_extract(tmp_path / "census.csv", [_gary()]))
    assert outcomes(load) == {"G1": "review"}
    assert _address(garry) == "G12 8QQ" and _children() == 1
    [reported] = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id)).all()
    assert reported.score is None and reported.child_id is None and SHIELDED_RESEMBLANCE in reported.reasons
    assert garry.index_id not in "".join(report_csv(load.id))
    item = db.session.scalar(select(ReviewItem))
    assert item.best_shielded and garry.index_id in {candidate["index_id"] for candidate in item.candidates}


def test_the_same_row_links_to_the_record_unshielded(app: Flask, tmp_path: Path) -> None:
    """The rule is the shielding's: the row is close enough to link to anyone else."""
    garry = make_child(
        given_name="Garry",
        family_name="Doherty",
        date_of_birth=date(2015, 2, 11),
        address=AddressSpec("4 Kelvin Way", "Glasgow", "G12 8QQ"),
        carers=(),
        nhs_number=None,
    )
    load = load_file(make_source(), write_extract(tmp_path / "census.csv", [_gary()]))
    assert outcomes(load) == {"G1": "linked"}
    assert _address(garry) == "LS16 5AA"


@pytest.mark.parametrize("kind", sorted(IDENTIFIERS))
def test_with_a_shared_nhs_number_or_upn_the_row_links_to_the_shielded_record(
    app: Flask, tmp_path: Path, kind: str
) -> None:
    garry = _garry()
    column, value = IDENTIFIERS[kind]
    load = _command_load(app, make_source().name, write_extract(tmp_path / "census.csv", [_gary(**{column: value})]))
    assert outcomes(load) == {"G1": "shielded"}
    [reported] = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id)).all()
    assert reported.reasons == [shielded.REASON] and reported.score is None
    assert _address(garry) == "LS16 5AA"  # applied in full, as any row on a shielded record
    assert db.session.scalar(select(func.count()).select_from(ReviewItem)) == 0


def test_a_wrong_nhs_number_answers_as_no_nhs_number_does(app: Flask, tmp_path: Path) -> None:
    """Whether she holds an NHS number is hidden: a wrong one and none are told the same."""
    _garry()
    source = make_source()
    loads = [
        load_file(source, write_extract(tmp_path / f"{name}.csv", [_gary(f"G-{name}", **values)]))
        for name, values in (("none", {}), ("wrong", {"nhs_number": "4010232137"}))
    ]
    reported = [db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id)).one() for load in loads]
    assert [(r.outcome.value, r.score, r.reasons) for r in reported] == [("review", None, reported[0].reasons)] * 2
    assert all(item.best_shielded for item in db.session.scalars(select(ReviewItem)))


def _item_for_gary(tmp_path: Path) -> tuple[Child, ReviewItem, Organisation]:
    garry = _garry()
    source = make_source()
    load_file(source, write_extract(tmp_path / "census.csv", [_gary()]))
    item = db.session.scalar(select(ReviewItem))
    assert item is not None and item.best_shielded
    return garry, item, source.organisation


def _hidden_from(client: FlaskClient, garry: Child, item: ReviewItem) -> str:
    """The queue page as this user sees it; the item's own pages answer 404."""
    assert client.get(f"/data/review/{item.id}").status_code == 404
    form = page_csrf(client, "/data/review")
    assert client.post(f"/data/review/{item.id}/create", data={"csrf_token": form}).status_code == 404
    queue = client.get("/data/review")
    assert queue.status_code == 200
    for hidden in (garry.index_id, format_index_id(garry.index_id), "Kelvin Way", "G12", "Moira", f"/review/{item.id}"):
        assert hidden not in queue.text
    return queue.text


def test_a_data_administrator_who_may_not_see_shielded_records_does_not_see_the_item(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    garry, item, organisation = _item_for_gary(tmp_path)
    admin = make_user(Role.DATA_ADMIN, organisation=organisation)
    assert review.queue(admin) == ([], 0) and review.queue_counts(admin) == {"open": 0, "deferred": 0}
    sign_in(client, admin)
    queue = _hidden_from(client, garry, item)
    assert "1 more item resembles a shielded record" in queue
    for decide in (
        lambda: review.link_item(item, garry.index_id, admin),
        lambda: review.create_from_item(item, admin),
        lambda: review.defer_item(item, admin),
    ):
        with pytest.raises(ReviewError, match="shielded"):
            decide()
    assert item.status is ReviewStatus.OPEN and _address(garry) == "G12 8QQ"


def test_one_who_may_see_shielded_records_in_another_organisation_does_not_see_the_item(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    garry, item, _ = _item_for_gary(tmp_path)
    outsider = make_user(Role.DATA_ADMIN, Role.SHIELDER, organisation=make_organisation())
    assert review.queue(outsider) == ([], 0) and review.held_for_shielded_viewers(outsider) == 0
    sign_in(client, outsider)
    assert "resembles a shielded record" not in _hidden_from(client, garry, item)
    with pytest.raises(ReviewError, match="another organisation"):
        review.link_item(item, garry.index_id, outsider)


def test_a_shielder_who_is_no_data_administrator_has_no_review_queue(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    _, item, organisation = _item_for_gary(tmp_path)
    sign_in(client, make_user(Role.SHIELDER, organisation=organisation))
    assert client.get("/data/review").status_code == 403
    assert client.get(f"/data/review/{item.id}").status_code == 403


def test_a_data_administrator_who_may_see_shielded_records_sees_and_decides_the_item(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    garry, item, organisation = _item_for_gary(tmp_path)
    admin = make_user(Role.DATA_ADMIN, Role.SHIELDER, organisation=organisation)
    assert review.queue(admin) == ([item], 1) and review.held_for_shielded_viewers(admin) == 0
    sign_in(client, admin)
    assert f"/review/{item.id}" in client.get("/data/review").text
    page = client.get(f"/data/review/{item.id}")
    assert page.status_code == 200
    assert format_index_id(garry.index_id) in page.text and "Kelvin Way" in page.text
    assert "resembles 1 shielded record" not in page.text  # nothing of it is hidden from this reader
    linked = client.post(
        f"/data/review/{item.id}/link",
        data={"csrf_token": page_csrf(client, f"/data/review/{item.id}"), "index_id": garry.index_id},
    )
    assert linked.status_code == 302, linked.text
    db.session.expire_all()
    assert db.session.get_one(ReviewItem, item.id).status is ReviewStatus.LINKED
    assert _address(garry) == "LS16 5AA"
