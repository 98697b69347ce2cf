"""Locks over the whole index, held by one process at a time across every machine that shares the
database: the loads' turn (sources.claims) and the duplicate sweep's (duplicates.sweep).

Each is let go by the database server or the operating system when its process ends, however it
ends (kill -9 included), so work a dead process held can always be taken up again. On PostgreSQL it
is a session advisory lock on a connection of its own; on SQLite a POSIX lock on a file beside the
database file (processes that share a SQLite database share its folder).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from index_service.extensions import db


@contextmanager
def index_lock(kind: int, file_suffix: str, on_busy: Callable[[], None]) -> Iterator[None]:
    """Hold the lock `kind` (PostgreSQL) or the file `<database><file_suffix>` (SQLite). When
    another process holds it, `on_busy` is called first, then this waits; to give up instead of
    waiting, raise from `on_busy`."""
    key = {"kind": kind, "which": 0}
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            if not connection.execute(text("SELECT pg_try_advisory_lock(:kind, :which)"), key).scalar():
                on_busy()
                connection.execute(text("SELECT pg_advisory_lock(:kind, :which)"), key)
            connection.commit()  # the lock belongs to the connection, not to a transaction
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:kind, :which)"), key)
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a database no other process can open
        return
    with Path(f"{database}{file_suffix}").open("a+b") as held:
        try:
            fcntl.lockf(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            on_busy()
            fcntl.lockf(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(held, fcntl.LOCK_UN)
