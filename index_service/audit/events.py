"""Writing audit events: in the request's own transaction, so no action goes unrecorded.

The event is flushed at once, so that if it cannot be written the action fails before any
result is rendered, and it is committed with the action or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import g, has_request_context, request

from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.extensions import db


def record_event(
    tag: AuditTag,
    outcome: Outcome = Outcome.SUCCESS,
    *,
    user: User | None = None,
    target_ids: Iterable[str] = (),
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    organisation_id: int | None = None,
) -> AuditEvent:
    """The event, written in the caller's transaction.

    `organisation_id` names the organisation acting when no person is: a source system with a
    token, or a load run from the command line for that organisation's data source.
    """
    actor = user if user is not None else g.get("user")
    # Mediated access (index_service/mediated/): the person the acting user works for, while it lasts.
    behalf = g.get("on_behalf_of") if actor is not None and actor is g.get("user") else None
    event = AuditEvent(
        tag=tag,
        outcome=outcome,
        user_id=actor.id if actor else None,
        organisation_id=actor.organisation_id if actor else organisation_id,
        target_ids=list(target_ids),
        reason=reason,
        details=details or {},
        client_address=request.remote_addr if has_request_context() else None,
        user_agent=request.user_agent.string[:300] if has_request_context() else None,
        on_behalf_of_name=behalf.name if behalf else None,
        on_behalf_of_organisation=behalf.organisation if behalf else None,
    )
    db.session.add(event)
    db.session.flush()
    return event
