"""Merging two records of one child and undoing it, through the real operations and database."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.lookup import child_by_index_id, search_children
from index_service.children.merges import MergeError, merge_children, undo_merge
from index_service.children.shielding_decisions import shielding_details
from index_service.extensions import db
from index_service.record_shielding.operations import shield
from matching.person import Person
from matching.search import Query
from shielding.policy import ShieldReason
from shielding.redaction import Viewer
from tests.factories import make_child, make_organisation, make_user
from tests.sources.loads import supplied_by


def test_merge_then_undo_restores_both_records(app: Flask) -> None:
    admin = make_user(Role.DATA_ADMIN)
    kept = supplied_by(make_child(), admin.organisation)
    retired = supplied_by(make_child(given_name="Ollie", nhs_number="9434765870", address=None), admin.organisation)
    retired_involvements = {i.id for i in retired.involvements}
    kept_involvements = {i.id for i in kept.involvements}

    merge = merge_children(kept, retired, admin)
    db.session.expire_all()
    assert child_by_index_id(retired.index_id).id == kept.id
    assert {i.id for i in kept.involvements} == kept_involvements | retired_involvements
    assert {i.value for i in kept.identifiers} >= {"9434765919", "9434765870"}
    viewer = Viewer(may_see_shielded=True)
    found = search_children(Query(Person(family_name="Bennett", given_name="Ollie"), index_id=retired.index_id), viewer)
    assert [r["index_id"] for r in found.results] == [kept.index_id]
    with pytest.raises(MergeError, match="already been merged"):
        merge_children(kept, retired, admin)

    undo_merge(merge, admin)
    db.session.expire_all()
    assert child_by_index_id(retired.index_id).id == retired.id
    assert {i.id for i in retired.involvements} == retired_involvements
    assert {i.id for i in kept.involvements} == kept_involvements
    assert [i.value for i in retired.identifiers] == ["9434765870", f"R{retired.id}"]
    assert [n.given_name for n in kept.other_names] == []
    with pytest.raises(MergeError, match="already been undone"):
        undo_merge(merge, admin)
    db.session.commit()  # events are written by the commit
    tags = [e.tag for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert AuditTag.RECORD_MERGE in tags and AuditTag.RECORD_UNMERGE in tags


def test_merging_a_shielded_record_gives_a_shielded_record_with_its_shielding_history(app: Flask) -> None:
    admin = make_user(Role.DATA_ADMIN)
    kept = supplied_by(make_child(), admin.organisation)
    retired = supplied_by(make_child(given_name="Ollie", nhs_number=None), admin.organisation)
    shielder = make_user(Role.SHIELDER)
    [decision] = shield(retired, ShieldReason.ADOPTION, "Placed for adoption", date(2027, 5, 1), shielder)
    merge = merge_children(kept, retired, admin)
    assert kept.is_shielded
    db.session.refresh(decision)
    assert decision.child_id == kept.id
    assert shielding_details(kept)["current"]["reason"] == ShieldReason.ADOPTION.value
    undo_merge(merge, admin)
    assert not kept.is_shielded and retired.is_shielded
    db.session.refresh(decision)
    assert decision.child_id == retired.id


def test_only_records_the_organisation_supplied_can_be_merged(app: Flask) -> None:
    admin = make_user(Role.DATA_ADMIN)
    ours = supplied_by(make_child(), admin.organisation)
    theirs = supplied_by(make_child(given_name="Ollie", nhs_number=None), make_organisation())
    with pytest.raises(MergeError, match="your organisation's data sources supplied"):
        merge_children(ours, theirs, admin)
    assert theirs.merged_into_id is None
    merge = merge_children(ours, supplied_by(theirs, admin.organisation), admin)
    outsider = make_user(Role.DATA_ADMIN, organisation=make_organisation())
    with pytest.raises(MergeError, match="your organisation's data sources supplied"):
        undo_merge(merge, outsider)
    assert merge.undone_at is None
