"""Walking the chain: every event's content against its hash, and every link, from the first kept event to the head.

Read straight from the database driver, a batch of plain tuples at a time, because an
auditor runs this over tens of millions of events: the database writes out each event's
canonical content (JSON as stored, times as UTC ISO text) and Python only hashes and links.
An event whose text does not match is written out again by `canonical.content` from its
values, and only if that does not match either is it called altered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from queue import Full, Queue
from typing import Any

from sqlalchemy import Connection, select

from index_service.audit import canonical
from index_service.audit.chain import HEAD_ID
from index_service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, CheckpointKind

BATCH_ROWS = 20_000


@dataclass(frozen=True)
class BrokenLink:
    position: int | None
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "the chain"
        event = f" (event id {self.event_id})" if self.event_id is not None else ""
        return f"{where}{event}: {self.problem}"


@dataclass
class Verification:
    first_position: int = 0
    last_position: int = 0
    events: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    broken: BrokenLink | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.broken is None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _value_sql(name: str, kind: canonical.Kind, dialect: str) -> str:
    """A hashed column as the text `canonical.content` writes for it."""
    postgresql = dialect == "postgresql"
    if kind is canonical.Kind.TIME:
        text = (f"to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')" if postgresql
                else f"replace({name}, ' ', 'T')")
        return f"'\"' || {text} || '\"'"
    if kind is canonical.Kind.JSON:
        return f"CAST({name} AS TEXT)"
    if kind is canonical.Kind.TEXT:
        return f"to_json({name})::text" if postgresql else f"json_quote({name})"
    return f"CAST({name} AS TEXT)"


def _content_sql(dialect: str) -> str:
    """The event's canonical content, written out by the database itself from `HASHED_FIELDS`.

    The database does in C what `canonical.content` does in Python, so that verifying is mostly
    reading and hashing; an event whose text differs from Python's (an escaping the two write
    differently) is written again by Python before anything is said about it.
    """
    parts = [f"',{canonical.json_text(name)}:' || {_value_sql(name, kind, dialect)}"
             for name, kind in sorted(canonical.HASHED_FIELDS)]
    if dialect == "postgresql":
        # concat() builds the text once (a chain of || copies it at each step) and leaves out a null field.
        return "concat('{', substr(concat(" + ", ".join(parts) + "), 2), '}')"
    # SQLite's json_quote(NULL) is the text null, so a null field is left out by a CASE.
    parts = [f"CASE WHEN {name} IS NULL THEN '' ELSE {part} END" if AuditEvent.__table__.c[name].nullable else part
             for part, (name, _) in zip(parts, sorted(canonical.HASHED_FIELDS), strict=True)]
    return "'{' || substr(" + " || ".join(parts) + ", 2) || '}'"


def _select_sql(dialect: str) -> str:
    placeholder = "%s" if dialect == "postgresql" else "?"
    # Column names come from HASHED_FIELDS, never from input; the one value is a bound parameter.
    selected = ", ".join(["chain_position", _content_sql(dialect), "previous_hash", "event_hash", "id"])
    return f"SELECT {selected} FROM audit_events WHERE chain_position > {placeholder} ORDER BY chain_position"  # noqa: S608


def _python_content(connection: Connection, event_id: int) -> str:
    """The slow, sure way: the event's values read through the ORM and written out by `canonical.content`."""
    event = connection.execute(select(AuditEvent).where(AuditEvent.id == event_id)).one()
    return canonical.content([getattr(event, name) for name in canonical.HASHED_NAMES])


def _batches(connection: Connection, after: int) -> Iterator[list[Sequence[Any]]]:
    dialect = connection.dialect.name
    raw: Any = connection.connection.dbapi_connection
    cursor = raw.cursor(name="audit_verify") if dialect == "postgresql" else raw.cursor()
    if dialect == "postgresql":
        cursor.itersize = BATCH_ROWS
    try:
        cursor.execute(_select_sql(dialect), (after,))
        while batch := cursor.fetchmany(BATCH_ROWS):
            yield batch
    finally:
        cursor.close()


_END = object()


def _read_ahead(batches: Iterator[list[Sequence[Any]]]) -> Iterator[Sequence[Any]]:
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
            for batch in batches:
                if not offer(batch):
                    return
            offer(_END)
        except Exception as error:  # handed over to the walk, which raises it
            offer(error)
        finally:
            batches.close()

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


def _rows(connection: Connection, after: int) -> Iterator[Sequence[Any]]:
    return _read_ahead(_batches(connection, after))


def walk(rows: Iterable[Sequence[Any]], after: int, previous: str, checkpoints: dict[int, str],
         recheck: Callable[[int], str]) -> tuple[int, int, str, BrokenLink | None]:
    """(events checked, last position, last hash, first broken link) for rows in chain order.

    Each row is (position, content, previous hash, hash, id); `recheck` gives an event's content
    as Python writes it, asked for only when the database's text does not match the hash.
    """
    sha256 = hashlib.sha256
    expected = after + 1
    count = 0
    for position, text, previous_hash, stored_hash, event_id in rows:
        if position != expected:
            problem = (f"expected position {expected}; events {expected} to {position - 1} are missing (removed)"
                       if position > expected else f"position {position} appears again (an event was inserted)")
            return count, expected - 1, previous, BrokenLink(position, event_id, problem)
        if previous_hash != previous:
            return count, expected - 1, previous, BrokenLink(
                position, event_id, "does not follow the event before it: an event was removed, inserted or "
                "reordered, or this link was edited")
        if sha256((previous_hash + text).encode()).hexdigest() != stored_hash and \
                canonical.event_hash(previous_hash, recheck(event_id)) != stored_hash:
            return count, expected - 1, previous, BrokenLink(
                position, event_id, "its content does not match its hash: the event was altered")
        if position in checkpoints and checkpoints[position] != stored_hash:
            return count, expected - 1, previous, BrokenLink(
                position, event_id, "a signed checkpoint holds another hash for this position: the chain "
                "was rewritten from here or before")
        previous = stored_hash
        expected += 1
        count += 1
    return count, expected - 1, previous, None


def verify(connection: Connection, key: bytes) -> Verification:
    """The whole kept chain, its signed checkpoints and its signed head, read in one snapshot."""
    started = time.perf_counter()
    result = Verification()
    # One snapshot (see read_snapshot): the head, its checkpoints and the events agree unless tampered with.
    checkpoints = connection.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.position)).all()
    head = connection.execute(select(AuditChainHead).where(AuditChainHead.id == HEAD_ID)).one_or_none()
    if head is None:
        result.broken = BrokenLink(None, None, "the chain head is missing")
        return result
    if not canonical.signature_matches(key, "head", head.position, head.event_hash, head.signature):
        result.broken = BrokenLink(head.position, None, "the chain head's signature is not the key's (forged)")
        return result
    if checkpoints and checkpoints[-1].position > head.position:
        result.broken = BrokenLink(head.position + 1, None, f"a signed checkpoint reaches position "
                                   f"{checkpoints[-1].position}, beyond the head: the newest events were removed")
        return result
    for checkpoint in checkpoints:
        if not canonical.signature_matches(key, checkpoint.kind, checkpoint.position, checkpoint.event_hash,
                                           checkpoint.signature):
            result.broken = BrokenLink(checkpoint.position, None,
                                       f"the {checkpoint.kind} checkpoint's signature is not the key's (forged)")
            return result
    result.checkpoints = len(checkpoints)
    prunes = [c for c in checkpoints if c.kind == CheckpointKind.PRUNE]
    after, previous = (prunes[-1].position, prunes[-1].event_hash) if prunes else (0, canonical.GENESIS_HASH)
    if prunes:
        result.notes.append(f"events up to position {after} were removed by retention (signed checkpoint)")
    periodic = {c.position: c.event_hash for c in checkpoints
                if c.kind == CheckpointKind.PERIODIC and c.position > after}
    result.first_position = after + 1
    count, last, last_hash, broken = walk(_rows(connection, after), after, previous, periodic,
                                          lambda event_id: _python_content(connection, event_id))
    result.events, result.last_position, result.broken = count, last, broken
    if broken is None and last > head.position:
        result.broken = BrokenLink(head.position + 1, None, f"the chain runs on to position {last}, beyond its "
                                   f"signed head at {head.position}: events were added outside the application")
    elif broken is None and (head.position != last or head.event_hash != last_hash):
        result.broken = BrokenLink(last + 1, None, f"the chain ends at position {last} but its signed head is at "
                                   f"{head.position}: the newest events were removed")
    result.seconds = time.perf_counter() - started
    return result
