"""Breaking the glass: grant an override, use it for its one view, and have it reviewed by someone else.

Each step writes its audit event in the request's transaction, flushed before anything is
rendered: if the event cannot be written the request fails and shows nothing.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.children.lookup import child_by_index_id, surviving
from index_service.children.models import Child
from index_service.children.present import viewer_for, visible_record
from index_service.database import utcnow
from index_service.extensions import db
from index_service.index_ids import ALPHABET
from index_service.overrides.models import EmergencyOverride
from shielding.policy import (
    OVERRIDE_VALID_FOR,
    REPEAT_WINDOW,
    OverrideOutcome,
    OverrideReason,
    OverrideState,
    override_state,
    repeated,
)

REFERENCE = re.compile(rf"^OVR-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
RECENTLY_REVIEWED = 20


class OverrideError(ValueError):
    """An override action that cannot be done; the message says why."""


def _new_reference() -> str:
    """A random reference for alerts and summaries: it says nothing about the child."""
    while True:
        body = "".join(secrets.choice(ALPHABET) for _ in range(8))
        reference = f"OVR-{body[:4]}-{body[4:]}"
        if not db.session.scalar(select(exists().where(EmergencyOverride.reference == reference))):
            return reference


def grant(
    child: Child, reason: OverrideReason, justification: str, user: User, now: datetime | None = None
) -> EmergencyOverride:
    """Record the override and its audit event; the record itself is shown only by use()."""
    now = now or utcnow()
    override = EmergencyOverride(
        reference=_new_reference(),
        child_id=child.id,
        user_id=user.id,
        organisation_id=user.organisation_id,
        reason=reason,
        justification=justification,
        created_at=now,
        expires_at=now + OVERRIDE_VALID_FOR,
    )
    db.session.add(override)
    db.session.flush()
    record_event(
        AuditTag.SHIELD_OVERRIDE,
        user=user,
        target_ids=[child.index_id],
        reason=reason.value,
        details={
            "reference": override.reference,
            "justification": justification,
            "expires_at": override.expires_at.isoformat(),
        },
    )
    return override


def by_reference(reference: str) -> EmergencyOverride | None:
    reference = reference.strip().upper()
    if not REFERENCE.match(reference):
        return None
    return db.session.scalar(select(EmergencyOverride).where(EmergencyOverride.reference == reference))


@dataclass(frozen=True)
class OverrideView:
    """The outcome of using an override: the whole record once, or the state that stops it."""

    override: EmergencyOverride
    index_id: str
    state: OverrideState
    record: dict[str, Any] | None


def use(override: EmergencyOverride, user: User, now: datetime | None = None) -> OverrideView:
    """The one view: claimed by one conditional UPDATE, so two requests at once cannot both see the record."""
    now = now or utcnow()
    child = surviving(override.child)
    claimed = db.session.execute(
        update(EmergencyOverride)
        .where(
            EmergencyOverride.id == override.id,
            EmergencyOverride.viewed_at.is_(None),
            EmergencyOverride.expires_at > now,
        )
        .values(viewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        db.session.refresh(override)
        state = override_state(override.expires_at, override.viewed_at, now)
        record_event(
            AuditTag.OVERRIDE_VIEW,
            Outcome.DENIED,
            user=user,
            target_ids=[child.index_id],
            details={"reference": override.reference, "why": state.value},
        )
        return OverrideView(override, child.index_id, state, None)
    override.viewed_at = now
    record_event(
        AuditTag.OVERRIDE_VIEW,
        user=user,
        target_ids=[child.index_id],
        reason=override.reason.value,
        details={"reference": override.reference},
    )
    loaded = child_by_index_id(child.index_id)
    if loaded is None:
        raise OverrideError("The record is no longer held.")
    record = visible_record(loaded, replace(viewer_for(user), overriding=True))
    return OverrideView(override, child.index_id, OverrideState.READY, record)


def review(
    override: EmergencyOverride, outcome: OverrideOutcome, note: str, reviewer: User, now: datetime | None = None
) -> None:
    """Close the override as justified, not justified or referred; never by the person who used it."""
    if override.user_id == reviewer.id:
        raise OverrideError("You used this emergency access, so someone else must review it.")
    if override.outcome is not None:
        raise OverrideError("This emergency access has already been reviewed.")
    override.outcome = outcome
    override.review_note = note
    override.reviewed_by_id = reviewer.id
    override.reviewed_at = now or utcnow()
    db.session.flush()
    record_event(
        AuditTag.OVERRIDE_REVIEW,
        user=reviewer,
        target_ids=[surviving(override.child).index_id],
        reason=outcome.value,
        details={"reference": override.reference, "note": note},
    )


@dataclass(frozen=True)
class Listed:
    """An override as auditors list it: a reference and who, never the child; `repeats` counts the user's day."""

    override: EmergencyOverride
    state: OverrideState
    repeats: int

    @property
    def is_repeated(self) -> bool:
        return self.repeats > 1


def _listed(overrides: Sequence[EmergencyOverride], now: datetime) -> list[Listed]:
    if not overrides:
        return []
    times: dict[int, list[datetime]] = defaultdict(list)
    rows = db.session.execute(
        select(EmergencyOverride.user_id, EmergencyOverride.created_at).where(
            EmergencyOverride.user_id.in_({o.user_id for o in overrides}),
            EmergencyOverride.created_at > min(o.created_at for o in overrides) - REPEAT_WINDOW,
            EmergencyOverride.created_at < max(o.created_at for o in overrides) + REPEAT_WINDOW,
        )
    )
    for user_id, created_at in rows:
        times[user_id].append(created_at)
    return [
        Listed(o, override_state(o.expires_at, o.viewed_at, now), repeated(times[o.user_id], o.created_at))
        for o in overrides
    ]


def open_overrides(now: datetime | None = None) -> list[Listed]:
    """Every override not yet reviewed, oldest first."""
    found = db.session.scalars(
        select(EmergencyOverride).where(EmergencyOverride.outcome.is_(None)).order_by(EmergencyOverride.created_at)
    ).all()
    return _listed(found, now or utcnow())


def recently_reviewed(now: datetime | None = None) -> list[Listed]:
    found = db.session.scalars(
        select(EmergencyOverride)
        .where(EmergencyOverride.outcome.is_not(None))
        .order_by(EmergencyOverride.reviewed_at.desc())
        .limit(RECENTLY_REVIEWED)
    ).all()
    return _listed(found, now or utcnow())


def others_by_same_user(override: EmergencyOverride) -> list[EmergencyOverride]:
    """The same person's other overrides within a day either side, for the reviewer to weigh."""
    return list(
        db.session.scalars(
            select(EmergencyOverride)
            .where(
                EmergencyOverride.user_id == override.user_id,
                EmergencyOverride.id != override.id,
                EmergencyOverride.created_at > override.created_at - REPEAT_WINDOW,
                EmergencyOverride.created_at < override.created_at + REPEAT_WINDOW,
            )
            .order_by(EmergencyOverride.created_at)
        )
    )
