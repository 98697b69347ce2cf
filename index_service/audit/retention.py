"""Retention: the one sanctioned removal of audit events, which leaves a signed checkpoint behind.

Events are removed from the start of the chain only, up to the last event before the first
one that is still within the retention period, so the chain kept stays whole. They go a batch
at a time, each batch its own transaction, so that no transaction holds the chain's head (which
every writer waits for) or a huge delete for long. Each batch's checkpoint (written first, in
its transaction) says with the key's signature where the kept chain starts and which hash it
follows; the append-only trigger allows a delete only at or before it, and `audit verify`
carries on from the latest. A prune stopped between batches leaves a whole, verifiable chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select

from index_service.audit import canonical
from index_service.audit.chain import HEAD_ID, checkpoint_key
from index_service.audit.events import record_event
from index_service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditTag, CheckpointKind
from index_service.database import utcnow
from index_service.extensions import db


@dataclass(frozen=True)
class Pruned:
    removed: int
    through_position: int | None


def removable_through(before: datetime) -> tuple[int, int] | None:
    """(first, last) positions of the events that may go: the chain's start, up to the first event kept."""
    first = db.session.scalar(select(func.min(AuditEvent.chain_position)))
    if first is None:
        return None
    position = func.min(AuditEvent.chain_position)
    first_kept = db.session.scalar(select(position).where(AuditEvent.occurred_at >= before))
    last = first_kept - 1 if first_kept is not None else db.session.scalar(select(func.max(AuditEvent.chain_position)))
    return (first, last) if last is not None and last >= first else None


BATCH = 10_000


def prune(before: datetime, *, dry_run: bool = False, limit: int | None = None) -> Pruned:
    """Remove the events older than `before`, at most `limit` of them from the start of the chain (the
    caller commits: one batch a transaction); a signed checkpoint marks the new start."""
    db.session.execute(select(AuditChainHead.id).where(AuditChainHead.id == HEAD_ID).with_for_update())
    span = removable_through(before)
    if span is None:
        return Pruned(0, None)
    first, last = span
    if limit is not None and not dry_run:
        last = min(last, first + limit - 1)
    removed = last - first + 1
    if dry_run:
        return Pruned(removed, last)
    last_hash = db.session.scalar(select(AuditEvent.event_hash).where(AuditEvent.chain_position == last))
    db.session.execute(
        insert(AuditCheckpoint).values(
            kind=CheckpointKind.PRUNE,
            position=last,
            event_hash=last_hash,
            created_at=utcnow(),
            signature=canonical.signature(checkpoint_key(), CheckpointKind.PRUNE, last, last_hash),
            details={"removed": removed, "older_than": canonical.time_text(before)},
        )
    )
    db.session.execute(delete(AuditEvent).where(AuditEvent.chain_position <= last))
    record_event(
        AuditTag.AUDIT_PRUNE,
        details={"removed": removed, "through_position": last, "older_than": canonical.time_text(before)},
    )
    return Pruned(removed, last)
