"""What a load's helper process (a matching worker, the extract's reader) runs beside its work:
it ends when the load that started it has gone; and a matching worker collects garbage between
its tasks, not during them.

A load stopped by `kill -9` cannot stop its helpers; a matching worker would otherwise wait for
work for ever. Here: nothing but the standard library, so a worker still imports only matching.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

CHECK_SECONDS = 1.0
FULL_COLLECTION_EVERY = 200  # tasks: a worker's task is a few dozen rows

T = TypeVar("T")
R = TypeVar("R")

_tasks_done = 0


def end_with_parent(parent: int) -> None:
    """Watch, in a thread of this process, that the parent process is still there; end this
    process at once when it is not (its parent is then another process)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def start_matching_worker(parent: int) -> None:
    """A matching worker's start: it ends with its load, what it has imported is set aside from
    the cycle collector, and the collector runs only between tasks (see run_task).

    Left to itself, the collector ran hundreds of times a batch while tasks unpickled their rows
    and candidates and matched them, scanning again and again the name comparisons the worker
    keeps: about a tenth of a worker's CPU in a load of 100,000 rows at a million children.
    """
    end_with_parent(parent)
    gc.collect()
    gc.freeze()
    gc.disable()


def run_task(function: Callable[[T], R], task: T) -> R:
    """One task of a matching worker, then its young objects collected (and every object, every
    FULL_COLLECTION_EVERY tasks), so no garbage cycle outlives a few batches."""
    global _tasks_done
    try:
        return function(task)
    finally:
        _tasks_done += 1
        gc.collect(2 if _tasks_done % FULL_COLLECTION_EVERY == 0 else 0)
