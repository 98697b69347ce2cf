"""A row's outcome does not depend on how the extract is cut into batches, nor on the workers.

Each row is decided against the index as the rows before it left it, whether they were
committed in an earlier batch or applied earlier in its own: the same extract loaded one row
a batch, two, three or all at once, with matching workers or without, gives every row the
same outcome, child, score and reasons.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select

from index_service.children.models import BlockingKey, Child, DataSource
from index_service.extensions import db
from index_service.sources.models import Load, LoadRow, RowOutcome
from matching.blocking import address_code, key_hash
from tests.factories import make_child
from tests.sources.loads import load_file, make_source, row, write_extract

OLIVER_NHS = "9434765919"
GRACE_NHS = "4010231009"
WARD_NHS = "4010231017"

AMELIA = {"given_name": "Amelia", "family_name": "Khan", "date_of_birth": "2014-09-04", "gender": "f",
          "postcode": "BD1 1AA", "address_line1": "3 Mill Street", "parent_carer_name": "Imran Khan"}
GRACE = {"given_name": "Grace", "family_name": "Taylor", "date_of_birth": "2013-06-10", "gender": "f",
         "postcode": "LS9 9AA", "address_line1": "8 Oak Road", "parent_carer_name": "Mary Taylor"}
HELD = [
    row("A1", nhs_number=OLIVER_NHS),
    row("A2", **AMELIA),
    row("A3", **GRACE),
    row("A4", given_name="Thomas", family_name="Hughes", date_of_birth="2015-01-02", postcode="LS7 3BB",
        address_line1="1 Park Road", parent_carer_name="Paul Hughes"),
]
NOAH = {"given_name": "Noah", "family_name": "Green", "date_of_birth": "2013-02-03", "postcode": "LS2 7AA",
        "address_line1": "5 Elm Close", "parent_carer_name": "Kate Green"}
GRACE_MOVED = {"address_line1": "40 River View", "postcode": "LS10 1AA"}
WARD = {"given_name": "Leo", "family_name": "Ward", "date_of_birth": "2012-08-08", "postcode": "BD2 2AA",
        "address_line1": "12 Hill Top", "parent_carer_name": "Jo Ward", "nhs_number": WARD_NHS}
RUBY = {"given_name": "Ruby", "family_name": "Price", "date_of_birth": "2014-04-04", "gender": "f",
        "postcode": "M1 1AE", "address_line1": "2 Canal Street", "parent_carer_name": ""}
# Each row meets a child that rows just before it made or changed: in-file duplicates and
# near-duplicates, a twin, an NHS number given to a held child and then sent with other
# names, a held child's move and then a row found only at the new address, a held child
# shielded and then a row weakly like her, one NHS number on three rows, a family name changed.
ROWS = [
    row("N1", **NOAH),
    row("N2", **NOAH),
    row("N3", **{**NOAH, "given_name": "Noa"}),
    row("N4", **{**NOAH, "given_name": "Nina", "gender": "f"}),
    row("G1", **{**GRACE, **GRACE_MOVED, "nhs_number": GRACE_NHS}),
    row("X1", given_name="Harry", family_name="Stone", date_of_birth="2011-11-11", nhs_number=GRACE_NHS,
        address_line1="9 Far Lane", postcode="HX1 1AA", parent_carer_name=""),
    row("G2", **{**GRACE, **GRACE_MOVED, "given_name": "Grayce", "family_name": "Tailer",
                 "parent_carer_name": ""}),
    row("K1", **{**AMELIA, "shield": "yes"}),
    row("K2", given_name="Amelia", family_name="Holt", date_of_birth="2014-09-04", gender="f",
        address_line1="3 Elm Close", postcode="HG1 2AA", parent_carer_name=""),
    row("W1", **WARD),
    row("W2", **{**WARD, "given_name": "Leon"}),
    row("W3", **{**WARD, "given_name": "Mia", "gender": "f"}),
    row("O1", nhs_number=OLIVER_NHS, address_line1="7 Hill Road", postcode="LS7 3QP"),
    row("O2", given_name="Ollie", address_line1="7 Hill Road", postcode="LS7 3QP"),
    row("P1", **RUBY),
    row("P2", **{**RUBY, "family_name": "Price-Jones"}),
    row("P3", **{**RUBY, "family_name": "Jones", "address_line1": "6 Rose Lane", "postcode": "LS3 3AA"}),
    row("B1", date_of_birth="31/02/2015"),
    row("E1", given_name="Edith", family_name="Lane", date_of_birth="2001-06-01"),
    row("N5", **{**NOAH, "address_line1": "7 Elm Close"}),
]


@contextmanager
def undone() -> Iterator[None]:
    """Whatever is committed inside is undone after it (a savepoint of the test's own connection)."""
    db.session.commit()
    savepoint = db.session.get_bind().begin_nested()  # type: ignore[union-attr]
    try:
        yield
    finally:
        db.session.rollback()
        savepoint.rollback()
        db.session.expire_all()


def _decisions(load: Load) -> list[tuple[Any, ...]]:
    """Each report row with the children the load made named by the row that made them."""
    report = list(db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id).order_by(LoadRow.row_number)))
    made = {r.child_id: f"made by row {r.row_number}" for r in report if r.outcome is RowOutcome.CREATED}
    index_ids = dict(db.session.execute(select(Child.index_id, Child.id).where(Child.id.in_(made))).all())
    names = {index_id: made[child_id] for index_id, child_id in index_ids.items()}

    def named(reason: str) -> str:
        for index_id, name in names.items():
            reason = reason.replace(index_id, name)
        return reason

    return [(r.row_number, r.source_record_id, r.outcome.value, made.get(r.child_id, r.child_id), r.score,
             tuple(named(reason) for reason in r.reasons)) for r in report]


def _load(app: Flask, monkeypatch: pytest.MonkeyPatch, source: DataSource, path: Path, size: int,
          workers: int) -> list[tuple[Any, ...]]:
    monkeypatch.setitem(app.config, "LOAD_BATCH_ROWS", size)
    monkeypatch.setitem(app.config, "LOAD_WORKERS", workers)
    with undone():
        return _decisions(load_file(source, path))


def _decided_alike_every_way(app: Flask, monkeypatch: pytest.MonkeyPatch, source: DataSource, path: Path,
                             rows: int) -> dict[str, tuple[Any, ...]]:
    """The load's decisions, the same one row a batch, two, three or all at once, with workers
    or without; by source record id."""
    one_by_one = _load(app, monkeypatch, source, path, 1, 0)
    for size, workers in ((2, 0), (3, 0), (rows, 0), (1, 2), (2, 2), (3, 2)):
        assert _load(app, monkeypatch, source, path, size, workers) == one_by_one, (size, workers)
    return {decision[1]: decision[2:] for decision in one_by_one}


def test_every_row_is_decided_alike_whatever_the_batch_size_and_workers(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_file(make_source("Held census"), write_extract(tmp_path / "held.csv", HELD))
    path = write_extract(tmp_path / "second.csv", ROWS)

    decided = _decided_alike_every_way(app, monkeypatch, make_source("Second census"), path, len(ROWS))
    outcomes = {record: outcome for record, (outcome, *_) in decided.items()}
    assert set(outcomes.values()) == {"created", "linked", "review", "rejected"}
    # Rows a batch used to decide without what earlier rows of the same batch made or changed.
    assert [outcomes[record] for record in ("X1", "G2", "K2", "W3", "P3")] == [
        "review", "linked", "review", "review", "linked"]


def test_a_changed_record_is_met_by_the_keys_it_is_stored_with(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An index not yet refreshed since the address key came: a row that gives a held child an
    NHS number leaves its stored keys as they were, so a row that only the address key would
    find is not found in the next batch, nor then in the same one."""
    oliver = make_child(nhs_number=None)
    address_key = key_hash(f"ad|{address_code('12 Meadow Lane')}|2016-03-27")
    db.session.execute(delete(BlockingKey).where(BlockingKey.child_id == oliver.id, BlockingKey.key == address_key))
    db.session.commit()
    rows = [row("C1", nhs_number=OLIVER_NHS), row("C2", given_name="Pliver", family_name="Vennett", postcode="LS6 2AP")]
    path = write_extract(tmp_path / "care.csv", rows)

    decided = _decided_alike_every_way(app, monkeypatch, make_source("Leeds social care"), path, len(rows))
    assert decided["C1"][:2] == ("linked", oliver.id)
    assert decided["C2"][:2] == ("created", "made by row 2")
