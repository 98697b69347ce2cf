"""A load's run: its extract read, validated and applied in batches, one transaction each.

Each batch commits its changes to the index together with the report rows of the extract rows it
applied and the load's position, so a load stopped at any moment (even `kill -9`) resumes after
its last committed row: no row is applied twice and none is lost. With matching workers, the
workers read and match each batch's rows while the load applies the batch before
(`_apply_overlapped`, sources.candidates).

A dry run takes the same path, row for row; what it does otherwise than a load is its effects'
(sources.loading.effects, chosen once here by `effects_for`). It still commits its report rows
and position batch by batch, for its progress; what it carries is not kept, so a dry run run
again after a stop starts again from its first row.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Engine, delete, select

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import shareable, tune_for_bulk_load, utcnow
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadRow, LoadStatus, QuarantinedRow, RowOutcome
from index_service.sources.candidates import read_only_settings
from index_service.sources.collecting import CollectedBetween
from index_service.sources.extract import ExtractError, count_rows, format_for
from index_service.sources.loading.batch import Batch
from index_service.sources.loading.dry_run import Predicted
from index_service.sources.loading.effects import Effects, Written
from index_service.sources.loading.report_rows import write_batch
from index_service.sources.loading.tally import Tally
from index_service.sources.models import DataSource
from index_service.sources.pool import MatchingPool, matching_pool
from index_service.sources.reading import ReadBatch, batches_read_ahead, read_batches, unknown_columns
from index_service.sources.uploads import load_stopped

Progress = Callable[[Load], None]
FULL_COLLECTION_EVERY = 20  # batches


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def begin_load(
    source: DataSource,
    path: Path,
    kind: LoadKind,
    *,
    dry_run: bool = False,
    user: User | None = None,
    file_name: str | None = None,
) -> Load:
    """The load of this file: the unfinished one of the same file, to resume, or a new one."""
    if not source.is_active:
        raise ExtractError(f"The data source {source.name!r} is not active; a data administrator can reactivate it")
    fmt = format_for(file_name or path.name)
    sha = file_sha256(path)
    unfinished = db.session.scalar(
        select(Load)
        .where(
            Load.source_id == source.id,
            Load.file_sha256 == sha,
            Load.kind == kind,
            Load.is_dry_run == dry_run,
            Load.status != LoadStatus.COMPLETED,
        )
        .order_by(Load.id.desc())
    )
    if unfinished is not None:
        return unfinished
    load = Load(
        source=source,
        kind=kind,
        is_dry_run=dry_run,
        file_name=file_name or path.name,
        file_format=fmt,
        file_sha256=sha,
        stored_path=str(path),
        rows_expected=count_rows(path, fmt),
        created_by=user,
        counts={},
        summary={},
    )
    db.session.add(load)
    db.session.flush()
    return load


def earlier_load_of_same_file(load: Load) -> Load | None:
    return db.session.scalar(
        select(Load)
        .where(
            Load.source_id == load.source_id,
            Load.file_sha256 == load.file_sha256,
            Load.id != load.id,
            Load.status == LoadStatus.COMPLETED,
            Load.is_dry_run.is_(False),
        )
        .order_by(Load.id.desc())
    )


@contextmanager
def effects_for(load: Load) -> Iterator[Effects]:
    """What the load's batches do with what they decide: write it (a load), or carry it from
    batch to batch and write nothing (a dry run, whose carried records are let go when it ends or
    fails). The one place a load and a dry run part ways."""
    effects: Effects = Predicted(current_app.config["DRY_RUN_CARRIED_RECORDS"]) if load.is_dry_run else Written()
    try:
        yield effects
    finally:
        effects.close()


@contextmanager
def _batches(path: Path, load: Load, today: date, size: int, *, ahead: bool) -> Iterator[Iterator[ReadBatch]]:
    """The batches after the load's last committed row: read by a reader process a batch
    ahead, or here."""
    if ahead:
        with batches_read_ahead(path, load.file_format, today, load.rows_done, size) as batches:
            yield batches
    else:
        with closing(read_batches(path, load.file_format, today, load.rows_done, size)) as batches:
            yield batches


def _begin(load: Load, batch: ReadBatch, today: date, effects: Effects, pool: MatchingPool | None) -> Batch:
    """The batch begun: what its rows name read, and the matching of them started."""
    tune_for_bulk_load(db.session.connection())  # the connection this transaction has
    run = Batch(load, batch, today, effects, pool)
    run.begin()
    return run


def _apply_batch(run: Batch, tally: Tally) -> None:
    """Apply one batch, begun, by its effects, and commit it with its report rows and the load's
    position."""
    tune_for_bulk_load(db.session.connection())
    results = run.run()
    write_batch(run.load, run.rows, results)
    for row, result in zip(run.rows, results, strict=True):
        tally.add(row, result)
    run.load.rows_done = run.rows[-1].row_number
    tally.store()
    db.session.commit()


def _apply_in_turn(
    load: Load,
    batches: Iterator[ReadBatch],
    today: date,
    tally: Tally,
    pool: MatchingPool | None,
    effects: Effects,
    after: Callable[[], None],
) -> None:
    """Each batch begun and applied before the next is begun: when the effects do not overlap
    batches (a dry run's, each batch carrying its changes to the next) and for a load without
    workers (nothing to overlap)."""
    for batch in batches:
        run = _begin(load, batch, today, effects, pool)
        _apply_batch(run, tally)
        del run  # the batch's records go before they are collected
        after()


def _apply_overlapped(
    load: Load,
    batches: Iterator[ReadBatch],
    today: date,
    tally: Tally,
    pool: MatchingPool,
    effects: Effects,
    after: Callable[[], None],
) -> None:
    """A load's batches with the workers matching one batch while this process applies the one before.

    Each batch is begun, and the workers start reading and matching its rows, before the batch
    before is applied and written. So the batch's candidates are read as the index stood before
    or after the batch before wrote: what that batch made and changed is found and compared as
    the batch's own rows' changes are (`Batch.follow`), the rows that meet it are decided
    again here, and the rest keep the workers' verdicts, which nothing since could change.
    """
    ahead: Batch | None = None
    for batch in batches:
        run = _begin(load, batch, today, effects, pool)
        if ahead is not None:
            _apply_batch(ahead, tally)
            run.follow(ahead)
            ahead = None
            after()
        ahead = run
    if ahead is not None:
        _apply_batch(ahead, tally)
        ahead = None
        after()


@contextmanager
def _collecting_between_batches() -> Iterator[Callable[[], None]]:
    """Python's cycle collector, run between batches rather than whenever it likes (see
    sources.collecting), and as it was once the load is done.

    A batch makes hundreds of thousands of objects, nearly all freed when it ends. The batch's
    prepared people are forgotten first: nothing else of a batch outlives it in such numbers.
    """
    was_enabled = gc.isenabled()
    collector = CollectedBetween(FULL_COLLECTION_EVERY)

    try:
        yield collector.after
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _workers_can_read() -> bool:
    """Whether matching workers, each reading with a connection of its own, see what this load
    reads: a database other processes can open, and a session not bound to one connection (a
    caller's transaction, whose uncommitted rows no other connection sees)."""
    bind = db.session.get_bind()
    return isinstance(bind, Engine) and shareable(bind)


def resumes_after(load: Load) -> int:
    """The row after which running this load carries on: its last committed row, or none for a dry
    run, which starts again (what its earlier batches would have written is not kept)."""
    return 0 if load.is_dry_run else load.rows_done


def _start_again(load: Load) -> None:
    """Forget a dry run's report so far, to predict it again from the first row."""
    for table in (LoadRow, QuarantinedRow):
        db.session.execute(delete(table).where(table.load_id == load.id))
    load.rows_done, load.counts, load.summary, load.error, load.started_at = 0, {}, {}, None, utcnow()


def run_load(load: Load, *, today: date | None = None, progress: Progress | None = None) -> Load:
    """Apply (or, for a dry run, predict) the whole load, resuming after its last committed row
    (a dry run starts again)."""
    today = today or date.today()
    user = load.created_by
    path = Path(load.stored_path or "")
    unknown = unknown_columns(path, load.file_format)
    resuming, again = resumes_after(load) > 0, load.rows_done > resumes_after(load)
    if again:
        _start_again(load)
    load.status = LoadStatus.RUNNING
    load.started_at = load.started_at or utcnow()
    load.summary = {**(load.summary or {}), "unknown_columns": unknown}
    record_event(
        AuditTag.LOAD_START,
        user=user,
        details=_audit_details(load, resumed=resuming, **({"started_again": True} if again else {})),
        organisation_id=load.source.organisation_id,
    )
    db.session.commit()
    tally = Tally(load)
    size = current_app.config["LOAD_BATCH_ROWS"]
    # Worker processes pay for themselves only over more than one batch.
    many = (load.rows_expected or 0) - load.rows_done > size
    workers = current_app.config["LOAD_WORKERS"] if many and _workers_can_read() else 0
    try:
        with (
            matching_pool(workers, read_only_settings(current_app.config)) as pool,
            _batches(path, load, today, size, ahead=pool is not None) as batches,
            effects_for(load) as effects,
            _collecting_between_batches() as collect,
        ):

            def after() -> None:
                collect()
                if progress:
                    progress(load)

            if pool is not None and effects.overlaps:
                _apply_overlapped(load, batches, today, tally, pool, effects, after)
            else:
                _apply_in_turn(load, batches, today, tally, pool, effects, after)
    except Exception as error:
        db.session.rollback()
        load.status = LoadStatus.FAILED
        load.error = f"{type(error).__name__}: stopped after row {load.rows_done}; run the load again to resume"
        record_event(
            AuditTag.LOAD_FINISH,
            Outcome.FAILURE,
            user=user,
            details=_audit_details(load),
            organisation_id=load.source.organisation_id,
        )
        db.session.commit()
        load_stopped(load)
        raise
    return _finish(load, today, user, effects)


def _finish(load: Load, today: date, user: User | None, effects: Effects) -> Load:
    ended = 0
    if load.kind is LoadKind.FULL:
        # A full load is the source's whole caseload: its other open involvements have ended.
        ended = effects.end_involvements(load, today)
    earlier = earlier_load_of_same_file(load)
    # A row on a shielded record counts as a change whether or not it was one (see sources.shielded).
    changes = sum(
        load.counts.get(o.value, 0)
        for o in (RowOutcome.LINKED, RowOutcome.CREATED, RowOutcome.UPDATED, RowOutcome.SHIELDED)
    )
    load.summary = {
        **load.summary,
        "involvements_ended": ended,
        "same_file_as_load": earlier.id if earlier else None,
        "nothing_changed": changes == 0 and ended == 0 and effects.changes_index,
    }
    load.status = LoadStatus.COMPLETED
    load.finished_at = utcnow()
    record_event(
        AuditTag.LOAD_FINISH, user=user, details=_audit_details(load), organisation_id=load.source.organisation_id
    )
    db.session.commit()
    load_stopped(load)
    return load


def _audit_details(load: Load, **extra: Any) -> dict[str, Any]:
    return {
        "load_id": load.id,
        "source": load.source.name,
        "file_name": load.file_name,
        "file_sha256": load.file_sha256,
        "kind": load.kind.value,
        "dry_run": load.is_dry_run,
        "rows_done": load.rows_done,
        "counts": dict(load.counts or {}),
        **extra,
    }
