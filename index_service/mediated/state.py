"""The practitioner an index-team user is acting for: kept in the server-side session while it lasts.

The guard reads it once per request into `g.on_behalf_of`; `record_event` copies its names onto
every audit event of the request, so nothing done on someone's behalf goes without their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import flash, g, jsonify, redirect, request, session, url_for
from werkzeug.wrappers import Response

from accreditation.mediation import has_lapsed
from accreditation.permissions import Permission, is_allowed
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import utcnow

SESSION_KEY = "on_behalf_of"
NEEDED = "Say which practitioner you are acting for before you search or view a record."


@dataclass(frozen=True)
class OnBehalfOf:
    name: str
    organisation: str
    contact: str
    started_at: datetime

    def to_session(self) -> dict[str, str]:
        return {
            "name": self.name,
            "organisation": self.organisation,
            "contact": self.contact,
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_session(cls, data: Any) -> OnBehalfOf | None:
        try:
            return cls(data["name"], data["organisation"], data["contact"], datetime.fromisoformat(data["started_at"]))
        except (KeyError, TypeError, ValueError):
            return None


def acting_for(user: User) -> OnBehalfOf | None:
    """The session's on-behalf-of, if the user may still act for someone and it has not lapsed."""
    if SESSION_KEY not in session:
        return None
    behalf = OnBehalfOf.from_session(session[SESSION_KEY])
    if behalf is None:
        session.pop(SESSION_KEY)
        return None
    if not is_allowed(user.roles, Permission.MEDIATED_ACCESS):
        _end(behalf, user, "role withdrawn")
        return None
    if has_lapsed(behalf.started_at, utcnow()):
        _end(behalf, user, "lapsed")
        flash(
            f"Your mediated access for {behalf.name} ended after an hour. Start it again if the call goes on.", "info"
        )
        return None
    return behalf


def begin(user: User, name: str, organisation: str, contact: str) -> OnBehalfOf:
    """Act for a practitioner from now on; any earlier on-behalf-of ends first."""
    previous = g.get("on_behalf_of")
    if previous is not None:
        _end(previous, user, "replaced")
    behalf = OnBehalfOf(name, organisation, contact, utcnow())
    session[SESSION_KEY] = behalf.to_session()
    g.on_behalf_of = behalf
    record_event(AuditTag.MEDIATED_START, user=user, details={"contact": contact})
    return behalf


def end(user: User) -> OnBehalfOf | None:
    """Stop acting for anyone; the end event still carries the names."""
    behalf = g.get("on_behalf_of")
    if behalf is not None:
        _end(behalf, user, "ended")
    return behalf


def _end(behalf: OnBehalfOf, user: User, why: str) -> None:
    g.on_behalf_of = behalf
    minutes = int((utcnow() - behalf.started_at).total_seconds() // 60)
    record_event(AuditTag.MEDIATED_END, user=user, reason=why, details={"contact": behalf.contact, "minutes": minutes})
    g.on_behalf_of = None
    session.pop(SESSION_KEY, None)


def ask_whom_for() -> Response:
    """An index-team lookup with no one named: refused and audited; pages go to the form."""
    record_event(
        AuditTag.ACCESS_DENIED,
        Outcome.DENIED,
        details={"endpoint": request.endpoint, "method": request.method, "why": "no on-behalf-of"},
    )
    if request.path.startswith("/api/"):
        response = jsonify(status=403, message=NEEDED + " Start mediated access at /mediated-access.")
        response.status_code = 403
        return response
    flash(NEEDED, "info")
    return redirect(url_for("mediated.start"))
