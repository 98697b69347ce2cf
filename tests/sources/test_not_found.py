"""Another organisation's source, load, report, review item or merge is answered exactly as one
that does not exist: the same status and the same body, on every data page, so that no one learns
which ids are in use. (The API's loads and sources: tests/sources/test_api_loads.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accreditation.permissions import Role
from index_service.children.merges import Merge, merge_children
from index_service.extensions import db
from index_service.load_models import Load, LoadStatus, ReviewItem, ReviewStatus
from tests.factories import make_child, make_organisation, make_user, page_csrf, sign_in, without_tokens
from tests.sources.loads import load_file, make_source, row, supplied_by, uploads_kept_in, write_extract

MISSING = 987_654
# Every data page that names an object, by method, with {source}, {load}, {item} or {merge} for its id.
ROUTES = [
    ("GET", "/data/sources/{source}"),
    ("POST", "/data/sources/{source}/active"),
    ("GET", "/data/sources/{source}/loads/new"),
    ("POST", "/data/sources/{source}/loads/new"),
    ("GET", "/data/loads/{load}"),
    ("POST", "/data/loads/{load}/load"),
    ("POST", "/data/loads/{load}/resume"),
    ("GET", "/data/loads/{load}/report"),
    ("GET", "/data/loads/{load}/report.csv"),
    ("GET", "/data/review/{item}"),
    ("POST", "/data/review/{item}/link"),
    ("POST", "/data/review/{item}/create"),
    ("POST", "/data/review/{item}/defer"),
    ("POST", "/data/merges/{merge}/undo"),
]


@pytest.fixture(autouse=True)
def _uploads(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads_kept_in(tmp_path / "uploads", app, monkeypatch)


def test_every_data_page_naming_an_object_is_listed_here(app: Flask) -> None:
    named = {
        (method, re.sub(r"<[^>]+>", "{}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("sources.") and rule.arguments
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert named == {(method, re.sub(r"\{[a-z]+\}", "{}", path)) for method, path in ROUTES}


def test_another_organisations_objects_are_answered_as_missing_ones(client: FlaskClient, tmp_path: Path) -> None:
    owner = make_user(Role.DATA_ADMIN)
    source = make_source(organisation=owner.organisation)
    uncertain = row(
        "U1",
        given_name="Olivr",
        family_name="Bennet",
        gender="u",
        address_line1="2 Mill Street",
        postcode="BD1 1AA",
        parent_carer_name="",
    )
    make_child(nhs_number=None)
    load = load_file(source, write_extract(tmp_path / "uncertain.csv", [uncertain]), dry_run=False)
    item = db.session.scalar(select(ReviewItem).where(ReviewItem.source_id == source.id))
    assert item is not None
    dry = load_file(source, write_extract(tmp_path / "checked.csv", [row("C1")]), dry_run=True)
    kept = supplied_by(make_child(nhs_number=None, given_name="Ava"), owner.organisation)
    retired = supplied_by(make_child(nhs_number=None, given_name="Avah"), owner.organisation)
    merge = merge_children(kept, retired, owner)
    load.status = LoadStatus.FAILED  # so that resuming it would otherwise be allowed
    db.session.commit()
    ids = {"source": source.id, "load": load.id, "item": item.id, "merge": merge.id}

    outsider = make_user(Role.DATA_ADMIN, organisation=make_organisation())
    sign_in(client, outsider)
    token = page_csrf(client, "/data")
    for method, path in ROUTES:
        theirs_path = path.format(**ids) if "{load}/load" not in path else path.format(load=dry.id)
        missing_path = path.format(**dict.fromkeys(ids, MISSING))
        data = {"csrf_token": token, "index_id": kept.index_id, "active": "0"} if method == "POST" else None
        theirs = client.open(theirs_path, method=method, data=data)
        missing = client.open(missing_path, method=method, data=data)
        assert theirs.status_code == missing.status_code == 404, (method, path, theirs.status_code)
        assert without_tokens(theirs.text) == without_tokens(missing.text), (method, path)

    db.session.expire_all()
    assert source.is_active and item.status is ReviewStatus.OPEN and merge.undone_at is None
    assert load.status is LoadStatus.FAILED
    assert db.session.scalar(select(Load).where(Load.id > dry.id)) is None  # nothing was loaded for real
    assert db.session.scalar(select(Merge).where(Merge.undone_by_id == outsider.id)) is None
