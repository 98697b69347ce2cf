"""The chain's events as the verifier reads them: each one's canonical content written out by the database.

Read straight from the database driver, a batch of plain tuples at a time, because an auditor
runs this over tens of millions of events: the database writes out each event's canonical
content (JSON as stored, times as UTC ISO text) in C, and Python only hashes and links
(`walking`). Plain DBAPI connections, so that a worker process can read with its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from queue import Full, Queue
from typing import Any

from sqlalchemy import Connection

from index_service.audit import canonical
from index_service.audit.models import AuditEvent

BATCH_ROWS = 20_000


def _postgresql_value(name: str, kind: canonical.Kind) -> str:
    """A hashed column as the text `canonical.content` writes for it, on PostgreSQL (NULL for NULL)."""
    if kind is canonical.Kind.TIME:
        return f"'\"' || to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '\"'"
    if kind is canonical.Kind.TEXT:
        # A text with nothing to escape is only quoted: to_json() would take twice as long. Anything
        # else it escapes; what it escapes otherwise than Python (a control character) is rechecked.
        return (f"CASE WHEN strpos({name}, '\"') = 0 AND strpos({name}, '\\') = 0 THEN '\"' || {name} || '\"' "
                f"ELSE to_json({name})::text END")
    return f"CAST({name} AS TEXT)"


def _sqlite_value(name: str, kind: canonical.Kind) -> str:
    """A hashed column as the text `canonical.content` writes for it, on SQLite (NULL for NULL)."""
    if kind is canonical.Kind.TIME:
        return f"'\"' || replace({name}, ' ', 'T') || '\"'"
    if kind is canonical.Kind.TEXT and AuditEvent.__table__.c[name].nullable:
        return f"CASE WHEN {name} IS NOT NULL THEN json_quote({name}) END"  # json_quote(NULL) is the text null
    if kind is canonical.Kind.TEXT:
        return f"json_quote({name})"
    return f"CAST({name} AS TEXT)"


def _pieces(value: Callable[[str, canonical.Kind], str]) -> list[tuple[bool, str]]:
    """The content in order as (is SQL, text) pieces: constant text, or an expression that may be NULL.

    Each field is its key and its value. A field whose column may be NULL is one expression, its
    key and comma joined on with ||, so that a NULL value leaves out the whole field. A field
    before the first that is never NULL carries its comma after it, and every later one before
    it, so no comma is ever left to cut off.
    """
    pieces, anchored = [(False, "{")], False
    for name, kind in sorted(canonical.HASHED_FIELDS):
        key = canonical.json_text(name) + ":"
        if not AuditEvent.__table__.c[name].nullable:
            pieces += [(False, ("," if anchored else "") + key), (True, value(name, kind))]
            anchored = True
        elif anchored:
            pieces.append((True, f"',{key}' || {value(name, kind)}"))
        else:
            pieces.append((True, f"'{key}' || {value(name, kind)} || ','"))
    if not anchored:
        raise ValueError("the hashed fields need one that is never NULL to put the commas around")
    return [*pieces, (False, "}")]


def _content_sql(dialect: str) -> str:
    """The event's canonical content, written out by the database itself from `HASHED_FIELDS`.

    The database does in C what `canonical.content` does in Python, so that verifying is mostly
    reading and hashing; an event whose text differs from Python's (an escaping the two write
    differently) is written again by Python before anything is said about it. One call builds
    the text once (a chain of || copies it at every step) and leaves out a NULL piece:
    PostgreSQL's concat(), SQLite's printf() (whose %s writes nothing for NULL).
    """
    if dialect == "postgresql":
        return "concat(" + ", ".join(text if sql else f"'{text}'" for sql, text in _pieces(_postgresql_value)) + ")"
    pieces = _pieces(_sqlite_value)
    template = "".join("%s" if sql else text.replace("%", "%%") for sql, text in pieces)
    return f"printf('{template}', " + ", ".join(text for sql, text in pieces if sql) + ")"



def select_sql(dialect: str) -> str:
    """The events from after one position through another, in chain order, each as (position, content,
    previous hash, hash, id)."""
    mark = "%s" if dialect == "postgresql" else "?"
    # Column names come from HASHED_FIELDS, never from input; the two positions are bound parameters.
    selected = ", ".join(["chain_position", _content_sql(dialect), "previous_hash", "event_hash", "id"])
    return (f"SELECT {selected} FROM audit_events "  # noqa: S608
            f"WHERE chain_position > {mark} AND chain_position <= {mark} ORDER BY chain_position")


_SELECT = {dialect: select_sql(dialect) for dialect in ("postgresql", "sqlite")}


def batches(raw: Any, dialect: str, after: int, through: int) -> Iterator[list[Sequence[Any]]]:
    """The events after position `after` through `through`, a batch of plain tuples at a time, from a DBAPI
    connection (a server-side cursor on PostgreSQL, so that only a batch is ever held)."""
    if dialect == "postgresql":
        # For this transaction: the walk wants position order, which the unique index gives as it reads. A sort
        # (planned when the statistics are stale, as after a bulk load) would spill the rows to disk, and the
        # server's own parallel workers would take the cores from the verifier's.
        raw.execute("SET LOCAL enable_sort = off")
        raw.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    cursor = raw.cursor(name="audit_verify") if dialect == "postgresql" else raw.cursor()
    try:
        cursor.execute(_SELECT[dialect], (after, through))
        while batch := cursor.fetchmany(BATCH_ROWS):
            yield batch
    finally:
        cursor.close()


_END = object()


def _read_ahead(source: Iterator[list[Sequence[Any]]]) -> Iterator[Sequence[Any]]:
    """The rows, read by a thread of their own a batch or two ahead.

    The driver reads (and the database writes out the content) without holding Python's lock,
    so reading and hashing overlap instead of taking turns.
    """
    ahead: Queue[Any] = Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Hand an item over, unless the walk has stopped (at a broken link) and will take no more."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in source:
                if not offer(batch):
                    return
            offer(_END)
        except Exception as error:  # handed over to the walk, which raises it
            offer(error)
        finally:
            source.close()

    reader = threading.Thread(target=read, name="audit-verify-reader", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, Exception):
                raise item
            yield from item
    finally:
        stop.set()
        reader.join()


def rows(connection: Connection, after: int, through: int) -> Iterator[Sequence[Any]]:
    """The events after position `after` through `through`, read through the connection a batch ahead."""
    dialect = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    return _read_ahead(batches(connection.connection.dbapi_connection, dialect, after, through))
