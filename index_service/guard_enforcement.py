"""Enforcing the route guards (index_service/guards.py): every endpoint declares who may reach it,
and anything undeclared is refused.

The check runs once, before every request, so no handler can forget it; a test walks the URL map
and fails on any endpoint that declares none. It needs the signed-in user, mediated access and
the source systems' bearer tokens, which the declarations (imported by every blueprint) do not.
"""

from __future__ import annotations

from flask import current_app, flash, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from accreditation.mediation import needs_on_behalf_of
from accreditation.permissions import Permission, is_allowed
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.database import utc_today
from index_service.extensions import db
from index_service.guards import PUBLIC, guard_for, is_api_request
from index_service.mediated.state import acting_for, ask_whom_for
from index_service.oauth.bearer import BearerRefusal, check_bearer
from index_service.scopes import Scope

# Where a user who must choose a new password may still go.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout"})


def signed_in_user() -> User | None:
    """The user of a fully signed-in session (password and code), if still allowed in.

    The access decision runs on every request, so a vetting check or accreditation that lapses,
    or an account suspended, ends the session at that moment, with the reasons shown and audited.
    """
    if not session.get("signed_in"):
        return None
    user = db.session.scalar(select(User).where(User.id == session.get("user_id")))
    if user is None or not user.is_active:
        session.end()  # type: ignore[attr-defined]
        return None
    decision = user.access(utc_today())
    if not decision.allowed:
        record_event(
            AuditTag.ACCESS_LAPSED,
            Outcome.DENIED,
            user=user,
            reason="access lapsed",
            details={"reasons": [reason.code for reason in decision.reasons], "endpoint": request.endpoint},
        )
        session.end()  # type: ignore[attr-defined]
        g.access_refusal = "You have been signed out. " + decision.message + " Contact your user administrator."
        if not is_api_request():
            flash(g.access_refusal, "info")
        return None
    return user


def _unauthenticated() -> Response:
    if is_api_request():
        message = g.get("access_refusal") or "Sign in with your password and two-factor code first."
        response = jsonify(status=401, message=message)
        response.status_code = 401
        return response
    return redirect(url_for("auth.login"))


def _note_expired_session() -> None:
    expired_user_id = getattr(session, "expired_user_id", None)
    if expired_user_id is None:
        return
    user = db.session.get(User, expired_user_id)
    record_event(AuditTag.SESSION_EXPIRED, user=user)
    flash("You were signed out because you were inactive or signed in for too long. Sign in again.", "info")


def _bearer_refused(refusal: BearerRefusal) -> Response:
    client = refusal.client
    record_event(
        AuditTag.ACCESS_DENIED,
        Outcome.DENIED,
        reason=refusal.reason,
        details={
            "endpoint": request.endpoint,
            "method": request.method,
            "status": refusal.status,
            "client_id": client.client_id if client else None,
            "source_id": client.source_id if client else None,
        },
    )
    response = jsonify(status=refusal.status, message=refusal.message)
    response.status_code = refusal.status
    challenge = 'Bearer realm="child-index"'
    if refusal.error:
        description = refusal.message.replace('"', "'")
        challenge += f', error="{refusal.error}", error_description="{description}"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def _enforce_scope(scope: Scope) -> Response | None:
    """A source system's endpoint: a bearer token alone, whatever session cookie came with it."""
    checked = check_bearer(request.headers.get("Authorization"), scope)
    if isinstance(checked, BearerRefusal):
        return _bearer_refused(checked)
    g.oauth_token = checked
    g.oauth_client = checked.client
    return None


def enforce_guard() -> Response | None:
    """Before every request: load the user and apply the endpoint's declared guard.

    SIGNED_IN asks only that: someone signed in with both factors and allowed in by the access
    decision, whatever roles they hold in effect. So a person whose every role waits for the index
    team's approval (newly created, or suspended by a password reset) can still change their
    password, read why and sign out.
    """
    g.user = None
    g.on_behalf_of = None
    g.oauth_client = None
    guard = guard_for(current_app, request.endpoint) if request.endpoint else None
    if isinstance(guard, Scope):
        return _enforce_scope(guard)  # a source system: its session cookie, if any, is neither used nor noted
    _note_expired_session()
    if request.endpoint is None:
        return None
    if guard == PUBLIC:
        return None
    g.user = signed_in_user()
    if g.user is None:
        return _unauthenticated()
    g.on_behalf_of = acting_for(g.user)
    if g.user.password_must_change and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        if is_api_request():
            response = jsonify(status=403, message="Change your password at /account/password first.")
            response.status_code = 403
            return response
        return redirect(url_for("auth.change_password"))
    if not isinstance(guard, Permission) or not (guard is Permission.SIGNED_IN or is_allowed(g.user.roles, guard)):
        record_event(
            AuditTag.ACCESS_DENIED,
            Outcome.DENIED,
            details={"endpoint": request.endpoint, "method": request.method},
        )
        raise Forbidden("Your role does not allow this.")
    if needs_on_behalf_of(g.user.roles, guard) and g.on_behalf_of is None:
        return ask_whom_for()
    return None
