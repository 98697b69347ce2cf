"""Sealing events into one hash chain as their transaction commits, with the chain locked for an instant.

`record_event` only queues the event on the session. Just before the commit, once everything
else the transaction wrote has been flushed, the one row of `audit_chain_head` is locked
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite the BEGIN IMMEDIATE write lock already
serialises writers), the queued events take the next positions with their hashes, and the head
moves on, signed. So concurrent writers still make one unbroken sequence, yet a search holds the
lock only while its commit writes, never while it searches. If sealing fails, the commit
fails and the action with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from flask import current_app
from sqlalchemy import event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction

from index_service.audit import canonical
from index_service.audit.models import AuditCheckpoint, AuditEvent, CheckpointKind
from index_service.database import IndexSession, sql_dialect, utcnow

PENDING = "audit_events_pending"
HEAD_ID = 1
CHECKPOINT_EVERY = 1000


def enqueue(session: Session, audit_event: AuditEvent) -> None:
    """Queue the event on the session's transaction (begun now if need be, so a rollback takes it too)."""
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(PENDING, []).append(audit_event)


def pending(session: Session) -> list[AuditEvent]:
    """Events recorded in this transaction and not yet sealed (they are written by the commit)."""
    return list(session.info.get(PENDING, []))


def checkpoint_key() -> bytes:
    return current_app.config["AUDIT_CHECKPOINT_KEY"].encode()


COLUMNS = tuple(column.key for column in AuditEvent.__table__.columns if column.key != "id")
_JSON_COLUMNS = frozenset(("target_ids", "details"))
_INSERT_CHECKPOINTS = insert(AuditCheckpoint.__table__)


def _statements(dialect: str) -> tuple[str, str, str]:
    """(lock the head, insert one event, move the head) as the driver's own SQL, for a dialect.

    Written once per dialect from the table's columns: these run inside the lock, where every
    microsecond is every writer's, so they skip SQLAlchemy's compiling and binding (about a
    tenth of a millisecond a statement) and go straight to the driver.
    """
    mark = "%s" if dialect == "postgresql" else "?"
    values = ", ".join(
        f"CAST({mark} AS JSON)" if dialect == "postgresql" and name in _JSON_COLUMNS else mark for name in COLUMNS
    )
    # Only the model's column names and the driver's placeholders are written into these; values are bound.
    lock = f"SELECT position, event_hash FROM audit_chain_head WHERE id = {HEAD_ID}"  # noqa: S608
    move = (
        f"UPDATE audit_chain_head SET position = {mark}, event_hash = {mark}, signature = {mark} "  # noqa: S608
        f"WHERE id = {HEAD_ID}"
    )
    insert_event = f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({values})"  # noqa: S608
    if dialect == "postgresql":
        # The head locked for the transaction; the last event's insert and the head's move in one round trip.
        return lock + " FOR UPDATE", insert_event, f"WITH moved AS ({move} RETURNING id) {insert_event}"
    return lock, insert_event, move


_SQL = {dialect: _statements(dialect) for dialect in ("postgresql", "sqlite")}


def _row(audit_event: AuditEvent, json_texts: dict[str, str], dialect: str) -> list[Any]:
    """The event's values as the driver takes them: JSON as its canonical text (hashed as it is stored),
    enums as their values, and on SQLite times as the text SQLAlchemy stores (what `audit verify` reads)."""
    row: list[Any] = []
    for name in COLUMNS:
        value = json_texts[name] if name in json_texts else getattr(audit_event, name)
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetimes are not stored; use utcnow()")
            value = value.astimezone(UTC)
            if dialect != "postgresql":
                value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        row.append(value)
    return row


def seal(session: Session, events: list[AuditEvent]) -> None:
    """Give the events the next positions in the chain and their hashes; move the head, signed.

    Runs inside the lock, so it is kept short: two round trips on PostgreSQL (lock the head;
    insert the events and move the head in one statement), three statements on SQLite, which
    has no UPDATE in a WITH but no round trips either.
    """
    connection = session.connection()
    dialect = connection.dialect
    raw = connection.connection.dbapi_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        checkpoints = _seal_with(cursor, events, sql_dialect(dialect))
    except dialect.loaded_dbapi.Error as error:
        # Raised as SQLAlchemy would have raised it, so the request's commit fails the usual way (503).
        disconnected = dialect.is_disconnect(error, raw, cursor)
        if disconnected:
            connection.invalidate(error)
        raise DBAPIError.instance(
            None, None, error, dialect.loaded_dbapi.Error, connection_invalidated=disconnected, dialect=dialect
        ) from error
    finally:
        cursor.close()
    if checkpoints:
        connection.execute(_INSERT_CHECKPOINTS, checkpoints)


def _seal_with(cursor: Any, events: list[AuditEvent], dialect: str) -> list[dict[str, Any]]:
    """The chain's statements, on the driver's cursor; the periodic checkpoints that fall due, to be written."""
    lock, insert_event, move = _SQL[dialect]
    cursor.execute(lock)
    head = cursor.fetchone()
    if head is None:
        raise RuntimeError("the audit chain has no head row; the database was not made by the migrations")
    position, previous = head
    key = checkpoint_key()
    rows, checkpoints = [], []
    for audit_event in events:
        position += 1
        audit_event.chain_position = position
        audit_event.previous_hash = previous
        json_texts = {name: canonical.json_text(getattr(audit_event, name)) for name in _JSON_COLUMNS}
        previous = canonical.event_hash(
            previous,
            canonical.content(
                [
                    json_texts[name] if name in json_texts else getattr(audit_event, name)
                    for name in canonical.HASHED_NAMES
                ]
            ),
        )
        audit_event.event_hash = previous
        rows.append(_row(audit_event, json_texts, dialect))
        if position % CHECKPOINT_EVERY == 0:
            checkpoints.append(
                {
                    "kind": CheckpointKind.PERIODIC,
                    "position": position,
                    "event_hash": previous,
                    "signature": canonical.signature(key, CheckpointKind.PERIODIC, position, previous),
                    "created_at": utcnow(),
                    "details": {},
                }
            )
    head_values = [position, previous, canonical.signature(key, "head", position, previous)]
    if len(rows) > 1:
        cursor.executemany(insert_event, rows[:-1])
    if dialect == "postgresql":
        cursor.execute(move, head_values + rows[-1])
    else:
        cursor.execute(insert_event, rows[-1])
        cursor.execute(move, head_values)
    return checkpoints


@event.listens_for(IndexSession, "before_commit")
def _seal_before_commit(session: Session) -> None:
    events = session.info.pop(PENDING, None)
    if not events:
        return
    session.flush()  # the rest of the transaction first, so the chain is locked only for its own writes
    seal(session, events)


@event.listens_for(IndexSession, "after_transaction_end")
def _forget_unsealed(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without its commit takes its events with it (a savepoint's do not)."""
    if transaction.parent is None and not transaction.nested:
        session.info.pop(PENDING, None)
