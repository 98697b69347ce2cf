"""Walking stretches of the chain in worker processes, each reading with a database connection of its own.

One process cannot verify tens of millions of events at the speed an auditor needs: the
database server's process writing out each event's content, and Python hashing it, each take
a core. So the chain is cut into stretches of positions, walked by as many processes as there
are cores, and joined in order by `walking.join`, which finds what one walk would.

Every worker reads what the verifying connection reads. On PostgreSQL they import the very
snapshot it exported. SQLite has no shared snapshots, so each worker's stretches end where the
verifier's snapshot ends (later events are not theirs to read), and a worker that finds the
chain pruned further than the verifier did stops the verification (`VerificationStopped`): the one
change that could make a stretch look short. A worker that dies stops it too; neither says
anything of the chain.

Forked, not spawned: a worker starts at once, without importing the app again, and opens its
own connection; it never touches the connections it inherited.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import sqlite3
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection

from index_service.audit.chain_rows import walk
from index_service.audit.models import CheckpointKind
from index_service.audit.walking import Stretch
from index_service.database import sql_dialect
from index_service.helper_processes import end_with_parent

SQLITE_MAP_BYTES = 2_147_418_112  # the most a Debian SQLite maps (SQLITE_MAX_MMAP_SIZE)
STRETCH_EVENTS = 100_000  # events a task: enough to outweigh starting a query, few enough to share out

_PRUNED_THROUGH = {
    "postgresql": "SELECT max(position) FROM audit_checkpoints WHERE kind = %s",
    "sqlite": "SELECT max(position) FROM audit_checkpoints WHERE kind = ?",
}


class VerificationStopped(RuntimeError):
    """The verification could not finish: a worker process stopped, or the chain was pruned meanwhile (the
    stretches would not be one snapshot's). It says nothing either way about the chain."""


_reader: tuple[Any, str, int] | None = None  # this worker's (DBAPI connection, dialect, pruned through)


def stretches(after: int, through: int, size: int = STRETCH_EVENTS) -> list[tuple[int, int]]:
    """The positions after `after` through `through`, cut into (after, through) stretches of `size`."""
    return [(low, min(low + size, through)) for low in range(after, through, size)]


def _open(parent: int, dialect: str, target: str, snapshot: str | None) -> None:
    """A worker's start: its own read-only connection, in the verifier's snapshot (PostgreSQL) or its own."""
    global _reader
    end_with_parent(parent)
    raw: Any
    if dialect == "postgresql":
        raw = psycopg.connect(target)
        raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        raw.read_only = True
        raw.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    else:
        raw = sqlite3.connect(Path(target).as_uri() + "?mode=ro", uri=True, isolation_level=None)
        # Pages read straight from the operating system's cache through a memory map (as large as SQLite allows),
        # not copied into the connection's own cache one read at a time; a walk reads each page once, in order.
        raw.execute(f"PRAGMA mmap_size = {SQLITE_MAP_BYTES}")
        raw.execute("BEGIN")  # its snapshot starts with the first read, just below, and holds to the end
    # Closed as the worker ends, so that the server sees a goodbye rather than a dropped connection.
    multiprocessing.util.Finalize(None, raw.close, exitpriority=0)
    pruned = raw.execute(_PRUNED_THROUGH[dialect], (CheckpointKind.PRUNE.value,)).fetchone()[0]
    _reader = (raw, dialect, pruned or 0)


def _walk(after: int, through: int, checkpoints: Mapping[int, str]) -> tuple[Stretch, int]:
    """One stretch walked in this worker, and how far this worker's snapshot says the chain was pruned."""
    if _reader is None:
        raise RuntimeError("the worker has no connection")
    raw, dialect, pruned = _reader
    return walk(raw, dialect, after, through, checkpoints), pruned


def _stopped(error: BrokenProcessPool) -> VerificationStopped:
    return VerificationStopped(f"a worker process stopped ({error}); run verify again, or with --workers 1")


def walk_in_workers(
    connection: Connection,
    parts: list[tuple[int, int]],
    checkpoints: Mapping[int, str],
    workers: int,
    pruned_through: int,
) -> Iterator[Stretch]:
    """Each stretch walked by a worker process, handed over in chain order as it is ready.

    `connection` is the verifier's, in its snapshot (see read_snapshot); `pruned_through` is where
    that snapshot's chain starts. Closing the iterator early (at a broken link) cancels the
    stretches not yet begun.
    """
    dialect = sql_dialect(connection.dialect)
    url = connection.engine.url
    if dialect == "postgresql":
        snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    else:
        snapshot, target = None, str(Path(url.database or "").resolve())
    executor = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_open,
        initargs=(os.getpid(), dialect, target, snapshot),
    )
    try:
        try:
            futures: list[Future[tuple[Stretch, int]]] = [
                executor.submit(_walk, low, high, {p: h for p, h in checkpoints.items() if low < p <= high})
                for low, high in parts
            ]
        except BrokenProcessPool as error:  # a worker stopped before every stretch was handed out
            raise _stopped(error) from error
        for future in futures:
            try:
                stretch, pruned = future.result()
            except BrokenProcessPool as error:
                raise _stopped(error) from error
            if pruned != pruned_through:
                raise VerificationStopped("the audit trail was pruned while it was being verified; run verify again")
            yield stretch
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
