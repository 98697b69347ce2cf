"""Route guards as each endpoint declares them: every endpoint declares who may reach it, and
anything undeclared is refused (enforced by index_service/guard_enforcement.py, before every request).

A view is either marked public (sign-in, health check, static files), requires a
permission of a signed-in person (a browser session), or requires an OAuth2 scope of a source
system (a bearer token, never a session). Every blueprint imports these declarations, so they
depend on no feature: only the permissions, the scopes and the audit trail (to refuse a client).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeVar

from flask import Flask, g, request
from werkzeug.exceptions import Forbidden, HTTPException

from accreditation.permissions import Permission
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.scopes import Scope

PUBLIC: Final = "public"
GUARD_ATTRIBUTE = "_child_index_guard"
View = TypeVar("View", bound=Callable[..., Any])

# Endpoints made by extensions, which cannot carry a decorator of ours.
EXTENSION_GUARDS: dict[str, Permission | Scope | str] = {
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


def requires_scope(scope: Scope) -> Callable[[View], View]:
    """For source systems: a bearer token with this scope, whose client and data source are live."""
    if not isinstance(scope, Scope):
        raise TypeError(f"unknown scope {scope!r}")

    def decorate(view: View) -> View:
        setattr(view, GUARD_ATTRIBUTE, scope)
        return view

    return decorate


def guard_for(app: Flask, endpoint: str) -> Permission | Scope | str | None:
    view = app.view_functions.get(endpoint)
    declared = getattr(view, GUARD_ATTRIBUTE, None)
    if declared is None:
        view_class = getattr(view, "view_class", None)
        declared = getattr(view_class, GUARD_ATTRIBUTE, None)
    return declared if declared is not None else EXTENSION_GUARDS.get(endpoint)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def uses_session(app: Flask, endpoint: str | None) -> bool:
    """Whether the endpoint may act on a browser session's cookie (and so needs CSRF defences)."""
    guard = guard_for(app, endpoint) if endpoint else None
    return guard != PUBLIC and not isinstance(guard, Scope)


def refuse_client(message: str, reason: str, *, answer: type[HTTPException] = Forbidden, **details: object) -> NoReturn:
    """A source system asked for something its client may not do: audit it, then answer 403 (or
    `answer`: NotFound where the answer must not tell another's object from a missing one)."""
    client = g.oauth_client
    record_event(
        AuditTag.ACCESS_DENIED,
        Outcome.DENIED,
        reason=reason,
        details={
            "endpoint": request.endpoint,
            "method": request.method,
            "client_id": client.client_id,
            "source_id": client.source_id,
            **details,
        },
        organisation_id=client.source.organisation_id,
    )
    raise answer(message)
