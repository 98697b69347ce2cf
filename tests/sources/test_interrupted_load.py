"""`kill -9` in the middle of `sources load`, then the same command again: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from index_service.children.models import Child, IdentifierKind, SourceIdentifier
from index_service.extensions import db
from index_service.sources.models import Load, LoadRow, LoadStatus, ReviewItem, RowOutcome
from tests.sources.loads import make_source, row, write_extract

ROOT = Path(__file__).resolve().parents[2]
ROWS = 5000
BATCH = 100


def _letters(number: int) -> str:
    text = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        text += chr(ord("a") + digit)
    return text


def _command(app: Flask, path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHILD_INDEX_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LOAD_BATCH_ROWS": str(BATCH),
    }
    return subprocess.Popen(  # noqa: S603 - our own command line, with arguments we made
        [sys.executable, "-m", "flask", "--app", "wsgi", "sources", "load", "Interrupted census", str(path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _rows_done(watcher: sa.Engine) -> tuple[int, LoadStatus | None]:
    """The loader's position, read as a plain reader that never waits for the loader's write lock."""
    with watcher.connect() as connection:
        found = connection.execute(select(Load.rows_done, Load.status).order_by(Load.id.desc()).limit(1)).first()
    return (found[0], LoadStatus(found[1])) if found else (0, None)


def _created() -> int:
    return db.session.scalar(
        select(func.count()).select_from(LoadRow).where(LoadRow.outcome == RowOutcome.CREATED)
    ) or 0


def test_killed_load_resumes_with_no_duplicate_and_no_lost_row(committed_app: Flask, tmp_path: Path) -> None:
    make_source("Interrupted census")
    born = date(2009, 1, 1)
    rows = [
        row(f"K{n}", given_name="Kit" + _letters(n), family_name="Stone" + _letters(n * 7 + 3),
            date_of_birth=(born + timedelta(days=n % 6000)).isoformat(), address_line1=f"{n} Long Road",
            postcode="", parent_carer_name="")
        for n in range(ROWS)
    ]
    path = write_extract(tmp_path / "census.csv", rows)

    watcher = sa.create_engine(committed_app.config["SQLALCHEMY_DATABASE_URI"])
    process = _command(committed_app, path)
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

    rerun = _command(committed_app, path)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output.decode()
    assert "Resuming load" in output.decode()

    db.session.rollback()
    [load] = db.session.scalars(select(Load))
    assert load.status is LoadStatus.COMPLETED
    assert sum(load.counts.values()) == ROWS
    assert db.session.scalar(select(func.count()).select_from(Child)) == _created() == load.counts["created"]
    numbers = list(db.session.scalars(select(LoadRow.row_number).order_by(LoadRow.row_number)))
    assert numbers == list(range(1, ROWS + 1))
    records = db.session.scalars(
        select(SourceIdentifier.value).where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD)
    ).all()
    applied = db.session.scalars(
        select(LoadRow.source_record_id).where(LoadRow.outcome != RowOutcome.REVIEW)
    ).all()
    reviewed = db.session.scalars(select(ReviewItem.source_record_id)).all()
    assert sorted(records) == sorted(applied)
    assert sorted(records + reviewed) == sorted(f"K{n}" for n in range(ROWS))
