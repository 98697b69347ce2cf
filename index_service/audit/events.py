"""Writing audit events: in the request's own transaction, so no action goes unrecorded.

The event is checked at once (a bad tag, an over-long reason or details that are not JSON fail
the action there and then) and written by the transaction's commit, where it is sealed into
the hash chain (audit/chain.py). It is committed with the action or not at all; if it cannot
be written, the commit fails and the request shows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from flask import g, has_request_context, request

from index_service.audit import canonical
from index_service.audit.chain import enqueue
from index_service.audit.models import AuditEvent, AuditTag, Outcome
from index_service.database import utcnow
from index_service.extensions import db

REASON_MAX_LENGTH = 100
USER_AGENT_MAX_LENGTH = 300


class Actor(Protocol):
    """Who acts, as an event keeps them (a signed-in user): the trail depends on no feature's model."""

    @property
    def id(self) -> int: ...

    @property
    def organisation_id(self) -> int: ...

    @property
    def roles(self) -> Iterable[str]: ...


def roles_text(roles: Iterable[str]) -> str:
    """Roles as an event keeps them: their values, sorted, comma-separated (a subject access pack
    names the roles a viewer had when they looked, not the roles they have now)."""
    return ",".join(sorted(str(role) for role in roles))


def record_event(
    tag: AuditTag,
    outcome: Outcome = Outcome.SUCCESS,
    *,
    user: Actor | None = None,
    target_ids: Iterable[str] = (),
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    organisation_id: int | None = None,
) -> AuditEvent:
    """The event, written in the caller's transaction.

    `organisation_id` names the organisation acting when no person is: a source system with a
    token, or a load run from the command line for that organisation's data source.
    """
    event = _event(
        tag, outcome, user=user, target_ids=target_ids, reason=reason, details=details, organisation_id=organisation_id
    )
    canonical.json_text(event.details)  # not JSON: fail here, in the action, not at its commit
    enqueue(db.session(), event)
    db.session.flush()  # the action it records is written now, as before any result is rendered
    return event


def record_events(
    tag: AuditTag,
    events: Iterable[tuple[Iterable[str], dict[str, Any]]],
    *,
    user: Actor | None = None,
    organisation_id: int | None = None,
) -> int:
    """Many events of one kind by one actor, each (target ids, details), written in the caller's
    transaction as `record_event` writes one: sealed into the chain at its commit, or not at all.

    For a load's batch, which records an event for each child it changed: who acts is worked out
    once, and nothing is flushed here (the batch's own statements are written together, see
    children.writes). Details that are not JSON fail the commit, and the batch with it. The
    number of events.
    """
    template = _event(tag, Outcome.SUCCESS, user=user, target_ids=(), details=None, organisation_id=organisation_id)
    shared = {name: getattr(template, name) for name in SHARED}
    session = db.session()
    count = 0
    for target_ids, details in events:
        enqueue(
            session,
            AuditEvent(
                occurred_at=utcnow(),
                target_ids=canonical.storable([str(t) for t in target_ids]),
                details=canonical.storable(details),
                **shared,
            ),
        )
        count += 1
    return count


# What the events `record_events` writes together share: all but when, about whom and what.
SHARED = (
    "tag",
    "outcome",
    "user_id",
    "organisation_id",
    "reason",
    "client_address",
    "user_agent",
    "on_behalf_of_name",
    "on_behalf_of_organisation",
    "actor_roles",
)


def _event(
    tag: AuditTag,
    outcome: Outcome,
    *,
    user: Actor | None,
    target_ids: Iterable[str],
    reason: str | None = None,
    details: dict[str, Any] | None,
    organisation_id: int | None,
) -> AuditEvent:
    """The event as it is kept, checked at once (a bad tag or an over-long reason fails the action
    here), with every text as the database can store it."""
    if not isinstance(tag, AuditTag) or not isinstance(outcome, Outcome):
        raise TypeError(f"an audit event needs an AuditTag and an Outcome, not {tag!r} and {outcome!r}")
    if reason is not None and len(reason) > REASON_MAX_LENGTH:
        raise ValueError(f"an audit reason is at most {REASON_MAX_LENGTH} characters")
    user_agent = request.user_agent.string[:USER_AGENT_MAX_LENGTH] if has_request_context() else None
    actor = user if user is not None else g.get("user")
    # Mediated access (index_service/mediated/): the person the acting user works for, while it lasts.
    behalf = g.get("on_behalf_of") if actor is not None and actor is g.get("user") else None
    return AuditEvent(
        occurred_at=utcnow(),
        tag=tag,
        outcome=outcome,
        user_id=actor.id if actor else None,
        organisation_id=actor.organisation_id if actor else organisation_id,
        target_ids=canonical.storable([str(target) for target in target_ids]),
        reason=canonical.storable(reason),
        details=canonical.storable(details or {}),
        client_address=request.remote_addr if has_request_context() else None,
        user_agent=canonical.storable(user_agent),
        on_behalf_of_name=behalf.name if behalf else None,
        on_behalf_of_organisation=behalf.organisation if behalf else None,
        actor_roles=roles_text(actor.roles) if actor else None,
    )
