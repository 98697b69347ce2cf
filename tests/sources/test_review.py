"""The review queue's decisions and merges, through the real operations and database."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.models import Child, IdentifierKind, Service
from index_service.extensions import db
from index_service.load_models import LoadRow, ReviewItem, ReviewStatus
from index_service.sources import review
from index_service.sources.review import ReviewError
from tests.factories import make_child, make_organisation, make_user
from tests.sources.loads import load_file, make_source, row, write_extract


def _item(tmp_path: Path) -> tuple[Child, ReviewItem]:
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
    load_file(source, write_extract(tmp_path / "census.csv", [uncertain]))
    item = db.session.scalar(select(ReviewItem))
    assert item is not None
    return existing, item


def _admin(item: ReviewItem):  # noqa: ANN202 - a User
    return make_user(Role.DATA_ADMIN, organisation=item.source.organisation)


def _decisions() -> list[AuditEvent]:
    db.session.commit()  # events are written by the commit
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.REVIEW_DECISION)))


def test_linking_applies_the_row_to_the_chosen_candidate_and_is_audited(app: Flask, tmp_path: Path) -> None:
    existing, item = _item(tmp_path)
    admin = _admin(item)
    assert review.queue(admin) == ([item], 1)
    child = review.link_item(item, existing.index_id, admin)
    assert child.id == existing.id
    assert item.status is ReviewStatus.LINKED and item.decided_by_id == admin.id
    assert "U1" in {i.value for i in existing.identifiers if i.kind is IdentifierKind.SOURCE_RECORD}
    assert {i.service for i in existing.involvements} == {Service.EDUCATION}
    assert len(existing.involvements) == 2
    [event] = _decisions()
    assert event.target_ids == [existing.index_id] and event.details["decision"] == "linked"
    report = db.session.scalar(select(LoadRow).where(LoadRow.load_id == item.load_id))
    assert report.child_id == existing.id
    assert review.queue(admin) == ([], 0)
    with pytest.raises(ReviewError, match="already been decided"):
        review.create_from_item(item, admin)


def test_only_a_candidate_can_be_chosen(app: Flask, tmp_path: Path) -> None:
    _, item = _item(tmp_path)
    stranger = make_child(given_name="Zara", family_name="Quinn", nhs_number=None)
    with pytest.raises(ReviewError, match="one of the candidates"):
        review.link_item(item, stranger.index_id, _admin(item))


def test_creating_makes_a_new_child_and_a_later_load_knows_the_record(app: Flask, tmp_path: Path) -> None:
    existing, item = _item(tmp_path)
    admin = _admin(item)
    child = review.create_from_item(item, admin)
    assert child.id != existing.id
    assert child.given_name == "Olivr"
    assert db.session.scalar(select(func.count()).select_from(Child)) == 2
    again = load_file(
        item.source,
        write_extract(
            tmp_path / "again.csv",
            [
                row(
                    "U1",
                    given_name="Olivr",
                    family_name="Bennet",
                    gender="u",
                    address_line1="2 Mill Street",
                    postcode="BD1 1AA",
                    parent_carer_name="",
                )
            ],
        ),
    )
    assert db.session.scalar(select(LoadRow.outcome).where(LoadRow.load_id == again.id)).value == "unchanged"


def test_deferring_keeps_the_item_pending_behind_open_ones(app: Flask, tmp_path: Path) -> None:
    _, item = _item(tmp_path)
    admin = _admin(item)
    review.defer_item(item, admin)
    assert item.status is ReviewStatus.DEFERRED
    assert review.queue_counts(admin) == {"open": 0, "deferred": 1}
    assert review.queue(admin)[0] == [item]


def test_another_organisation_cannot_see_or_decide_the_item(app: Flask, tmp_path: Path) -> None:
    existing, item = _item(tmp_path)
    outsider = make_user(Role.DATA_ADMIN, organisation=make_organisation())
    assert review.queue(outsider) == ([], 0)
    with pytest.raises(ReviewError, match="another organisation"):
        review.link_item(item, existing.index_id, outsider)
    assert item.status is ReviewStatus.OPEN
