"""The duplicate sweep (`flask children find-duplicates`), its items in the review queue and the
decisions on them, through the real app and database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.lookup import child_by_index_id
from index_service.children.merges import Merge
from index_service.children.models import Child, Gender
from index_service.children.records import AddressSpec
from index_service.duplicates import decisions
from index_service.duplicates.decisions import DuplicateError
from index_service.duplicates.models import DuplicateItem, DuplicateStatus
from index_service.duplicates.sweep import BUSY, find_duplicates, sweep_turn
from index_service.extensions import db
from index_service.organisation_models import Organisation, OrganisationType
from matching.levels import DOB, GIVEN, HOUSEHOLD
from tests.factories import make_child, make_organisation, make_user, page_csrf, sign_in
from tests.sources.loads import ROOT, supplied_by

HOME = AddressSpec("12 Meadow Lane", "Leeds", "LS6 2AB")


def nhs_number(body: str) -> str:
    check = -sum(weight * int(digit) for weight, digit in zip(range(10, 1, -1), body, strict=True)) % 11
    assert check < 10
    return body + str(check)


@pytest.fixture
def health(app: Flask) -> Organisation:
    return make_organisation(kind=OrganisationType.NHS_TRUST)


@pytest.fixture
def school(app: Flask) -> Organisation:
    return make_organisation(kind=OrganisationType.SCHOOL)


def _oliver(**values: object) -> Child:
    """Oliver Bennett as one agency holds him."""
    return make_child(
        given_name="Oliver", family_name="Bennett", date_of_birth=date(2016, 3, 27), address=HOME, **values
    )


@pytest.fixture
def planted(health: Organisation, school: Organisation) -> dict[str, Child]:
    """One child held twice (health's record with his NHS number, the school's with his UPN), and
    his twin sister Amelia, held by the school; and twins Georgia and Georgina, two real names a
    letter or two apart, alike enough to link but for the twin rule."""
    hartleys = {
        "family_name": "Hartley",
        "date_of_birth": date(2013, 11, 5),
        "gender": Gender.FEMALE,
        "address": AddressSpec("40 Carr Road", "Sheffield", "S6 2WZ"),
        "carers": (("Dawn Hartley", "Mother", "07700 900789"),),
    }
    return {
        "health": supplied_by(_oliver(nhs_number="9434765919"), health),
        "school": supplied_by(_oliver(nhs_number=None, upn="A820200010003"), school),
        "twin": supplied_by(
            make_child(
                given_name="Amelia",
                family_name="Bennett",
                date_of_birth=date(2016, 3, 27),
                gender=Gender.FEMALE,
                address=HOME,
                nhs_number=nhs_number("943476592"),
            ),
            school,
        ),
        "georgia": supplied_by(
            make_child(given_name="Georgia", nhs_number=nhs_number("401023214"), **hartleys), health
        ),
        "georgina": supplied_by(make_child(given_name="Georgina", nhs_number=None, **hartleys), school),
    }


def _items() -> list[DuplicateItem]:
    return list(db.session.scalars(select(DuplicateItem).order_by(DuplicateItem.id)))


def _pair(item: DuplicateItem) -> set[int]:
    return {item.first_child_id, item.second_child_id}


def test_the_sweep_finds_a_planted_duplicate_and_not_the_twin(app: Flask, planted: dict[str, Child]) -> None:
    counts = find_duplicates()
    [item] = _items()
    assert _pair(item) == {planted["health"].id, planted["school"].id}
    assert item.status is DuplicateStatus.OPEN
    assert counts.items_made == 1 and counts.pairs_compared == 4
    # Georgia and Georgina, and Amelia beside her twin brother: refused by the twin rule, not by
    # their score (the model weighs one home and one birthday highly).
    assert counts.twins == 2
    fields = {part["field"] for part in item.comparison["contributions"]}
    assert {GIVEN, DOB, HOUSEHOLD} <= fields  # the same explanation as a load's review item
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.DUPLICATE_SWEEP))
    assert event.details["counts"]["items_made"] == 1
    assert "Bennett" not in json.dumps(event.details) and "Oliver" not in json.dumps(event.details)


def test_running_twice_makes_no_second_item(app: Flask, planted: dict[str, Child]) -> None:
    find_duplicates()
    again = find_duplicates()
    assert len(_items()) == 1
    assert again.items_made == 0 and again.already_known == 1


def test_a_dry_run_counts_and_makes_nothing(app: Flask, planted: dict[str, Child]) -> None:
    counts = find_duplicates(dry_run=True)
    assert counts.items_made == 1 and _items() == []


def test_the_command_line_prints_counts(app: Flask, planted: dict[str, Child]) -> None:
    result = app.test_cli_runner().invoke(args=["children", "find-duplicates"])
    assert result.exit_code == 0, result.output
    assert "4 pairs compared" in result.output and "1 possible duplicates made" in result.output
    assert "Bennett" not in result.output
    assert len(_items()) == 1


def test_a_second_sweep_at_the_same_time_stops(app: Flask, planted: dict[str, Child]) -> None:
    """Two machines at once: while one sweep holds the turn, another process's sweep says so and stops."""
    env = {**os.environ, "CHILD_INDEX_ENV": "testing", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "children", "find-duplicates"]
    with sweep_turn():
        other = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert other.returncode == 0 and BUSY in other.stdout, other.stdout + other.stderr
    assert _items() == []


def test_merge_from_the_item_and_unmerge(app: Flask, planted: dict[str, Child], health: Organisation) -> None:
    find_duplicates()
    [item] = _items()
    admin = make_user(Role.DATA_ADMIN, organisation=health)
    kept, retired = planted["health"], planted["school"]
    decisions.merge_item(item, kept.index_id, admin)
    assert item.status is DuplicateStatus.MERGED and item.merge is not None
    assert retired.merged_into_id == kept.id
    assert child_by_index_id(retired.index_id).id == kept.id
    assert {i.value for i in kept.identifiers} >= {"9434765919", "A820200010003"}
    decisions.unmerge_item(item, admin)
    db.session.expire_all()
    assert item.status is DuplicateStatus.UNMERGED and item.merge.undone_at is not None
    assert retired.merged_into_id is None
    assert "A820200010003" in {i.value for i in retired.identifiers}
    assert find_duplicates().items_made == 0  # merged and undone: not proposed again


def test_not_the_same_child_stops_the_pair_being_proposed(
    app: Flask, planted: dict[str, Child], school: Organisation
) -> None:
    find_duplicates()
    [item] = _items()
    decisions.not_the_same(item, make_user(Role.DATA_ADMIN, organisation=school))
    assert item.status is DuplicateStatus.NOT_SAME
    again = find_duplicates()
    assert again.items_made == 0 and len(_items()) == 1
    assert decisions.queue(make_user(Role.DATA_ADMIN, organisation=school)) == ([], 0)


def test_a_pair_merged_by_hand_is_not_proposed(app: Flask, planted: dict[str, Child], health: Organisation) -> None:
    from index_service.children.merges import merge_children, undo_merge

    admin = make_user(Role.DATA_ADMIN, organisation=health)
    merge = merge_children(planted["health"], planted["school"], admin, checked=True)
    undo_merge(merge, admin)
    assert db.session.scalar(select(Merge)) is not None
    assert find_duplicates().items_made == 0


def test_both_organisations_see_the_item_and_an_unrelated_one_does_not(
    app: Flask, client: FlaskClient, planted: dict[str, Child], health: Organisation, school: Organisation
) -> None:
    find_duplicates()
    [item] = _items()
    for organisation in (health, school):
        assert decisions.queue(make_user(Role.DATA_ADMIN, organisation=organisation)) == ([item], 1)
    stranger = make_user(Role.DATA_ADMIN, organisation=make_organisation())
    assert decisions.queue(stranger) == ([], 0)
    with pytest.raises(DuplicateError):
        decisions.not_the_same(item, stranger)
    with pytest.raises(DuplicateError):
        decisions.merge_item(item, planted["health"].index_id, stranger)
    sign_in(client, stranger)
    assert planted["health"].index_id not in client.get("/data/duplicates").text
    assert client.get(f"/data/duplicates/{item.id}").status_code == 404
    token = page_csrf(client, "/data/duplicates")
    kept = planted["health"].index_id
    assert client.post(f"/data/duplicates/{item.id}/merge", data={"csrf_token": token, "kept": kept}).status_code == 404
    assert client.post(f"/data/duplicates/{item.id}/not-the-same", data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert item.status is DuplicateStatus.OPEN and planted["school"].merged_into_id is None


def test_the_page_shows_both_records_and_merges_from_the_item(
    app: Flask, client: FlaskClient, planted: dict[str, Child], school: Organisation
) -> None:
    find_duplicates()
    [item] = _items()
    admin = make_user(Role.DATA_ADMIN, organisation=school)
    sign_in(client, admin)
    assert "1 possible duplicate found by the sweep" in client.get("/data/review").text
    listed = client.get("/data/duplicates")
    assert f"/data/duplicates/{item.id}" in listed.text
    page = client.get(f"/data/duplicates/{item.id}")
    assert page.status_code == 200
    assert "Possible duplicate found by the sweep" in page.text
    assert "9434765919" in page.text and "A820200010003" in page.text  # side by side
    assert "How each field compared" in page.text
    token = page_csrf(client, f"/data/duplicates/{item.id}")
    kept = planted["school"].index_id
    response = client.post(f"/data/duplicates/{item.id}/merge", data={"csrf_token": token, "kept": kept})
    assert response.status_code == 302
    db.session.expire_all()
    assert item.status is DuplicateStatus.MERGED and planted["health"].merged_into_id == planted["school"].id
    assert "Undo the merge" in client.get(f"/data/duplicates/{item.id}").text
    token = page_csrf(client, f"/data/duplicates/{item.id}")
    assert client.post(f"/data/duplicates/{item.id}/unmerge", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert item.status is DuplicateStatus.UNMERGED and planted["health"].merged_into_id is None


def test_a_merge_naming_neither_record_or_a_bad_item_id_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, planted: dict[str, Child], school: Organisation
) -> None:
    find_duplicates()
    [item] = _items()
    sign_in(client, make_user(Role.DATA_ADMIN, organisation=school))
    path = f"/data/duplicates/{item.id}"
    for kept in ("", "NOT-AN-ID", planted["twin"].index_id):
        response = client.post(f"{path}/merge", data={"csrf_token": page_csrf(client, path), "kept": kept})
        assert response.status_code == 409 and "Choose one of the two records to keep" in response.text
    for bad in ("abc", "-1", "99999999999999999999", "0"):
        assert client.get(f"/data/duplicates/{bad}").status_code == 404
    db.session.expire_all()
    assert item.status is DuplicateStatus.OPEN and db.session.scalar(select(Merge)) is None
    assert planted["health"].merged_into_id is None and planted["school"].merged_into_id is None


@pytest.fixture
def shielded_pair(health: Organisation, school: Organisation) -> dict[str, Child]:
    """Freya held twice, her health record shielded."""
    freya = {
        "given_name": "Freya",
        "family_name": "Lindqvist",
        "date_of_birth": date(2014, 7, 2),
        "gender": Gender.FEMALE,
        "address": AddressSpec("3 Hill Top", "Bradford", "BD7 1DP"),
        "carers": (("Ingrid Lindqvist", "Mother", "07700 900456"),),
    }
    return {
        "health": supplied_by(make_child(nhs_number=nhs_number("401023213"), is_shielded=True, **freya), health),
        "school": supplied_by(make_child(nhs_number=None, upn="H801200001001", **freya), school),
    }


def test_a_shielded_pair_is_seen_only_by_those_who_may_see_shielded_records(
    app: Flask, client: FlaskClient, shielded_pair: dict[str, Child], school: Organisation
) -> None:
    counts = find_duplicates()
    [item] = _items()
    assert counts.shielded_items == 1 and item.comparison["shielded"] is True
    # Compared by who she is only: nothing of where she lives or who cares for her.
    [home] = [part for part in item.comparison["contributions"] if part["field"] == HOUSEHOLD]
    assert "no address" in home["level"] or home["level"] == "missing"
    assert "BD7" not in json.dumps(item.comparison) and "Hill Top" not in json.dumps(item.comparison)
    admin = make_user(Role.DATA_ADMIN, organisation=school)
    assert decisions.queue(admin) == ([], 0)
    with pytest.raises(DuplicateError):
        decisions.merge_item(item, shielded_pair["school"].index_id, admin)
    sign_in(client, admin)
    assert client.get(f"/data/duplicates/{item.id}").status_code == 404
    assert "possible duplicate" not in client.get("/data/review").text
    allowed = make_user(Role.DATA_ADMIN, Role.SHIELDER, organisation=school)
    assert decisions.queue(allowed) == ([item], 1)
    decisions.merge_item(item, shielded_pair["school"].index_id, allowed)
    assert shielded_pair["school"].is_shielded  # a merge keeps the shielding


def test_a_limited_sweep_stops_early_and_the_next_carries_on(app: Flask, planted: dict[str, Child]) -> None:
    first = find_duplicates(limit=1)
    assert first.limited and first.pairs_compared == 1
    rest = find_duplicates()
    assert rest.already_known == first.items_made
    assert len(_items()) == 1  # the planted pair, once, whichever run found it
