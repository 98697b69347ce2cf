"""What a load's helper process (a matching worker, the extract's reader) runs beside its work:
it ends when the load that started it has gone; and a matching worker collects garbage between
its tasks, not during them.

A load stopped by `kill -9` cannot stop its helpers; a matching worker would otherwise wait for
work for ever. Here: nothing but the standard library, as everywhere in matching (no Flask).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from matching.collecting import CollectedBetween

CHECK_SECONDS = 1.0
FULL_COLLECTION_EVERY = 200  # tasks: a worker's task is a few dozen rows

T = TypeVar("T")
R = TypeVar("R")

_collector: CollectedBetween | None = None  # a matching worker's, from its start


def end_with_parent(parent: int) -> None:
    """Watch, in a thread of this process, that the parent process is still there; end this
    process at once when it is not (its parent is then another process)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def start_matching_worker(parent: int) -> None:
    """A matching worker's start: it ends with its load, and the cycle collector runs only
    between its tasks (see run_task and matching.collecting).

    Left to itself, the collector runs many times a batch while tasks unpickle their rows and
    candidates and match them, scanning again and again the name comparisons the worker keeps;
    a task leaves nothing that needs collecting before it ends (docs/performance.md has the cost).
    """
    global _collector
    end_with_parent(parent)
    _collector = CollectedBetween(FULL_COLLECTION_EVERY)


def run_task(function: Callable[[T], R], task: T) -> R:
    """One task of a matching worker (started by start_matching_worker), then the collector run
    (which forgets the task's prepared people: see matching.collecting).

    A task's candidates are mostly others than the next task's. Kept in matching's cache, they
    would be scanned by the collector after every task and never used again, so each task starts
    with an empty cache (docs/performance.md has the cost).
    """
    try:
        return function(task)
    finally:
        assert _collector is not None
        _collector.after()
