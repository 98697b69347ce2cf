"""Worker processes that match a load's rows while the load's own process reads and writes.

A load's process keeps every database read and write and the order of the rows; the workers
get plain data (the row as matching sees it, its candidates) and give back plain data: which
candidates could change a row's outcome, and the row's verdict on its held candidates as the
batch found them. They run the same functions (matching.deciding) as the load's process, which
decides itself every row the workers cannot (one sent to review, one whose candidates an earlier
row of its batch, or the batch before, has made or changed), and works the chunks no worker has
begun when it asks for the results.

A worker that dies breaks the pool: the batch fails, nothing of it is committed, and the load
stops as failed, to be resumed by running it again.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from matching.deciding import Incoming, Verdict, could_change_each, decide_each
from matching.person import Person
from matching.search import Candidate
from matching.worker import run_task, start_matching_worker

CHUNK_ROWS = 25  # rows a task: worth the cost of sending, and few enough that the load waits little at the end

T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")
DIED = "a matching worker process stopped; run the load again to resume"


class WorkerDied(RuntimeError):
    """A matching worker process stopped in the middle of a batch."""


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK_ROWS):
        yield items[start:start + CHUNK_ROWS]


def _result(future: Future[T]) -> T:
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise WorkerDied(DIED) from error


class MatchingPool:
    """A pool of worker processes for one load (see the module's docstring)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        # Spawned, not forked: a worker starts clean, without the load's database connections,
        # and imports only matching (the functions it is sent are matching.deciding's).
        self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=start_matching_worker, initargs=(os.getpid(),))

    def could_change(self, work: list[tuple[int, Person, list[tuple[int, Person]]]],
                     ) -> Callable[[], dict[int, list[int]]]:
        """Start sharing out the work; the thunk gives row number -> the held candidates that could
        change its outcome, for each row of the work."""
        gather = self._shared(could_change_each, work)
        return lambda: dict(gather())

    def decide(self, work: list[tuple[int, Incoming, list[Candidate]]], shielded: frozenset[int],
               ) -> Callable[[], dict[int, Verdict | None]]:
        """Start sharing out the work; the thunk gives row number -> its verdict on its held
        candidates (None: left to the load), for each row of the work."""
        gather = self._shared(partial(decide_each, shielded=shielded), work)
        return lambda: dict(gather())

    def _shared(self, each: Callable[[list[T]], list[R]], work: list[T]) -> Callable[[], list[R]]:
        """each over the work, in chunks shared out to the workers now; the thunk gives the results
        in the work's order.

        The load goes on with other work meanwhile (it reads and writes one batch while the
        workers match the next). When it asks for the results it works too: from the last chunk
        back, it takes each chunk no worker has begun (a worker is handed a chunk only when it is
        nearly free) and works it itself, until it meets those the workers have. With a fixed
        half for itself, the load waited an eighth of its time for a worker that got through the
        other half more slowly (fed pickled chunks by the executor's threads in this process).
        """
        chunks = list(_chunks(work))
        futures = [self._submit(each, chunk) for chunk in chunks]

        def gather() -> list[R]:
            done: dict[int, list[R]] = {}
            for at in reversed(range(len(chunks))):
                if not futures[at].cancel():
                    break
                done[at] = each(chunks[at])
            return [result for at, future in enumerate(futures)
                    for result in (done[at] if at in done else _result(future))]

        return gather

    def _submit(self, function: Callable[[A], T], task: A) -> Future[T]:
        try:
            return self._executor.submit(run_task, function, task)
        except BrokenProcessPool as error:
            raise WorkerDied(DIED) from error

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def matching_pool(workers: int) -> Iterator[MatchingPool | None]:
    """A pool of this many workers for the length of a load, or None for no pool (workers 0)."""
    if workers < 1:
        yield None
        return
    pool = MatchingPool(workers)
    try:
        yield pool
    finally:
        pool.close()
