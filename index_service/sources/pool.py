"""Worker processes that match a load's rows while the load's own process reads and writes.

A load's process keeps every database read and write and the order of the rows; the workers
get plain data (the row as matching sees it, its candidates) and give back plain data: which
candidates could change a row's outcome, and the row's verdict on its held candidates. They
run the same functions (matching.deciding) as the load's process, which decides itself every
row the workers cannot (one sent to review, one that meets a child made earlier in its batch).

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
from typing import TypeVar

from matching.deciding import Incoming, Verdict, could_change_each, decide_each
from matching.person import Person
from matching.search import Candidate
from matching.worker import end_with_parent

CHUNK_ROWS = 100  # rows a task: enough to outweigh the cost of sending it, few enough to share out

T = TypeVar("T")
A = TypeVar("A")
DIED = "a matching worker process stopped; run the load again to resume"


class WorkerDied(RuntimeError):
    """A matching worker process stopped in the middle of a batch."""


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK_ROWS):
        yield items[start:start + CHUNK_ROWS]


class Verdicts:
    """The workers' verdicts on a batch's rows, each waited for only when its row comes."""

    def __init__(self) -> None:
        self._pending: dict[int, Future[list[tuple[int, Verdict | None]]]] = {}
        self._found: dict[int, Verdict | None] = {}

    def add(self, numbers: list[int], future: Future[list[tuple[int, Verdict | None]]]) -> None:
        for number in numbers:
            self._pending[number] = future

    def get(self, number: int) -> Verdict | None:
        """The row's verdict, or None when the workers left it to the load (review, or not sent)."""
        future = self._pending.pop(number, None)
        if future is not None:
            self._found.update(_result(future))
        return self._found.pop(number, None)


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
                                             initializer=end_with_parent, initargs=(os.getpid(),))

    def could_change(self, work: list[tuple[int, Person, list[tuple[int, Person]]]]) -> dict[int, list[int]]:
        """Row number -> the held candidates that could change its outcome, for each row of the work.

        The load waits for these before it reads on, so it takes a share of them itself.
        """
        share = len(work) // (self.workers + 1)
        futures = [self._submit(could_change_each, chunk) for chunk in _chunks(work[share:])]
        found = dict(could_change_each(work[:share]))
        found.update((number, ids) for future in futures for number, ids in _result(future))
        return found

    def decide(self, work: list[tuple[int, Incoming, list[Candidate]]], shielded: frozenset[int]) -> Verdicts:
        """Start deciding the rows on their held candidates; the verdicts follow as they are ready."""
        verdicts = Verdicts()
        for chunk in _chunks(work):
            verdicts.add([number for number, _, _ in chunk], self._submit(decide_each, (chunk, shielded)))
        return verdicts

    def _submit(self, function: Callable[[A], T], task: A) -> Future[T]:
        try:
            return self._executor.submit(function, task)
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
