"""A load split across processes (a reader and matching workers) decides every row as one process
does, and a helper process that dies fails the load, which a rerun finishes."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from index_service.children.models import Child, IdentifierKind, SourceIdentifier
from index_service.config import ConfigError, load_settings
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadRow, LoadStatus, ReviewItem, RowOutcome
from index_service.sources.candidates import Matched, ToMatch, match_rows, read_only_settings
from index_service.sources.loading.run import begin_load, run_load
from index_service.sources.models import DataSource
from index_service.sources.pool import CHUNK_ROWS, FULL_COLLECTION_EVERY, MatchingPool, matching_pool
from matching.levels import prepare
from matching.person import Person
from tests.sources.loads import (
    TODAY,
    distinct_children,
    load_command,
    load_file,
    make_source,
    rerun_resumes,
    row,
    write_extract,
)

OLIVER_NHS = "943 476 5919"
JESSICA_NHS = "401 023 2137"


def _held_index(source_path: Path) -> None:
    load_file(
        make_source("Held census"),
        write_extract(
            source_path,
            [
                row("A1", nhs_number=OLIVER_NHS),
                row(
                    "A2",
                    given_name="Amelia",
                    family_name="Khan",
                    date_of_birth="2014-09-04",
                    gender="f",
                    postcode="BD1 1AA",
                    address_line1="3 Mill Street",
                    parent_carer_name="Imran Khan",
                ),
                row(
                    "A3",
                    given_name="Jessica",
                    family_name="Wood",
                    date_of_birth="2012-05-17",
                    gender="f",
                    postcode="LS1 4AP",
                    address_line1="9 High Street",
                    parent_carer_name="Anne Wood",
                    nhs_number=JESSICA_NHS,
                    shield="yes",
                ),
                row(
                    "A4",
                    given_name="Thomas",
                    family_name="Hughes",
                    date_of_birth="2015-01-02",
                    postcode="LS7 3BB",
                    address_line1="1 Park Road",
                    parent_carer_name="Paul Hughes",
                ),
            ],
        ),
    )


NOAH = {
    "given_name": "Noah",
    "family_name": "Green",
    "date_of_birth": "2013-02-03",
    "postcode": "LS2 7AA",
    "address_line1": "5 Elm Close",
    "parent_carer_name": "Kate Green",
}
# Four rows a batch: rows 5 and 6 meet in one batch (a child made, then met again before it is
# written), row 10 meets the same child from a later batch; rows 8 and 13 meet a shielded child.
ROWS = [
    row("B1", nhs_number=OLIVER_NHS),
    row("B2", given_name="Ollie"),
    row(
        "B3",
        given_name="Amelia",
        family_name="Kahn",
        date_of_birth="2014-09-04",
        gender="f",
        postcode="BD1 1AA",
        address_line1="3 Mill Street",
    ),
    row("B4", given_name="Olivia", gender="f"),
    row("B5", **NOAH),
    row("B6", **{**NOAH, "given_name": "Noa"}),
    row("B7", given_name="Harry", family_name="Stone", date_of_birth="2011-11-11", nhs_number=OLIVER_NHS),
    row(
        "B8",
        given_name="Jessica",
        family_name="Wood",
        date_of_birth="2012-05-17",
        gender="f",
        postcode="M1 1AE",
        address_line1="2 Canal Street",
        parent_carer_name="",
        nhs_number=JESSICA_NHS,
    ),
    row("B9", date_of_birth="31/02/2015"),
    row("B10", **{**NOAH, "address_line1": "7 Elm Close"}),
    row(
        "B11",
        given_name="Tom",
        family_name="Hughes",
        date_of_birth="2015-01-02",
        postcode="LS8 1AA",
        address_line1="4 New Road",
        parent_carer_name="Paul Hughes",
    ),
    row("B12", given_name="Edith", family_name="Lane", date_of_birth="2001-06-01"),
    # Shielded Jessica again, without her NHS number: never linked to her on names alone (review).
    row(
        "B13",
        given_name="Jessica",
        family_name="Wood",
        date_of_birth="2012-05-17",
        gender="f",
        postcode="LS9 8AA",
        address_line1="6 Cross Street",
        parent_carer_name="",
    ),
]


def _report(load: Load) -> list[tuple[Any, ...]]:
    return [
        (r.row_number, r.source_record_id, r.outcome, r.child_id, r.score, tuple(r.reasons))
        for r in db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id).order_by(LoadRow.row_number))
    ]


def _load(source: DataSource, path: Path, *, dry_run: bool, watch: list[int] | None = None) -> Load:
    """The load, noting at each batch how many processes it had started (when watched)."""
    load = begin_load(source, path, LoadKind.DELTA, dry_run=dry_run)
    db.session.commit()

    def count_helpers(_load: Load) -> None:
        if watch is not None:
            watch.append(len(multiprocessing.active_children()))

    return run_load(load, today=TODAY, progress=count_helpers)


def test_workers_decide_every_row_as_the_load_alone_does(
    committed_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed: the workers read the index with connections of their own."""
    _held_index(tmp_path / "held.csv")
    path = write_extract(tmp_path / "second.csv", ROWS)
    source = make_source("Second census")
    monkeypatch.setitem(committed_app.config, "LOAD_BATCH_ROWS", 4)

    monkeypatch.setitem(committed_app.config, "LOAD_WORKERS", 0)
    alone_processes: list[int] = []
    alone = _report(_load(source, path, dry_run=True, watch=alone_processes))
    monkeypatch.setitem(committed_app.config, "LOAD_WORKERS", 2)
    pooled_processes: list[int] = []
    pooled = _report(_load(source, path, dry_run=True, watch=pooled_processes))

    assert set(alone_processes) == {0}
    assert min(pooled_processes) >= 1  # a matching worker at every batch (the reader may have read all)
    assert {outcome for _, _, outcome, *_ in alone} == {
        RowOutcome.LINKED,
        RowOutcome.CREATED,
        RowOutcome.SHIELDED,
        RowOutcome.REVIEW,
        RowOutcome.REJECTED,
    }
    assert pooled == alone

    applied = _report(_load(source, path, dry_run=False))  # for real, with the workers
    assert [(r[2], *r[4:]) for r in applied] == [(r[2], *r[4:]) for r in alone]
    # Rows 6 and 10 meet the child row 5 made: from its batch (before it is written), and from a
    # later batch (which a dry run finds in what it carries from batch to batch).
    noah = applied[4][3]
    assert applied[4][2] is RowOutcome.CREATED and alone[5][2] is alone[9][2] is RowOutcome.LINKED
    assert applied[5][2:4] == applied[9][2:4] == (RowOutcome.LINKED, noah)
    # Row 8 lands on shielded Jessica by her NHS number; row 13, on names alone, waits in review.
    assert applied[7][2] is RowOutcome.SHIELDED and applied[12][2] is RowOutcome.REVIEW


def _matched_now(_pool: MatchingPool, rows: list[ToMatch]) -> Callable[[], list[Matched]]:
    matched = match_rows(rows)
    return lambda: matched


def _matched_when_asked(_pool: MatchingPool, rows: list[ToMatch]) -> Callable[[], list[Matched]]:
    return lambda: match_rows(rows)


@pytest.mark.parametrize("matched", [_matched_now, _matched_when_asked], ids=["before", "after"])
def test_a_batch_read_before_or_after_the_batch_before_commits_decides_every_row_the_same(
    committed_app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    matched: Callable[[MatchingPool, list[ToMatch]], Callable[[], list[Matched]]],
) -> None:
    """A worker reads a batch's candidates while the load writes the batch before, so before or
    after that batch commits; here the load's process reads them at one moment or the other."""
    _held_index(tmp_path / "held.csv")
    path = write_extract(tmp_path / "second.csv", ROWS)
    source = make_source("Second census")
    monkeypatch.setitem(committed_app.config, "LOAD_BATCH_ROWS", 4)
    monkeypatch.setitem(committed_app.config, "LOAD_WORKERS", 0)
    alone = _report(_load(source, path, dry_run=True))

    monkeypatch.setitem(committed_app.config, "LOAD_WORKERS", 1)
    monkeypatch.setattr(MatchingPool, "match", matched)
    applied = _report(_load(source, path, dry_run=False))
    assert [(r[2], *r[4:]) for r in applied] == [(r[2], *r[4:]) for r in alone]
    noah = applied[4][3]
    assert applied[9][2:4] == (RowOutcome.LINKED, noah)  # row 10 meets the child row 5, a batch before, made


PRICE_NHS = "401 023 1025"


@pytest.mark.parametrize("matched", [_matched_now, _matched_when_asked], ids=["before", "after"])
def test_a_batch_read_before_the_batch_before_commits_knows_what_that_batch_gave_its_source_records_and_nhs_numbers(
    committed_app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    matched: Callable[[MatchingPool, list[ToMatch]], Callable[[], list[Matched]]],
) -> None:
    """One row a batch: row 2 sends row 1's source record id again, and row 4 the NHS number
    that row 3 gave the child it made, each read before or after the batch before commits."""
    _held_index(tmp_path / "held.csv")
    thomas = db.session.scalar(select(Child.id).where(Child.given_name == "Thomas"))
    path = write_extract(
        tmp_path / "second.csv",
        [
            row("C1", **NOAH),
            row("C1", **{**NOAH, "parent_carer_phone": "07700 900456"}),
            row(
                "C2",
                given_name="Ruby",
                family_name="Price",
                date_of_birth="2016-03-04",
                gender="f",
                nhs_number=PRICE_NHS,
            ),
            row(
                "C3",
                given_name="Thomas",
                family_name="Hughes",
                date_of_birth="2015-01-02",
                postcode="LS7 3BB",
                address_line1="1 Park Road",
                parent_carer_name="Paul Hughes",
                nhs_number=PRICE_NHS,
            ),
        ],
    )
    monkeypatch.setitem(committed_app.config, "LOAD_BATCH_ROWS", 1)
    monkeypatch.setitem(committed_app.config, "LOAD_WORKERS", 1)
    monkeypatch.setattr(MatchingPool, "match", matched)
    applied = _report(_load(make_source("Second census"), path, dry_run=False))

    noah, ruby = applied[0][3], applied[2][3]
    assert [r[2:4] for r in applied] == [
        (RowOutcome.CREATED, noah),
        (RowOutcome.REJECTED, noah),
        (RowOutcome.CREATED, ruby),
        (RowOutcome.LINKED, thomas),
    ]
    assert (
        "conflict: this source gave the NHS number 4010231025 for another record too; not added here" in (applied[3][5])
    )
    nhs_holders = select(SourceIdentifier.child_id).where(
        SourceIdentifier.kind == IdentifierKind.NHS_NUMBER, SourceIdentifier.value == "4010231025"
    )
    assert set(db.session.scalars(nhs_holders)) == {ruby}


def _write_then_count(_: object) -> tuple[str, int]:
    """In a matching worker: try to write, then count the children it reads."""
    try:
        db.session.execute(sa.text("CREATE TABLE written_by_a_worker (id INTEGER)"))
        wrote = "wrote"
    except sa.exc.DBAPIError as error:
        wrote = type(error.orig).__name__
    db.session.rollback()
    return wrote, db.session.scalar(select(func.count()).select_from(Child)) or 0


def test_a_matching_worker_reads_the_index_with_a_connection_of_its_own_that_cannot_write(
    committed_app: Flask, tmp_path: Path
) -> None:
    held = write_extract(tmp_path / "held.csv", [row("A1"), row("A2", given_name="Ava")])
    load_file(make_source("Held census"), held)
    with matching_pool(1, read_only_settings(committed_app.config)) as pool:
        assert pool is not None
        wrote, children = pool._submit(_write_then_count, None).result()
    assert wrote != "wrote"
    assert children == 2
    assert "written_by_a_worker" not in sa.inspect(db.engine).get_table_names()


def _spawned_children(parent: int) -> list[int]:
    """The processes the load spawned (its reader, then its workers), oldest first."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and b"spawn_main" in command:
            found.append((int(fields[19]), int(entry.name)))
    return [pid for _, pid in sorted(found)]


@pytest.mark.parametrize(("helper", "error"), [("worker", "WorkerDied"), ("reader", "ReaderFailed")])
def test_a_helper_that_dies_fails_the_load_and_a_rerun_finishes_it(
    committed_app: Flask, tmp_path: Path, helper: str, error: str
) -> None:
    make_source("Census with helpers")
    total = 3000
    path = write_extract(tmp_path / "census.csv", distinct_children("H", total))
    watcher = sa.create_engine(committed_app.config["SQLALCHEMY_DATABASE_URI"])
    process = load_command(committed_app, "Census with helpers", path, LOAD_WORKERS="2")
    deadline = time.monotonic() + 120
    helpers: list[int] = []
    while time.monotonic() < deadline and process.poll() is None:
        with watcher.connect() as connection:
            done = connection.scalar(select(Load.rows_done).order_by(Load.id.desc()).limit(1)) or 0
        helpers = _spawned_children(process.pid)
        if done >= 100 and len(helpers) >= 2:
            break
        time.sleep(0.02)
    watcher.dispose()
    assert process.poll() is None and len(helpers) >= 2, "the load ended before a helper could be stopped"
    os.kill(helpers[0] if helper == "reader" else helpers[-1], signal.SIGKILL)
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert error in output.decode()

    db.session.rollback()
    [load] = db.session.scalars(select(Load))
    assert load.status is LoadStatus.FAILED
    assert load.error.startswith(f"{error}: stopped after row {load.rows_done}")
    assert 0 < load.rows_done < total
    db.session.rollback()

    rerun_resumes(committed_app, "Census with helpers", path, LOAD_WORKERS="2")
    load = db.session.get(Load, load.id)
    assert load.status is LoadStatus.COMPLETED
    numbers = list(db.session.scalars(select(LoadRow.row_number).order_by(LoadRow.row_number)))
    assert numbers == list(range(1, total + 1))
    created = db.session.scalar(select(func.count()).select_from(LoadRow).where(LoadRow.outcome == RowOutcome.CREATED))
    assert db.session.scalar(select(func.count()).select_from(Child)) == created == load.counts["created"]
    records = db.session.scalars(
        select(SourceIdentifier.value).where(SourceIdentifier.kind == IdentifierKind.SOURCE_RECORD)
    ).all()
    reviewed = db.session.scalars(select(ReviewItem.source_record_id)).all()
    assert sorted(records + reviewed) == sorted(f"H{n}" for n in range(total))


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_load_killed_leaves_no_helper_behind(committed_app: Flask, tmp_path: Path) -> None:
    make_source("Census with helpers")
    path = write_extract(tmp_path / "census.csv", distinct_children("H", 3000))
    process = load_command(committed_app, "Census with helpers", path, LOAD_WORKERS="2")
    deadline = time.monotonic() + 120
    helpers: list[int] = []
    while time.monotonic() < deadline and process.poll() is None and len(helpers) < 2:
        helpers = _spawned_children(process.pid)
        time.sleep(0.02)
    assert process.poll() is None and len(helpers) >= 2, "the load ended before it could be stopped"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(pid) for pid in helpers):
        time.sleep(0.1)
    assert not [pid for pid in helpers if _running(pid)]


@pytest.mark.parametrize(("cpus", "workers"), [(4, 3), (2, 1), (1, 0), (None, 0)])
def test_a_load_has_one_worker_fewer_than_the_cpus_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpus: int | None, workers: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    development = {"CHILD_INDEX_ENV": "development"}
    assert load_settings(str(tmp_path), development).load_workers == workers
    assert load_settings(str(tmp_path), {**development, "LOAD_WORKERS": "2"}).load_workers == 2
    with pytest.raises(ConfigError, match="LOAD_WORKERS must be at least 0"):
        load_settings(str(tmp_path), {**development, "LOAD_WORKERS": "-1"})


def _worked_by(chunk: list[int]) -> list[tuple[int, int]]:
    """Each item of a chunk with the process that worked it (a chunk takes a little while)."""
    time.sleep(0.02)
    return [(item, os.getpid()) for item in chunk]


def test_the_load_works_the_chunks_no_worker_has_begun_and_keeps_the_order() -> None:
    work = list(range(40 * CHUNK_ROWS))
    with matching_pool(1) as pool:
        assert pool is not None
        results = pool._shared(_worked_by, _worked_by, work)()
    assert [item for item, _ in results] == work
    by_load = [item for item, pid in results if pid == os.getpid()]
    by_worker = [item for item, pid in results if pid != os.getpid()]
    # The worker was handed chunks from the front as it came free; the load took the rest from the
    # back, and the two met in between.
    assert by_worker and by_worker[0] == 0
    assert by_load and by_load[-1] == work[-1] and max(by_worker) < min(by_load)


def _leave_cycles(chunk: list[int]) -> tuple[bool, int, int]:
    """Leave a garbage cycle for each item; then whether the worker's cycle collector runs by
    itself, how many objects it has collected, and how many full collections it has made."""
    for _ in chunk:
        cycle: list[object] = []
        cycle.append(cycle)
    return gc.isenabled(), sum(stats["collected"] for stats in gc.get_stats()), gc.get_stats()[2]["collections"]


@pytest.mark.perf
def test_a_matching_worker_collects_garbage_between_its_tasks_not_during_them() -> None:
    with matching_pool(1) as pool:
        assert pool is not None
        seen = [pool._submit(_leave_cycles, [1, 2, 3]).result() for _ in range(FULL_COLLECTION_EVERY + 1)]
    assert not any(enabled for enabled, _, _ in seen)
    collected = [count for _, count, _ in seen]
    # Each task's cycles are collected once it is done, not during the next one.
    assert all(later - earlier >= 3 for earlier, later in zip(collected, collected[1:], strict=False))
    full = [count for _, _, count in seen]
    assert full[-1] == full[0] + 1  # and everything, every FULL_COLLECTION_EVERY tasks


def _prepare_one(name: str) -> int:
    """Prepare a person in a matching worker; how many prepared people it held before."""
    held = prepare.cache_info().currsize
    prepare(Person(given_name=name, family_name="Hughes"))
    return held


@pytest.mark.perf
def test_a_matching_worker_forgets_its_prepared_people_after_each_task() -> None:
    """A task's candidates are others than the next task's: kept, the collector after every task
    scanned them all and never used them again."""
    with matching_pool(1) as pool:
        assert pool is not None
        held = [pool._submit(_prepare_one, name).result() for name in ("Thomas", "Oliver", "Amelia")]
    assert held == [0, 0, 0]
