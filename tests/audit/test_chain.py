"""The hash chain: sealed at commit, one sequence, verified whole, and every kind of tampering caught."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from index_service.audit import canonical
from index_service.audit.chain import CHECKPOINT_EVERY, pending
from index_service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditTag, CheckpointKind
from index_service.extensions import db
from tests.audit.support import rewrite_chain, verify_session, write_events
from tests.database import owner_bypass


def _positions() -> list[int]:
    return list(db.session.scalars(select(AuditEvent.chain_position).order_by(AuditEvent.chain_position)))


def test_events_are_sealed_at_commit_in_one_unbroken_sequence(app: Flask) -> None:
    write_events(5)
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.chain_position)).all()
    assert [e.chain_position for e in events] == [1, 2, 3, 4, 5]
    assert events[0].previous_hash == canonical.GENESIS_HASH
    assert all(later.previous_hash == earlier.event_hash for earlier, later in zip(events, events[1:], strict=False))
    head = db.session.get(AuditChainHead, 1)
    assert (head.position, head.event_hash) == (5, events[-1].event_hash)
    result = verify_session()
    assert result.intact and result.events == 5 and result.last_position == 5, result.broken


def test_the_hash_covers_every_listed_field_in_canonical_json(app: Flask) -> None:
    write_events(1)
    event = db.session.scalars(select(AuditEvent)).one()
    text = canonical.content([getattr(event, name) for name in canonical.HASHED_NAMES])
    assert text.startswith('{"chain_position":1,') and '"tag":"record:view"' in text
    assert '"details":{"n":0,"text":"Zoë\'s \\"quoted\\" note"}' in text
    assert '"user_id"' not in text  # None is left out, so a nullable column added later changes no old hash
    assert canonical.event_hash(event.previous_hash, text) == event.event_hash


def test_a_rolled_back_transaction_leaves_no_event_and_no_gap(app: Flask) -> None:
    write_events(2)
    from index_service.audit.events import record_event

    record_event(AuditTag.RECORD_SEARCH)
    assert len(pending(db.session())) == 1
    db.session.rollback()
    assert pending(db.session()) == []
    write_events(1)
    assert _positions() == [1, 2, 3]
    assert verify_session().intact


def test_a_periodic_checkpoint_is_signed_every_so_many_events(app: Flask) -> None:
    write_events(CHECKPOINT_EVERY + 1, commit_each=False)
    [checkpoint] = db.session.scalars(select(AuditCheckpoint)).all()
    assert checkpoint.kind is CheckpointKind.PERIODIC and checkpoint.position == CHECKPOINT_EVERY
    at = db.session.scalar(select(AuditEvent.event_hash).where(AuditEvent.chain_position == CHECKPOINT_EVERY))
    key = app.config["AUDIT_CHECKPOINT_KEY"].encode()
    assert checkpoint.event_hash == at
    assert canonical.signature_matches(key, "periodic", CHECKPOINT_EVERY, at, checkpoint.signature)
    assert not canonical.signature_matches(b"another key" * 4, "periodic", CHECKPOINT_EVERY, at, checkpoint.signature)
    assert verify_session().intact


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'nothing to see' WHERE chain_position = 2",
        "DELETE FROM audit_events WHERE chain_position = 2",
        "UPDATE audit_checkpoints SET position = 1",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_application_cannot_update_or_delete_audit_rows(app: Flask, statement: str) -> None:
    write_events(CHECKPOINT_EVERY, commit_each=False)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(statement))
    assert len(_positions()) == CHECKPOINT_EVERY


def _tamper(*statements: str, **params: object) -> None:
    connection = db.session.connection()
    with owner_bypass(connection):
        for statement in statements:
            connection.execute(sa.text(statement), params)


def _broken_at() -> tuple[int | None, str]:
    result = verify_session()
    assert not result.intact, "verify missed the tampering"
    return result.broken.position, result.broken.problem


def test_an_edited_event_is_caught(app: Flask) -> None:
    write_events(6)
    _tamper("UPDATE audit_events SET reason = 'safeguarding' WHERE chain_position = 4")
    assert _broken_at() == (4, "its content does not match its hash: the event was altered")


def test_edited_details_or_targets_or_time_are_caught(app: Flask) -> None:
    for column, value in (("details", '{"n":1,"text":"other"}'), ("target_ids", '["E9"]'), ("user_agent", "curl/8")):
        write_events(3)
        position = max(_positions()) - 1
        _tamper(
            f"UPDATE audit_events SET {column} = :value WHERE chain_position = :position",  # noqa: S608
            value=value,
            position=position,
        )
        assert _broken_at()[0] == position, column
        db.session.rollback()


def test_a_moved_time_is_caught(app: Flask) -> None:
    write_events(3)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.chain_position == 2)).one()
    earlier = event.occurred_at.replace(year=event.occurred_at.year - 1)
    events = AuditEvent.__table__
    connection = db.session.connection()
    with owner_bypass(connection):
        connection.execute(events.update().where(events.c.chain_position == 2).values(occurred_at=earlier))
    assert _broken_at()[0] == 2


def test_a_deleted_event_is_caught(app: Flask) -> None:
    write_events(6)
    _tamper("DELETE FROM audit_events WHERE chain_position = 3")
    position, problem = _broken_at()
    assert position == 4 and "3 to 3 are missing" in problem


def test_deleting_the_newest_events_is_caught(app: Flask) -> None:
    write_events(6)
    _tamper("DELETE FROM audit_events WHERE chain_position > 4")
    position, problem = _broken_at()
    assert position == 5 and "newest events were removed" in problem


def test_an_event_inserted_in_the_middle_is_caught(app: Flask) -> None:
    write_events(6)
    before = db.session.scalars(select(AuditEvent).where(AuditEvent.chain_position == 3)).one()
    forged = {name: getattr(before, name) for name in canonical.HASHED_NAMES}
    forged.update(chain_position=4, reason="forged")
    forged_hash = canonical.event_hash(before.event_hash, canonical.content_of(forged))
    _tamper(
        "UPDATE audit_events SET chain_position = -chain_position WHERE chain_position > 3",
        "UPDATE audit_events SET chain_position = 1 - chain_position WHERE chain_position < 0",
    )
    events = AuditEvent.__table__
    connection = db.session.connection()
    with owner_bypass(connection):
        connection.execute(events.insert().values(**forged, previous_hash=before.event_hash, event_hash=forged_hash))
    position, problem = _broken_at()
    assert position == 5 and "does not follow" in problem


def test_an_event_added_after_the_head_is_caught(app: Flask) -> None:
    write_events(3)
    last = db.session.scalars(select(AuditEvent).where(AuditEvent.chain_position == 3)).one()
    forged = {name: getattr(last, name) for name in canonical.HASHED_NAMES}
    forged.update(chain_position=4)
    events = AuditEvent.__table__
    db.session.execute(
        events.insert().values(
            **forged,
            previous_hash=last.event_hash,
            event_hash=canonical.event_hash(last.event_hash, canonical.content_of(forged)),
        )
    )
    position, problem = _broken_at()
    assert position == 4 and "beyond its signed head" in problem


def test_reordered_events_are_caught(app: Flask) -> None:
    write_events(6)
    _tamper(
        "UPDATE audit_events SET chain_position = -1 WHERE chain_position = 3",
        "UPDATE audit_events SET chain_position = 3 WHERE chain_position = 4",
        "UPDATE audit_events SET chain_position = 4 WHERE chain_position = -1",
    )
    position, problem = _broken_at()
    assert position == 3 and "does not follow" in problem


def test_a_rewritten_chain_is_caught_by_its_signed_checkpoint(app: Flask) -> None:
    """Someone who recomputes every hash after an edit still cannot sign the checkpoint nor the head."""
    write_events(CHECKPOINT_EVERY + 2, commit_each=False)
    rewrite_chain(db.session.connection(), 10)
    position, problem = _broken_at()
    assert position == CHECKPOINT_EVERY and "signed checkpoint" in problem


def test_a_forged_checkpoint_or_head_is_caught(app: Flask) -> None:
    write_events(3)
    signed = db.session.get(AuditChainHead, 1).signature
    db.session.execute(sa.update(AuditChainHead).values(signature="0" * 64))
    assert "head's signature" in _broken_at()[1]
    db.session.execute(sa.update(AuditChainHead).values(signature=signed))
    assert verify_session().intact
    db.session.add(AuditCheckpoint(kind=CheckpointKind.PRUNE, position=2, event_hash="0" * 64, signature="1" * 64))
    db.session.flush()
    assert "forged" in _broken_at()[1]


def test_the_triggers_survive_every_migration(app: Flask) -> None:
    """A later migration that rebuilds audit_events on SQLite must make the triggers again."""
    write_events(1)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text("UPDATE audit_events SET reason = 'x'"))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_the_database_writes_out_the_same_content_as_python(app: Flask) -> None:
    """verify's fast path: the text the database builds is exactly canonical.content's, tricky values too.

    PostgreSQL only quotes a text with no quote or backslash in it, so a control character there
    comes out unescaped: such an event is written out again by Python, and verify still passes it.
    """
    from index_service.audit.chain_rows import batches
    from index_service.audit.events import record_event
    from index_service.audit.models import Outcome

    tricky = [
        "plain",
        'quote " and \\ backslash',
        "tab\tnewline\nreturn\r",
        "control \x01\x1f",
        "Zoë 😀 ‘curly’",
        "</script>",
        "",
    ]
    for text in tricky:
        record_event(
            AuditTag.LOGIN_FAILURE,
            Outcome.DENIED,
            reason=text[:100],
            target_ids=[text],
            details={"email": text, "nested": {"b": [1, 2.5, None, True], "a": text}},
        )
    db.session.commit()
    connection = db.session.connection()
    dialect = connection.dialect.name
    written = [
        row for batch in batches(connection.connection.dbapi_connection, dialect, 0, len(tricky)) for row in batch
    ]
    events = {e.id: e for e in db.session.scalars(select(AuditEvent))}
    assert len(written) == len(tricky)
    differ = set()
    for _position, text, _previous, _hash, event_id in written:
        event = events[event_id]
        if text != canonical.content([getattr(event, name) for name in canonical.HASHED_NAMES]):
            differ.add(event.reason)
    assert differ == ({"tab\tnewline\nreturn\r", "control \x01\x1f"} if dialect == "postgresql" else set())
    result = verify_session()
    assert result.intact and result.events == len(tricky), result.broken
