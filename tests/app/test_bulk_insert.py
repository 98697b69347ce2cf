"""Rows written in bulk through the driver (COPY on PostgreSQL, executemany on SQLite) read back
exactly as rows inserted one by one would."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, func, insert, select

from index_service.children.models import Child, ChildStatus, Gender
from index_service.database import insert_rows
from index_service.extensions import db
from index_service.index_ids import new_index_id
from index_service.load_models import LoadKind, LoadRow, RowOutcome
from index_service.sources.loading.run import begin_load
from tests.sources.loads import make_source, row, write_extract

CHILDREN: Table = Child.__table__  # type: ignore[assignment]
LOAD_ROWS: Table = LoadRow.__table__  # type: ignore[assignment]


def _children() -> list[dict[str, object]]:
    return [
        {
            "index_id": new_index_id(),
            "given_name": "Zoë",
            "middle_names": None,
            "family_name": "O'Brien",
            "date_of_birth": date(2015, 2, 28),
            "gender": Gender.FEMALE,
        },
        {
            "index_id": new_index_id(),
            "given_name": "Tab\tand\\slash",
            "middle_names": "Line\nbreak",
            "family_name": "Nguyễn",
            "date_of_birth": date(2009, 12, 31),
            "gender": Gender.MALE,
        },
    ]


def _read_children(index_ids: list[str]) -> list[tuple[object, ...]]:
    found = db.session.scalars(select(Child).where(Child.index_id.in_(index_ids)).order_by(Child.id))
    return [
        (c.given_name, c.middle_names, c.family_name, c.date_of_birth, c.gender, c.status, c.is_shielded) for c in found
    ]


def test_children_in_bulk_read_back_as_inserted_one_by_one_with_their_defaults(app: Flask) -> None:
    before = datetime.now(UTC)
    # The bulk rows' columns in another order than the table's: each value still lands in its own.
    bulk, single = [dict(reversed(child.items())) for child in _children()], _children()
    insert_rows(db.session.connection(), CHILDREN, bulk)
    db.session.execute(insert(CHILDREN), single)
    read = _read_children([r["index_id"] for r in bulk])  # type: ignore[misc]
    assert read == [
        (
            r["given_name"],
            r["middle_names"],
            r["family_name"],
            r["date_of_birth"],
            r["gender"],
            ChildStatus.ACTIVE,
            False,
        )
        for r in bulk
    ]
    assert read == _read_children([r["index_id"] for r in single])  # type: ignore[misc]
    made = db.session.scalars(select(Child).where(Child.index_id == bulk[0]["index_id"])).one()
    assert made.created_at >= before.replace(microsecond=0) and made.created_at.tzinfo is not None
    assert made.updated_at is not None


def test_rows_repeating_a_value_and_rows_changing_it_each_read_back_their_own(app: Flask) -> None:
    early, late = datetime(2026, 1, 1, 9, 30, tzinfo=UTC), datetime(2026, 6, 1, 17, 45, tzinfo=UTC)
    stamps = [early, early, late, early, datetime(2026, 1, 1, 9, 30, tzinfo=UTC)]
    genders = [Gender.FEMALE, Gender.FEMALE, Gender.MALE, Gender.FEMALE, Gender.OTHER]
    rows = [
        {**_children()[0], "index_id": new_index_id(), "gender": gender, "created_at": stamp, "updated_at": late}
        for stamp, gender in zip(stamps, genders, strict=True)
    ]
    insert_rows(db.session.connection(), CHILDREN, rows)
    read = db.session.scalars(
        select(Child).where(Child.index_id.in_([r["index_id"] for r in rows])).order_by(Child.id)
    ).all()
    assert [(child.created_at, child.updated_at, child.gender) for child in read] == [
        (stamp, late, gender) for stamp, gender in zip(stamps, genders, strict=True)
    ]


def test_report_rows_in_bulk_keep_their_outcomes_scores_and_reasons(app: Flask, tmp_path: Path) -> None:
    load = begin_load(make_source(), write_extract(tmp_path / "one.csv", [row("A1")]), LoadKind.DELTA)
    rows = [
        {
            "load_id": load.id,
            "row_number": 1,
            "source_record_id": "A1",
            "outcome": RowOutcome.LINKED,
            "child_id": None,
            "score": 99.25,
            "reasons": ["warning: the UPN's local authority is new", 'quote " ü'],
        },
        {
            "load_id": load.id,
            "row_number": 2,
            "source_record_id": None,
            "outcome": RowOutcome.REJECTED,
            "child_id": None,
            "score": None,
            "reasons": [],
        },
    ]
    insert_rows(db.session.connection(), LOAD_ROWS, rows)
    read = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id).order_by(LoadRow.row_number)).all()
    assert [(r.row_number, r.source_record_id, r.outcome, r.score, r.reasons) for r in read] == [
        (1, "A1", RowOutcome.LINKED, 99.25, ["warning: the UPN's local authority is new", 'quote " ü']),
        (2, None, RowOutcome.REJECTED, None, []),
    ]


def test_nothing_to_insert_is_no_statement_and_rows_that_differ_are_refused(app: Flask) -> None:
    insert_rows(db.session.connection(), CHILDREN, [])
    first, second = _children()
    del second["middle_names"]
    with pytest.raises(ValueError, match="must have the columns .*middle_names"):
        insert_rows(db.session.connection(), CHILDREN, [first, second])
    db.session.rollback()  # the rows before the one refused went in (on PostgreSQL, the COPY failed)
    first, second = _children()
    second["nickname"] = second.pop("middle_names")  # as many columns as the first row, but not the same ones
    with pytest.raises(ValueError, match="must have the columns .*middle_names.*, not .*nickname"):
        insert_rows(db.session.connection(), CHILDREN, [first, second])


def test_a_column_left_out_with_a_sql_default_is_refused(app: Flask) -> None:
    stamped = Table(
        "stamped", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime, default=func.now())
    )
    connection = db.session.connection()
    stamped.create(connection)
    with pytest.raises(ValueError, match="stamped.at has a SQL default"):
        insert_rows(connection, stamped, [{"id": 1}])
    insert_rows(connection, stamped, [{"id": 1, "at": datetime(2026, 12, 1, 12, 0)}])
    assert connection.execute(select(stamped.c.at)).scalar_one() == datetime(2026, 12, 1, 12, 0)
