"""Writing events for the audit tests, and reading the chain back as an auditor's command would."""

from __future__ import annotations

from flask import current_app

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.audit.verify import Verification, verify
from index_service.extensions import db


def write_events(count: int, *, prefix: str = "E", commit_each: bool = True) -> None:
    for number in range(count):
        record_event(AuditTag.RECORD_VIEW, Outcome.SUCCESS, target_ids=[f"{prefix}{number}"],
                     reason="case_work", details={"n": number, "text": "Zoë's \"quoted\" note"})
        if commit_each:
            db.session.commit()
    db.session.commit()


def verify_session() -> Verification:
    """Verify through the test's own connection, which sees what the test wrote."""
    return verify(db.session.connection(), current_app.config["AUDIT_CHECKPOINT_KEY"].encode())
