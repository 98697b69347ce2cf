"""Verify in worker processes, a stretch of the chain each, finds exactly what one walk finds, for every kind of
tampering, wherever it falls against the stretches' ends; and the workers read the verifier's snapshot."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from index_service.audit import canonical, retention
from index_service.audit.chain import CHECKPOINT_EVERY
from index_service.audit.models import AuditEvent
from index_service.audit.verify import Verification, verify
from index_service.audit.verify_workers import VerificationStopped, stretches, walk_in_workers
from index_service.database import read_snapshot, utcnow
from index_service.extensions import db
from tests.audit.support import rewrite_chain, write_events
from tests.database import owner_bypass

EVENTS = 12


def _verified(app: Flask, workers: int, stretch_events: int) -> Verification:
    with db.engine.connect() as connection:
        return verify(
            read_snapshot(connection),
            app.config["AUDIT_CHECKPOINT_KEY"].encode(),
            workers=workers,
            stretch_events=stretch_events,
        )


def _found(result: Verification) -> tuple[object, ...]:
    return result.events, result.first_position, result.last_position, result.broken


def _same_in_workers(app: Flask, *sizes: int) -> Verification:
    """The one walk's verdict, after checking that workers with stretches of each size give it too."""
    alone = _verified(app, 1, 1)
    assert alone.processes == 1
    for size in sizes:
        together = _verified(app, 2, size)
        assert together.processes == 2 and _found(together) == _found(alone), size
    return alone


def _tamper(*statements: str, **params: object) -> None:
    with db.engine.begin() as connection, owner_bypass(connection):
        for statement in statements:
            connection.execute(sa.text(statement), params)


def _forged_after(position: int, new_position: int, reason: str) -> dict[str, object]:
    """An event that follows the one at `position`, hashed as the application would have."""
    before = db.session.scalars(select(AuditEvent).where(AuditEvent.chain_position == position)).one()
    forged = {name: getattr(before, name) for name in canonical.HASHED_NAMES}
    forged.update(chain_position=new_position, reason=reason)
    previous = before.event_hash
    db.session.rollback()  # no transaction left open to hold SQLite's write lock
    digest = canonical.event_hash(previous, canonical.content_of(forged))
    return {**forged, "previous_hash": previous, "event_hash": digest}


def _insert(values: dict[str, object]) -> None:
    with db.engine.begin() as connection, owner_bypass(connection):
        connection.execute(AuditEvent.__table__.insert().values(**values))


def test_an_intact_chain_is_walked_whole_by_the_workers(committed_app: Flask) -> None:
    write_events(EVENTS)
    result = _same_in_workers(committed_app, 1, 2, 5, EVENTS - 1)
    assert result.intact and result.events == EVENTS


TAMPERING = {
    "an edit": ("UPDATE audit_events SET reason = 'safeguarding' WHERE chain_position = 7",),
    "a deletion inside a stretch": ("DELETE FROM audit_events WHERE chain_position = 5",),
    "a deletion at a stretch's start": ("DELETE FROM audit_events WHERE chain_position = 4",),
    "a deletion at a stretch's end": ("DELETE FROM audit_events WHERE chain_position = 3",),
    "a whole stretch deleted": ("DELETE FROM audit_events WHERE chain_position BETWEEN 4 AND 6",),
    "the newest deleted": ("DELETE FROM audit_events WHERE chain_position > 10",),
    "the first deleted": ("DELETE FROM audit_events WHERE chain_position = 1",),
    "a reordering across stretches": (
        "UPDATE audit_events SET chain_position = -1 WHERE chain_position = 3",
        "UPDATE audit_events SET chain_position = 3 WHERE chain_position = 4",
        "UPDATE audit_events SET chain_position = 4 WHERE chain_position = -1",
    ),
    "an edited link": ("UPDATE audit_events SET previous_hash = event_hash WHERE chain_position = 9",),
}


@pytest.mark.parametrize("statements", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_is_found_where_one_walk_finds_it(committed_app: Flask, statements: tuple[str, ...]) -> None:
    write_events(EVENTS)
    _tamper(*statements)
    assert not _same_in_workers(committed_app, 1, 2, 3, 5).intact


def test_an_event_inserted_in_the_middle_or_after_the_head_is_found_as_one_walk_finds_it(committed_app: Flask) -> None:
    write_events(EVENTS)
    forged = _forged_after(EVENTS, EVENTS + 1, "forged")
    _insert(forged)
    assert "beyond its signed head" in _same_in_workers(committed_app, 1, 3, 5).broken.problem
    _tamper("DELETE FROM audit_events WHERE chain_position = :position", position=EVENTS + 1)
    forged = _forged_after(6, 7, "forged")
    _tamper(
        "UPDATE audit_events SET chain_position = -chain_position WHERE chain_position > 6",
        "UPDATE audit_events SET chain_position = 1 - chain_position WHERE chain_position < 0",
    )
    _insert(forged)
    broken = _same_in_workers(committed_app, 1, 2, 3, 6).broken
    assert broken.position == 8 and "does not follow" in broken.problem


def test_json_the_database_writes_otherwise_is_written_again_by_python_and_passes(committed_app: Flask) -> None:
    """The stored JSON spaced out (as a dump and restore might): the database's text no longer matches, the
    values still do."""
    write_events(EVENTS)
    _tamper("UPDATE audit_events SET target_ids = '[ \"E4\" ]' WHERE chain_position = 5")
    assert _same_in_workers(committed_app, 1, 2, 5).intact
    _tamper("UPDATE audit_events SET target_ids = '[ \"E9\" ]' WHERE chain_position = 5")
    broken = _same_in_workers(committed_app, 1, 2, 5).broken
    assert broken.position == 5 and "altered" in broken.problem


def test_a_rewritten_chain_is_found_by_its_signed_checkpoint_in_a_worker(committed_app: Flask) -> None:
    write_events(CHECKPOINT_EVERY + 2, commit_each=False)
    with db.engine.begin() as connection:
        rewrite_chain(connection, 10)
    broken = _same_in_workers(committed_app, 100, 999, 1000).broken
    assert broken.position == CHECKPOINT_EVERY and "signed checkpoint" in broken.problem


def test_a_pruned_chain_is_walked_from_its_prune_checkpoint(committed_app: Flask) -> None:
    write_events(EVENTS)
    retention.prune(utcnow() + timedelta(days=1), limit=5)
    db.session.commit()
    result = _same_in_workers(committed_app, 1, 3)
    assert result.intact and result.first_position == 6 and result.notes


def test_workers_read_the_verifiers_snapshot_or_stop_when_the_chain_was_pruned_meanwhile(committed_app: Flask) -> None:
    """PostgreSQL's workers share the verifier's snapshot; SQLite's take their own, so a prune between the two
    would make a stretch look short, and the verification stops instead of calling the chain broken."""
    write_events(EVENTS)
    with db.engine.connect() as connection:
        snapshot = read_snapshot(connection)
        snapshot.execute(select(AuditEvent.id).limit(1)).all()  # the verifier's snapshot begins
        retention.prune(utcnow() + timedelta(days=1), limit=5)
        db.session.commit()
        walked = walk_in_workers(snapshot, stretches(0, EVENTS, 4), {}, 2, 0)
        if connection.dialect.name == "postgresql":
            assert [stretch.first[0] for stretch in walked] == [1, 5, 9]
        else:
            with pytest.raises(VerificationStopped, match="pruned while it was being verified"):
                list(walked)


def test_a_worker_that_cannot_read_stops_the_verification_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        path.unlink()
        with pytest.raises(VerificationStopped, match="a worker process stopped"):
            list(walk_in_workers(connection, stretches(0, 4, 2), {}, 2, 0))
    engine.dispose()
