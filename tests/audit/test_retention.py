"""Retention: `audit prune` removes only events past the period, from the start of the chain, and leaves a
signed checkpoint from which `audit verify` carries on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from index_service.audit import retention
from index_service.audit.events import record_event
from index_service.audit.models import AuditCheckpoint, AuditEvent, AuditTag, CheckpointKind
from index_service.extensions import db
from tests.audit.support import verify_session, write_events


def _old_events(count: int, days_ago: int) -> None:
    for number in range(count):
        record_event(AuditTag.RECORD_VIEW, target_ids=[f"OLD{number}"]).occurred_at = datetime.now(UTC) - timedelta(
            days=days_ago, minutes=number
        )
    db.session.commit()


def test_prune_removes_old_events_and_verify_carries_on_from_its_checkpoint(app: Flask) -> None:
    _old_events(5, days_ago=400)
    write_events(3)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["audit", "prune", "--days", "365", "--dry-run"])
    assert dry.exit_code == 0 and "Would remove 5 events" in dry.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 8
    result = runner.invoke(args=["audit", "prune", "--days", "365"])
    assert result.exit_code == 0, result.output
    assert "Removed 5 events older than 365 days, through position 5" in result.output
    positions = db.session.scalars(select(AuditEvent.chain_position).order_by(AuditEvent.chain_position)).all()
    assert positions == [6, 7, 8, 9]  # the prune's own event joined the chain
    [checkpoint] = db.session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.kind == CheckpointKind.PRUNE))
    assert checkpoint.position == 5 and checkpoint.details["removed"] == 5
    prune_event = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.AUDIT_PRUNE)).one()
    assert prune_event.details["through_position"] == 5
    verified = verify_session()
    assert verified.intact and verified.first_position == 6 and verified.events == 4, verified.broken
    assert "removed by retention" in verified.notes[0]


def test_a_prune_of_several_batches_leaves_one_unbroken_verifiable_chain(app: Flask) -> None:
    _old_events(7, days_ago=400)
    write_events(3)
    # One batch, committed, as the command does it: were the prune stopped here, the chain would verify.
    first = retention.prune(datetime.now(UTC) - timedelta(days=365), limit=3)
    db.session.commit()
    assert first == retention.Pruned(3, 3)
    after_one = verify_session()
    assert after_one.intact and after_one.first_position == 4, after_one.broken
    result = app.test_cli_runner().invoke(args=["audit", "prune", "--days", "365", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "Removed 4 events older than 365 days, through position 7, in 2 batches" in result.output
    prunes = db.session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.kind == CheckpointKind.PRUNE).order_by(AuditCheckpoint.position)
    ).all()
    assert [(c.position, c.details["removed"]) for c in prunes] == [(3, 3), (6, 3), (7, 1)]
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.chain_position)).all()
    assert [e.chain_position for e in events] == [8, 9, 10, 11, 12, 13]  # three kept, and one event a batch
    assert [e.details["through_position"] for e in events if e.tag == AuditTag.AUDIT_PRUNE] == [3, 6, 7]
    verified = verify_session()
    assert verified.intact and verified.first_position == 8 and verified.events == 6, verified.broken


def test_prune_keeps_everything_within_the_period_and_never_breaks_the_chain(app: Flask) -> None:
    write_events(2)
    _old_events(2, days_ago=400)  # old times, but after newer events in the chain: the chain's start is kept
    result = app.test_cli_runner().invoke(args=["audit", "prune", "--days", "365"])
    assert "No events are older than 365 days" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 4
    assert verify_session().intact


def test_the_default_period_is_the_records_retention_plus_six_years(app: Flask) -> None:
    assert app.config["AUDIT_RETENTION_DAYS"] >= (25 + 6 + 6) * 365
    _old_events(1, days_ago=36 * 365)
    result = app.test_cli_runner().invoke(args=["audit", "prune"])
    assert "No events are older than" in result.output


def test_a_delete_past_the_prune_checkpoint_is_still_refused(app: Flask) -> None:
    _old_events(3, days_ago=400)
    write_events(2)
    app.test_cli_runner().invoke(args=["audit", "prune", "--days", "365"])
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text("DELETE FROM audit_events"))


def test_a_forged_prune_checkpoint_does_not_pass_verify(app: Flask) -> None:
    write_events(4)
    db.session.add(AuditCheckpoint(kind=CheckpointKind.PRUNE, position=2, event_hash="0" * 64, signature="0" * 64))
    db.session.execute(sa.text("DELETE FROM audit_events WHERE chain_position <= 2"))  # the trigger now allows it
    result = verify_session()
    assert not result.intact and "forged" in result.broken.problem
