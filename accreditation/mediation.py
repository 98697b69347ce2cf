"""Mediated access: when an index-team user must say for whom they are acting.

The index team has no children of its own to work with: every lookup it makes answers a
practitioner's request. So a user holding the index-team role may search, view or break the
glass only while acting for a named practitioner and organisation, whose names then go on every
audit event. Other roles' permissions are the person's own work and need no one named.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from accreditation.permissions import Permission, Role

LOOKUPS_ON_BEHALF = frozenset({Permission.RECORD_SEARCH, Permission.RECORD_VIEW, Permission.EMERGENCY_OVERRIDE})


def needs_on_behalf_of(roles: Iterable[Role], permission: Permission) -> bool:
    """Whether using `permission` needs a named practitioner first (the index team's lookups)."""
    return Role.INDEX_TEAM in set(roles) and permission in LOOKUPS_ON_BEHALF


MEDIATED_ACCESS_LASTS = timedelta(hours=1)


def has_lapsed(started_at: datetime, now: datetime) -> bool:
    """An on-behalf-of ends by itself after an hour, so a forgotten one cannot colour the next caller's lookups."""
    return now - started_at >= MEDIATED_ACCESS_LASTS
