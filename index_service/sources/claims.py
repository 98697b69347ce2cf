"""Loads are applied one at a time in the whole index: a process waits its turn before it applies one.

Two loads applied at once would each see a child as new before the other commits it, and make
the child twice: the same file started twice, two deltas of one source, or two sources that
both supply a new child. The turn is held for as long as the process applies its load, and is
let go by the database server or the operating system when the process ends however it ends
(kill -9 included), so an interrupted load can always be resumed. On PostgreSQL it is a session
advisory lock on a connection of its own; on SQLite a POSIX lock on a file beside the database
file. Dry runs change nothing in the index and need no turn.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from index_service.extensions import db

ADVISORY_KEY = {"kind": 0x4C4F4144, "which": 0}  # "LOAD": apart from any other advisory lock
WAITING = "Another load is being applied; this one waits its turn"


@contextmanager
def loading_turn(on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """This process's turn to apply a load, waited for; `on_wait` is told when it has to wait."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            if not connection.execute(text("SELECT pg_try_advisory_lock(:kind, :which)"), ADVISORY_KEY).scalar():
                on_wait()
                connection.execute(text("SELECT pg_advisory_lock(:kind, :which)"), ADVISORY_KEY)
            connection.commit()  # the lock belongs to the connection, not to a transaction
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:kind, :which)"), ADVISORY_KEY)
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a database no other process can open
        return
    with Path(f"{database}.loading").open("a+b") as turn:
        try:
            fcntl.lockf(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            on_wait()
            fcntl.lockf(turn, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(turn, fcntl.LOCK_UN)
