"""A dry run stopped part way, run again, starts again from its first row; one over its limit
on records held in memory spills the others to a scratch file, predicts as exactly as under it,
and leaves no scratch file behind, whether it ends or fails.

What a dry run's earlier batches would have made and changed is carried from batch to batch
and is gone once it stops, so carrying on after its last committed row would predict the rest
of the file without it: it forgets its report so far and predicts the file again. (Exact
whatever it holds in memory, row for row against the load: tests/sources/test_batch_size.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.models import Child
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadRow, LoadStatus, QuarantinedRow
from index_service.sources.loading import run
from index_service.sources.loading.dry_run import FOUND, KEY, Scratch
from tests.sources.loads import TODAY, distinct_children, make_source, outcomes, row, scratch_in, write_extract

NOAH = {
    "given_name": "Noah",
    "family_name": "Green",
    "date_of_birth": "2013-02-03",
    "postcode": "LS2 7AA",
    "address_line1": "5 Elm Close",
    "parent_carer_name": "Kate Green",
}
ROWS = [
    row("D1", **NOAH),
    row("D2", date_of_birth="31/02/2015"),
    row("D3", **{**NOAH, "given_name": "Noa"}),
    row("D4", **{**NOAH, "address_line1": "7 Elm Close"}),
]


@pytest.fixture
def one_row_a_batch(app: Flask, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Batches of one row, decided in the load's own process: every row sees only what was carried."""
    monkeypatch.setitem(app.config, "LOAD_BATCH_ROWS", 1)
    monkeypatch.setitem(app.config, "LOAD_WORKERS", 0)
    return monkeypatch


def test_a_stopped_dry_run_run_again_starts_again_from_its_first_row(
    app: Flask,
    tmp_path: Path,
    one_row_a_batch: pytest.MonkeyPatch,
) -> None:
    monkeypatch = one_row_a_batch
    source = make_source()
    path = write_extract(tmp_path / "census.csv", ROWS)
    write_batch = run.write_batch

    def stop_at_the_third_batch(load: Load, batch: list[Any], results: list[Any]) -> None:
        if batch[0].row_number == 3:
            raise RuntimeError("the machine went away")
        write_batch(load, batch, results)

    monkeypatch.setattr(run, "write_batch", stop_at_the_third_batch)
    load = run.begin_load(source, path, LoadKind.DELTA, dry_run=True)
    db.session.commit()
    with pytest.raises(RuntimeError):
        run.run_load(load)
    assert load.status is LoadStatus.FAILED and load.rows_done == 2
    assert outcomes(load) == {"D1": "created", "D2": "rejected"}
    monkeypatch.setattr(run, "write_batch", write_batch)

    ran = app.test_cli_runner().invoke(args=["sources", "load", source.name, str(path), "--dry-run"])
    assert ran.exit_code == 0, ran.output
    assert f"Dry run {load.id} stopped after row 2; it starts again from the first row" in ran.output
    assert "Resuming" not in ran.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Load)) == 1
    # Rows 3 and 4 meet the child row 1 would make, in batches after it: found only had row 1 been
    # predicted again in this run.
    assert outcomes(load) == {"D1": "created", "D2": "rejected", "D3": "linked", "D4": "linked"}
    assert list(db.session.scalars(select(LoadRow.row_number).order_by(LoadRow.row_number))) == [1, 2, 3, 4]
    assert list(db.session.scalars(select(QuarantinedRow.row_number))) == [2]
    assert load.status is LoadStatus.COMPLETED and load.rows_done == 4
    assert load.counts == {"created": 1, "rejected": 1, "linked": 2}
    assert load.summary["rejected_by_field"] == {"date_of_birth": 1}
    starts = db.session.scalars(
        select(AuditEvent).where(AuditEvent.tag == AuditTag.LOAD_START).order_by(AuditEvent.id)
    ).all()
    assert [(e.details["resumed"], e.details.get("started_again")) for e in starts] == [(False, None), (False, True)]
    assert db.session.scalar(select(func.count()).select_from(Child)) == 0


# Row 1 makes Noah; rows 2 and 3 make two other children; row 4 is Noah again, with a typo.
OVER = [row("D1", **NOAH), *distinct_children("K", 2), row("D4", **{**NOAH, "given_name": "Noa"})]


def test_a_dry_run_over_its_limit_spills_the_oldest_record_and_recalls_it_for_a_row_that_meets_it(
    app: Flask,
    tmp_path: Path,
    one_row_a_batch: pytest.MonkeyPatch,
) -> None:
    monkeypatch = one_row_a_batch
    scratch = scratch_in(monkeypatch, tmp_path / "scratch")
    source = make_source()
    path = write_extract(tmp_path / "census.csv", OVER)
    monkeypatch.setitem(app.config, "DRY_RUN_CARRIED_RECORDS", 2)
    seen: dict[int, list[str]] = {}
    load = run.begin_load(source, path, LoadKind.DELTA, dry_run=True)
    db.session.commit()

    run.run_load(
        load,
        today=TODAY,
        progress=lambda ran: seen.update({ran.rows_done: [str(file.relative_to(tmp_path)) for file in scratch()]}),
    )
    # Row 3's batch spilled Noah, made by row 1; row 4's recalled him, and links to him.
    assert outcomes(load) == {"D1": "created", "K0": "created", "K1": "created", "D4": "linked"}
    assert [len(files) for files in seen.values()] == [0, 0, 1, 1]
    assert seen[3][0].startswith("scratch/child-index-dry-run-") and seen[3][0].endswith("/carried.sqlite3")
    assert scratch() == [] and not list((tmp_path / "scratch").iterdir())
    assert db.session.scalar(select(func.count()).select_from(Child)) == 0


def test_a_dry_run_that_fails_after_spilling_leaves_no_scratch_file(
    app: Flask,
    tmp_path: Path,
    one_row_a_batch: pytest.MonkeyPatch,
) -> None:
    monkeypatch = one_row_a_batch
    scratch = scratch_in(monkeypatch, tmp_path / "scratch")
    monkeypatch.setitem(app.config, "DRY_RUN_CARRIED_RECORDS", 1)
    load = run.begin_load(make_source(), write_extract(tmp_path / "census.csv", OVER), LoadKind.DELTA, dry_run=True)
    db.session.commit()
    spilled: list[Path] = []

    def stop_after_the_third_batch(ran: Load) -> None:
        spilled.extend(scratch())
        if ran.rows_done == 3:
            raise BrokenPipeError("the terminal showing its progress went away")

    with pytest.raises(BrokenPipeError):
        run.run_load(load, today=TODAY, progress=stop_after_the_third_batch)
    assert load.status is LoadStatus.FAILED and load.rows_done == 3
    assert spilled and scratch() == [] and not list((tmp_path / "scratch").iterdir())


@pytest.mark.perf
def test_a_dry_run_finds_its_spilled_records_through_the_terms_index_never_by_reading_them_all(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch_in(monkeypatch, tmp_path / "scratch")
    scratch = Scratch()
    try:
        scratch.put([(key, b"record", [(KEY, key * 10), (KEY, key * 10 + 1)]) for key in range(1, 2001)])
        plan = [step for *_, step in scratch.db.execute(f"EXPLAIN QUERY PLAN {FOUND}")]
        assert scratch.take([(KEY, 30), (KEY, 41), (KEY, 99_999)]) == [b"record", b"record"]
        assert scratch.count == 1998 and scratch.take([(KEY, 31)]) == []
    finally:
        scratch.close()
    # Each wanted term is looked up in the index of spilled terms; never every spilled term read.
    assert plan[0] == "SCAN wanted"
    assert plan[1].startswith("SEARCH terms USING INDEX terms_found")
