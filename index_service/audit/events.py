"""Writing audit events: in the request's own transaction, so no action goes unrecorded.

The event is checked at once (a bad tag, an over-long reason or details that are not JSON fail
the action there and then) and written by the transaction's commit, where it is sealed into
the hash chain (audit/chain.py). It is committed with the action or not at all; if it cannot
be written, the commit fails and the request shows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import g, has_request_context, request

from index_service.audit import canonical
from index_service.audit.chain import enqueue
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import utcnow
from index_service.extensions import db

REASON_MAX_LENGTH = 100
USER_AGENT_MAX_LENGTH = 300


def roles_text(roles: Iterable[str]) -> str:
    """Roles as an event keeps them: their values, sorted, comma-separated (a subject access pack
    names the roles a viewer had when they looked, not the roles they have now)."""
    return ",".join(sorted(str(role) for role in roles))


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
    if not isinstance(tag, AuditTag) or not isinstance(outcome, Outcome):
        raise TypeError(f"an audit event needs an AuditTag and an Outcome, not {tag!r} and {outcome!r}")
    if reason is not None and len(reason) > REASON_MAX_LENGTH:
        raise ValueError(f"an audit reason is at most {REASON_MAX_LENGTH} characters")
    user_agent = request.user_agent.string[:USER_AGENT_MAX_LENGTH] if has_request_context() else None
    details = canonical.storable(details or {})
    canonical.json_text(details)  # not JSON: fail here, in the action, not at its commit
    actor = user if user is not None else g.get("user")
    # Mediated access (index_service/mediated/): the person the acting user works for, while it lasts.
    behalf = g.get("on_behalf_of") if actor is not None and actor is g.get("user") else None
    event = AuditEvent(
        occurred_at=utcnow(),
        tag=tag,
        outcome=outcome,
        user_id=actor.id if actor else None,
        organisation_id=actor.organisation_id if actor else organisation_id,
        target_ids=canonical.storable([str(target) for target in target_ids]),
        reason=canonical.storable(reason),
        details=details,
        client_address=request.remote_addr if has_request_context() else None,
        user_agent=canonical.storable(user_agent),
        on_behalf_of_name=behalf.name if behalf else None,
        on_behalf_of_organisation=behalf.organisation if behalf else None,
        actor_roles=roles_text(actor.roles) if actor else None,
    )
    enqueue(db.session(), event)
    db.session.flush()  # the action it records is written now, as before any result is rendered
    return event
