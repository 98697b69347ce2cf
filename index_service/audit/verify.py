"""Verifying the chain: every event's content against its hash, and every link, from the first kept event to the
head, against the key's signed checkpoints and head.

The events are read as the database writes out their content (`chain_rows`) and walked
(`walking`) in this process, or, given workers, a stretch at a time in worker processes
(`verify_workers`). An event whose text does not match is written out again by
`canonical.content` from its values, and only if that does not match either is it called altered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from index_service.audit import canonical
from index_service.audit.chain import HEAD_ID
from index_service.audit.chain_rows import walk
from index_service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, CheckpointKind
from index_service.audit.verify_workers import STRETCH_EVENTS, stretches, walk_in_workers
from index_service.audit.walking import BrokenLink, Stretch, join
from index_service.database import shareable, sql_dialect


@dataclass
class Verification:
    first_position: int = 0
    last_position: int = 0
    events: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    processes: int = 1
    broken: BrokenLink | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.broken is None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _python_content(connection: Connection, event_id: int) -> str:
    """The slow, sure way: the event's values read through the ORM and written out by `canonical.content`."""
    event = connection.execute(select(AuditEvent).where(AuditEvent.id == event_id)).one()
    return canonical.content([getattr(event, name) for name in canonical.HASHED_NAMES])


def _walked(
    connection: Connection, parts: list[tuple[int, int]], periodic: dict[int, str], processes: int
) -> Iterator[Stretch]:
    """The stretches walked by worker processes, or as one here when there is one process or one stretch."""
    if processes > 1:
        yield from walk_in_workers(connection, parts, periodic, processes, parts[0][0])
    elif parts:
        yield walk(
            connection.connection.dbapi_connection, sql_dialect(connection.dialect), parts[0][0], parts[-1][1], periodic
        )


def verify(
    connection: Connection, key: bytes, *, workers: int = 1, stretch_events: int = STRETCH_EVENTS
) -> Verification:
    """The whole kept chain, its signed checkpoints and its signed head, read in one snapshot.

    With more than one worker, and events enough for more than one stretch, the stretches are
    walked by that many processes; they read committed events only, so the connection should be
    `read_snapshot`'s, as the command's is.
    """
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
        result.broken = BrokenLink(
            head.position + 1,
            None,
            f"a signed checkpoint reaches position "
            f"{checkpoints[-1].position}, beyond the head: the newest events were removed",
        )
        return result
    for checkpoint in checkpoints:
        if not canonical.signature_matches(
            key, checkpoint.kind, checkpoint.position, checkpoint.event_hash, checkpoint.signature
        ):
            result.broken = BrokenLink(
                checkpoint.position, None, f"the {checkpoint.kind} checkpoint's signature is not the key's (forged)"
            )
            return result
    result.checkpoints = len(checkpoints)
    prunes = [c for c in checkpoints if c.kind == CheckpointKind.PRUNE]
    after, previous = (prunes[-1].position, prunes[-1].event_hash) if prunes else (0, canonical.GENESIS_HASH)
    if prunes:
        result.notes.append(f"events up to position {after} were removed by retention (signed checkpoint)")
    periodic = {
        c.position: c.event_hash for c in checkpoints if c.kind == CheckpointKind.PERIODIC and c.position > after
    }
    result.first_position = after + 1
    through = connection.execute(select(func.max(AuditEvent.chain_position))).scalar() or after
    parts = stretches(after, through, stretch_events)
    if len(parts) > 1 and shareable(connection):
        result.processes = min(workers, len(parts))
    with closing(_walked(connection, parts, periodic, result.processes)) as walked:
        last, last_hash, broken = join(walked, after, previous, lambda event_id: _python_content(connection, event_id))
    result.events, result.last_position, result.broken = last - after, last, broken
    if broken is None and last > head.position:
        result.broken = BrokenLink(
            head.position + 1,
            None,
            f"the chain runs on to position {last}, beyond its "
            f"signed head at {head.position}: events were added outside the application",
        )
    elif broken is None and (head.position != last or head.event_hash != last_hash):
        result.broken = BrokenLink(
            last + 1,
            None,
            f"the chain ends at position {last} but its signed head is at "
            f"{head.position}: the newest events were removed",
        )
    result.seconds = time.perf_counter() - started
    return result
