"""Writing events for the audit tests, and reading the chain back as an auditor's command would."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from index_service.audit import canonical
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.audit.verify import Verification, verify
from index_service.extensions import db
from tests.database import owner_bypass


def write_events(count: int, *, prefix: str = "E", commit_each: bool = True) -> None:
    for number in range(count):
        record_event(
            AuditTag.RECORD_VIEW,
            Outcome.SUCCESS,
            target_ids=[f"{prefix}{number}"],
            reason="case_work",
            details={"n": number, "text": 'Zoë\'s "quoted" note'},
        )
        if commit_each:
            db.session.commit()
    db.session.commit()


def verify_session() -> Verification:
    """Verify through the test's own connection, which sees what the test wrote."""
    return verify(db.session.connection(), current_app.config["AUDIT_CHECKPOINT_KEY"].encode())


def rewrite_chain(connection: sa.Connection, edited_position: int) -> None:
    """One event's reason edited and every hash computed again after it, as someone without the key could."""
    previous = canonical.GENESIS_HASH
    events = AuditEvent.__table__
    with owner_bypass(connection):
        for event in connection.execute(sa.select(events).order_by(events.c.chain_position)).all():
            values = {name: getattr(event, name) for name in canonical.HASHED_NAMES}
            if event.chain_position == edited_position:
                values["reason"] = "rewritten"
            new_hash = canonical.event_hash(previous, canonical.content_of(values))
            connection.execute(
                events.update()
                .where(events.c.id == event.id)
                .values(reason=values["reason"], previous_hash=previous, event_hash=new_hash)
            )
            previous = new_hash
