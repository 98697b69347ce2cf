"""Loads are applied one at a time: the same command started twice at once makes every child once."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from index_service.children.models import Child
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadRow, LoadStatus
from index_service.sources.claims import WAITING, loading_turn
from index_service.sources.loading.run import begin_load
from tests.sources.loads import distinct_children, load_command, make_source, write_extract

ROWS = 300


def _wait_for_words(process: subprocess.Popen[bytes], words: str) -> bytes:
    """What the process has printed, once it has printed the words (it must still be running)."""
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + 120
    while words.encode() not in seen:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the load did not say {words!r}:\n" + (seen + process.communicate()[0]).decode())
        seen += process.stdout.read() or b""
        time.sleep(0.05)
    os.set_blocking(process.stdout.fileno(), True)
    return seen


def test_two_runs_of_one_file_wait_their_turns_and_make_each_child_once(committed_app: Flask, tmp_path: Path) -> None:
    make_source("Interrupted census")
    path = write_extract(tmp_path / "census.csv", distinct_children("W", ROWS))
    with loading_turn():  # another load being applied, as far as the two commands can tell
        runs = [load_command(committed_app, "Interrupted census", path) for _ in range(2)]
        printed = [_wait_for_words(run, WAITING) for run in runs]
        applied = db.session.scalar(select(func.count()).select_from(LoadRow))
        db.session.rollback()  # on SQLite every transaction takes the write lock: let the loads have it
        assert applied == 0
    for run, before in zip(runs, printed, strict=True):
        output = before + run.communicate(timeout=300)[0]
        assert run.returncode == 0, output.decode()

    db.session.rollback()
    loads = db.session.scalars(select(Load).order_by(Load.id)).all()
    assert [load.status for load in loads] == [LoadStatus.COMPLETED, LoadStatus.COMPLETED]
    assert loads[0].counts == {"created": ROWS}
    assert loads[1].counts == {"unchanged": ROWS} and loads[1].summary["nothing_changed"] is True
    assert db.session.scalar(select(func.count()).select_from(Child)) == ROWS


def test_run_load_and_work_finish_queued_loads_each_in_its_turn(app: Flask, tmp_path: Path) -> None:
    """What a web upload's background process and a restart run: queued loads, taken in turn."""
    source = make_source()
    first = begin_load(source, write_extract(tmp_path / "a.csv", distinct_children("A", 3)), LoadKind.DELTA)
    second = begin_load(source, write_extract(tmp_path / "b.csv", distinct_children("B", 2)), LoadKind.DELTA)
    db.session.commit()
    runner = app.test_cli_runner()
    ran = runner.invoke(args=["sources", "run-load", str(first.id)])
    assert ran.exit_code == 0, ran.output
    assert first.status is LoadStatus.COMPLETED and first.counts == {"created": 3}
    again = runner.invoke(args=["sources", "run-load", str(first.id)])
    assert again.exit_code == 0 and f"Load {first.id} is already complete" in again.output
    worked = runner.invoke(args=["sources", "work"])
    assert worked.exit_code == 0 and "1 load(s) finished, 0 could not be" in worked.output
    # The second file holds the first two children again, under other record ids: linked to them.
    assert second.status is LoadStatus.COMPLETED and second.counts == {"linked": 2}
    assert runner.invoke(args=["sources", "run-load", "999999"]).exit_code != 0
