"""Route guards: every endpoint declares who may reach it, and anything undeclared is refused.

A view is either marked public (sign-in, health check, static files) or requires a
permission. The check runs once, before every request, so no handler can forget it; a test
walks the URL map and fails on any endpoint that declares neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from flask import Flask, current_app, flash, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from accreditation.permissions import Permission, is_allowed
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.extensions import db

PUBLIC: Final = "public"
GUARD_ATTRIBUTE = "_child_index_guard"
View = TypeVar("View", bound=Callable[..., Any])

# Endpoints made by extensions, which cannot carry a decorator of ours.
EXTENSION_GUARDS: dict[str, Permission | str] = {
    "static": PUBLIC,
    "api-docs.openapi_json": Permission.SIGNED_IN,
}


def public(view: View) -> View:
    setattr(view, GUARD_ATTRIBUTE, PUBLIC)
    return view


def requires(permission: Permission) -> Callable[[View], View]:
    if not isinstance(permission, Permission):
        raise TypeError(f"unknown permission {permission!r}")

    def decorate(view: View) -> View:
        setattr(view, GUARD_ATTRIBUTE, permission)
        return view

    return decorate


def guard_for(app: Flask, endpoint: str) -> Permission | str | None:
    view = app.view_functions.get(endpoint)
    declared = getattr(view, GUARD_ATTRIBUTE, None)
    if declared is None:
        view_class = getattr(view, "view_class", None)
        declared = getattr(view_class, GUARD_ATTRIBUTE, None)
    return declared if declared is not None else EXTENSION_GUARDS.get(endpoint)


def signed_in_user() -> User | None:
    """The user of a fully signed-in session (password and code), if still allowed in."""
    if not session.get("signed_in"):
        return None
    user = db.session.scalar(select(User).where(User.id == session.get("user_id")))
    if user is None or not user.is_active:
        session.end()  # type: ignore[attr-defined]
        return None
    return user


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def _unauthenticated() -> Response:
    if is_api_request():
        response = jsonify(status=401, message="Sign in with your password and two-factor code first.")
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


def enforce_guard() -> Response | None:
    """Before every request: load the user and apply the endpoint's declared guard."""
    g.user = None
    _note_expired_session()
    if request.endpoint is None:
        return None
    guard = guard_for(current_app, request.endpoint)
    if guard == PUBLIC:
        return None
    g.user = signed_in_user()
    if g.user is None:
        return _unauthenticated()
    if not isinstance(guard, Permission) or not is_allowed(g.user.roles, guard):
        record_event(
            AuditTag.ACCESS_DENIED,
            Outcome.DENIED,
            details={"endpoint": request.endpoint, "method": request.method},
        )
        raise Forbidden("Your role does not allow this.")
    return None
