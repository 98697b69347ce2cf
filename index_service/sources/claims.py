"""Loads are applied one at a time in the whole index: a process waits its turn before it applies one.

Two loads applied at once would each see a child as new before the other commits it, and make
the child twice: the same file started twice, two deltas of one source, or two sources that
both supply a new child. The turn is held for as long as the process applies its load, and is
let go by the database server or the operating system when the process ends however it ends
(kill -9 included), so an interrupted load can always be resumed (index_service.index_locks).
Dry runs change nothing in the index and need no turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from index_service.index_locks import index_lock

LOADING_LOCK = 0x4C4F4144  # "LOAD": apart from any other advisory lock
WAITING = "Another load is being applied; this one waits its turn"


@contextmanager
def loading_turn(on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """This process's turn to apply a load, waited for; `on_wait` is told when it has to wait."""
    with index_lock(LOADING_LOCK, ".loading", on_wait):
        yield
