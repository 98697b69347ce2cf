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

from flask import current_app
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction

from index_service.audit import canonical
from index_service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, CheckpointKind
from index_service.database import IndexSession, utcnow

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
_EVENTS = AuditEvent.__table__
_HEAD = AuditChainHead.__table__
# Built once: these run inside the lock, where every microsecond is every writer's.
_LOCK_HEAD = select(_HEAD.c.position, _HEAD.c.event_hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_CHECKPOINTS = insert(AuditCheckpoint.__table__)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(
    position=bindparam("new_position"), event_hash=bindparam("new_hash"), signature=bindparam("new_signature"))
# PostgreSQL: the last event's insert and the head's move in one statement (UPDATE in a WITH).
_INSERT_LAST_AND_MOVE_HEAD = insert(_EVENTS).values({name: bindparam(name) for name in COLUMNS}).add_cte(
    _MOVE_HEAD.returning(_HEAD.c.id).cte("moved_head"))


def seal(session: Session, events: list[AuditEvent]) -> None:
    """Give the events the next positions in the chain and their hashes; move the head, signed.

    Written with Core statements on the session's connection: this runs inside the lock, so it
    is kept to two round trips on PostgreSQL (lock the head; insert the events and move the head
    in one statement) and three short statements on SQLite, which has no UPDATE in a WITH.
    """
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD).one_or_none()
    if head is None:
        raise RuntimeError("the audit chain has no head row; the database was not made by the migrations")
    position, previous = head
    key = checkpoint_key()
    rows, checkpoints = [], []
    for audit_event in events:
        position += 1
        audit_event.chain_position = position
        audit_event.previous_hash = previous
        previous = canonical.event_hash(previous, canonical.content(
            [getattr(audit_event, name) for name in canonical.HASHED_NAMES]))
        audit_event.event_hash = previous
        rows.append({name: getattr(audit_event, name) for name in COLUMNS})
        if position % CHECKPOINT_EVERY == 0:
            checkpoints.append({
                "kind": CheckpointKind.PERIODIC, "position": position, "event_hash": previous,
                "signature": canonical.signature(key, CheckpointKind.PERIODIC, position, previous),
                "created_at": utcnow(), "details": {},
            })
    if checkpoints:
        connection.execute(_INSERT_CHECKPOINTS, checkpoints)
    moved = {"new_position": position, "new_hash": previous,
             "new_signature": canonical.signature(key, "head", position, previous)}
    if connection.dialect.name == "postgresql":
        if len(rows) > 1:
            connection.execute(_INSERT_EVENTS, rows[:-1])
        connection.execute(_INSERT_LAST_AND_MOVE_HEAD, {**rows[-1], **moved})
        return
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_MOVE_HEAD, moved)


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
