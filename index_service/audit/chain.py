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

from typing import Any

from flask import current_app
from sqlalchemy import event, insert, select, update
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


def hashed_values(audit_event: AuditEvent) -> list[Any]:
    return [getattr(audit_event, name) for name in canonical.HASHED_NAMES]


def seal(session: Session, events: list[AuditEvent]) -> None:
    """Give the events the next positions in the chain and their hashes; move the head, signed."""
    head = session.execute(
        select(AuditChainHead.position, AuditChainHead.event_hash).where(AuditChainHead.id == HEAD_ID)
        .with_for_update()
    ).one_or_none()
    if head is None:
        raise RuntimeError("the audit chain has no head row; the database was not made by the migrations")
    position, previous = head
    key = checkpoint_key()
    checkpoints = []
    for audit_event in events:
        position += 1
        audit_event.chain_position = position
        audit_event.previous_hash = previous
        previous = canonical.event_hash(previous, canonical.content(hashed_values(audit_event)))
        audit_event.event_hash = previous
        if position % CHECKPOINT_EVERY == 0:
            checkpoints.append({
                "kind": CheckpointKind.PERIODIC, "position": position, "event_hash": previous,
                "signature": canonical.signature(key, CheckpointKind.PERIODIC, position, previous),
                "created_at": utcnow(), "details": {},
            })
    session.add_all(events)
    session.flush()
    if checkpoints:
        session.execute(insert(AuditCheckpoint), checkpoints)
    session.execute(
        update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
        .values(position=position, event_hash=previous,
                signature=canonical.signature(key, "head", position, previous))
    )


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
