"""`kill -9` in the middle of `sources load`, then the same command again: nothing lost, nothing twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from index_service.children.models import Child, IdentifierKind, SourceIdentifier
from index_service.extensions import db
from index_service.load_models import Load, LoadRow, LoadStatus, ReviewItem, RowOutcome
from tests.sources.loads import distinct_children, load_command, make_source, rerun_resumes, write_extract

ROWS = 5000
BATCH = 100


def _rows_done(watcher: sa.Engine) -> tuple[int, LoadStatus | None]:
    """The loader's position, read as a plain reader that never waits for the loader's write lock."""
    with watcher.connect() as connection:
        found = connection.execute(select(Load.rows_done, Load.status).order_by(Load.id.desc()).limit(1)).first()
    return (found[0], LoadStatus(found[1])) if found else (0, None)


def _created() -> int:
    return (
        db.session.scalar(select(func.count()).select_from(LoadRow).where(LoadRow.outcome == RowOutcome.CREATED)) or 0
    )


def test_killed_load_resumes_with_no_duplicate_and_no_lost_row(committed_app: Flask, tmp_path: Path) -> None:
    make_source("Interrupted census")
    path = write_extract(tmp_path / "census.csv", distinct_children("K", ROWS))

    watcher = sa.create_engine(committed_app.config["SQLALCHEMY_DATABASE_URI"])
    process = load_command(committed_app, "Interrupted census", path, LOAD_BATCH_ROWS=str(BATCH))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, status = _rows_done(watcher)
        if done >= BATCH and status is LoadStatus.RUNNING:
            break
        if process.poll() is not None:
            output, _ = process.communicate()
            pytest.fail("the load ended before it could be interrupted:\n" + output.decode())
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.stdout:
        process.stdout.close()

    done, status = _rows_done(watcher)
    watcher.dispose()
    assert status is LoadStatus.RUNNING
    assert 0 < done < ROWS and done % BATCH == 0
    assert db.session.scalar(select(func.count()).select_from(LoadRow)) == done
    assert db.session.scalar(select(func.count()).select_from(Child)) == _created()
    db.session.rollback()

    rerun_resumes(committed_app, "Interrupted census", path, LOAD_BATCH_ROWS=str(BATCH))
    [load] = db.session.scalars(select(Load))
    assert load.status is LoadStatus.COMPLETED
    assert sum(load.counts.values()) == ROWS
    assert db.session.scalar(select(func.count()).select_from(Child)) == _created() == load.counts["created"]
    numbers = list(db.session.scalars(select(LoadRow.row_number).order_by(LoadRow.row_number)))
    assert numbers == list(range(1, ROWS + 1))
    records = db.session.scalars(
        select(SourceIdentifier.value).where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD)
    ).all()
    applied = db.session.scalars(select(LoadRow.source_record_id).where(LoadRow.outcome != RowOutcome.REVIEW)).all()
    reviewed = db.session.scalars(select(ReviewItem.source_record_id)).all()
    assert sorted(records) == sorted(applied)
    assert sorted(records + reviewed) == sorted(f"K{n}" for n in range(ROWS))
