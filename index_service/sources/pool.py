"""Worker processes that match a load's rows while the load's own process writes.

A load's process keeps every write and the order of the rows; each worker, with a read-only
connection of its own, is sent rows in chunks (the row as matching sees it, its blocking keys,
the records holding its identifiers), reads their candidates, and gives back plain data: each
row's candidates as it found them, those that could change its outcome, and its verdict on them
(see sources.candidates). The load decides itself every row the workers cannot (one sent to
review, one whose candidates an earlier row of its batch, or the batch before, has made or
changed), and works the chunks no worker has begun when it asks for the results.

A worker that dies breaks the pool: the batch fails, nothing of it is committed, and the load
stops as failed, to be resumed by running it again. A worker ends with the load that started it
(index_service.helper_processes), however the load ends, and runs without the app: it is spawned,
imports this module, and opens only its own read-only connection.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeVar

from index_service.helper_processes import end_with_parent
from index_service.sources.candidates import Matched, ToMatch, match_rows, match_rows_in_worker, open_read_only
from index_service.sources.collecting import CollectedBetween

# Rows a task. Each task reads its rows' candidates in a few queries of its own, so a few large
# tasks cost less than many small ones; small enough that every worker still gets a share of a
# batch. The measurements behind the number are in docs/performance.md.
CHUNK_ROWS = 250
FULL_COLLECTION_EVERY = 200  # a matching worker's tasks between full collections

T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")
DIED = "a matching worker process stopped; run the load again to resume"


class WorkerDied(RuntimeError):
    """A matching worker process stopped in the middle of a batch."""


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK_ROWS):
        yield items[start : start + CHUNK_ROWS]


def _result(future: Future[T]) -> T:
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise WorkerDied(DIED) from error


class MatchingPool:
    """A pool of worker processes for one load (see the module's docstring)."""

    def __init__(self, workers: int, database: Mapping[str, Any] | None = None) -> None:
        """workers processes, each reading the database of these settings (see
        candidates.read_only_settings), or none."""
        self.workers = workers
        # Spawned, not forked: a worker starts clean, without the load's database connections,
        # and opens its own.
        self._executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(), database),
        )

    def match(self, rows: list[ToMatch]) -> Callable[[], list[Matched]]:
        """Start sharing out the rows (see sources.candidates); the thunk gives each row matched, in order."""
        return self._shared(match_rows_in_worker, match_rows, rows)

    def _shared(
        self, each: Callable[[list[T]], list[R]], here: Callable[[list[T]], list[R]], work: list[T]
    ) -> Callable[[], list[R]]:
        """each over the work, in chunks shared out to the workers now; the thunk gives the results
        in the work's order (here: what this process runs instead of each, for the chunks it takes).

        The load goes on with other work meanwhile (it reads and writes one batch while the
        workers match the next). When it asks for the results it works too: from the last chunk
        back, it takes each chunk no worker has begun (a worker is handed a chunk only when it is
        nearly free) and works it itself, until it meets those the workers have. So no chunk waits
        for a busy worker while the load is idle, whatever the workers' speed.
        """
        chunks = list(_chunks(work))
        futures = [self._submit(each, chunk) for chunk in chunks]

        def gather() -> list[R]:
            done: dict[int, list[R]] = {}
            for at in reversed(range(len(chunks))):
                if not futures[at].cancel():
                    break
                done[at] = here(chunks[at])
            return [
                result for at, future in enumerate(futures) for result in (done[at] if at in done else _result(future))
            ]

        return gather

    def _submit(self, function: Callable[[A], T], task: A) -> Future[T]:
        try:
            return self._executor.submit(run_task, function, task)
        except BrokenProcessPool as error:
            raise WorkerDied(DIED) from error

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


_collector: CollectedBetween | None = None  # a matching worker's, from its start


def _start_worker(parent: int, database: Mapping[str, Any] | None) -> None:
    """A matching worker's start: it ends with its load, the cycle collector runs only between its
    tasks (see run_task and sources.collecting), and it reads the database of these settings.

    A task unpickles its rows and candidates and matches them; it leaves nothing that needs
    collecting before it ends, so collecting during a task would only rescan the name
    comparisons the worker keeps (docs/performance.md has the cost).
    """
    global _collector
    end_with_parent(parent)
    _collector = CollectedBetween(FULL_COLLECTION_EVERY)
    if database is not None:
        open_read_only(database)


def run_task(function: Callable[[T], R], task: T) -> R:
    """One task of a matching worker (started by _start_worker), then the collector run (which
    forgets the task's prepared people: see sources.collecting).

    A task's candidates are mostly others than the next task's. Kept in matching's cache, they
    would be scanned by the collector after every task and never used again, so each task starts
    with an empty cache (docs/performance.md has the cost).
    """
    try:
        return function(task)
    finally:
        assert _collector is not None
        _collector.after()


@contextmanager
def matching_pool(workers: int, database: Mapping[str, Any] | None = None) -> Iterator[MatchingPool | None]:
    """A pool of this many workers for the length of a load, each reading the database of these
    settings (see candidates.read_only_settings), or None for no pool (workers 0)."""
    if workers < 1:
        yield None
        return
    pool = MatchingPool(workers, database)
    try:
        yield pool
    finally:
        pool.close()
