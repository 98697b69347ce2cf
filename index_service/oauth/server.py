"""The token endpoint: POST /api/v1/oauth/token, client credentials only, with authlib.

A source system authenticates with its client id and secret (HTTP Basic or in the form) and
gets a bearer token for an hour. Errors are authlib's JSON (invalid_client, invalid_scope,
unsupported_grant_type...), and every refusal is audited. A client that is unknown, revoked (or
of an inactive source) or sent the wrong secret gets one and the same answer (CLIENT_REFUSED), so
the token endpoint never tells a caller which client ids exist. The endpoint is public in the guard's
sense because it authenticates the client itself; it never opens a browser session.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Flask, current_app, jsonify, request
from flask_smorest import Api
from sqlalchemy import select
from werkzeug.wrappers import Response

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.operations import clear_failures, client_key, is_client_locked, record_client_failure
from index_service.extensions import db
from index_service.guards import public
from index_service.oauth import operations
from index_service.oauth.models import CLIENT_AUTH_METHODS, CLIENT_CREDENTIALS, OAuthClient
from index_service.request_input import ApiBlueprint
from index_service.scopes import SCOPES

EXTENSION = "child_index_oauth"
SECURITY_SCHEME = "source_system"
ACCESS_TOKEN_SECONDS = 3600
CLIENT_LOCKED = (
    "Too many refused client secrets for this client or from this address. Wait 15 minutes and try "
    "again; a data administrator can register a new client if the secret is lost."
)
TOKEN_URL = "/api/v1/oauth/token"  # noqa: S105 - a path, not a secret
# authlib says "does not exist" for an unknown or revoked client and "cannot authenticate" for a wrong
# secret: an oracle for which client ids exist. Every invalid_client gets this instead.
CLIENT_REFUSED = (
    "The client id and secret were not accepted. Check both; if the secret is lost or the "
    "client revoked, ask a data administrator to register a new client."
)

blueprint = ApiBlueprint(
    "oauth",
    __name__,
    url_prefix="/api/v1/oauth",
    description="Access tokens for source systems (OAuth2 client credentials)",
)


class SourceClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(CLIENT_AUTH_METHODS)


class SourceAuthorizationServer(AuthorizationServer):
    """authlib's server, answering every failed client authentication alike: invalid_client, 401."""

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        if isinstance(error, InvalidClientError):
            # 401 with WWW-Authenticate: Basic whatever method was tried (RFC 6749 section 5.2 allows it
            # and requires it for Basic), so neither the status nor the header tells the cases apart.
            error = InvalidClientError(status_code=401, description=CLIENT_REFUSED)
        return super().handle_error_response(request, error)  # type: ignore[no-any-return]


def _query_client(client_id: str) -> OAuthClient | None:
    """A client that may be issued tokens: not revoked, its data source active."""
    return db.session.scalar(
        select(OAuthClient).where(
            OAuthClient.client_id == client_id,
            OAuthClient.revoked_at.is_(None),
            OAuthClient.source.has(is_active=True),
        )
    )


def _save_token(token: dict[str, Any], oauth_request: OAuth2Request) -> None:
    client = oauth_request.client
    assert isinstance(client, OAuthClient)
    operations.save_token(client, token["access_token"], token.get("scope", ""), int(token["expires_in"]))


def init_oauth(app: Flask, api: Api) -> None:
    """Give the app its authorization server, and the API docs the security scheme of source systems."""
    server = SourceAuthorizationServer(query_client=_query_client, save_token=_save_token)
    seconds = int(app.config.get("OAUTH_TOKEN_SECONDS", ACCESS_TOKEN_SECONDS))
    server.load_config(
        {
            "OAUTH2_TOKEN_EXPIRES_IN": {CLIENT_CREDENTIALS: seconds},
            "OAUTH2_SCOPES_SUPPORTED": [scope.value for scope in SCOPES],
        }
    )
    server.register_grant(SourceClientCredentials)
    app.extensions[EXTENSION] = server
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "oauth2",
            "description": "A source system's client, registered by a data administrator for one data source.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": TOKEN_URL,
                    "scopes": {scope.value: text for scope, text in SCOPES.items()},
                }
            },
        },
    )


def _claimed_client_id() -> str | None:
    client_id, _secret = extract_basic_authorization(request.headers)
    return client_id or request.form.get("client_id") or None


@blueprint.route("/token", methods=["POST"])
@blueprint.doc(
    security=[],
    requestBody={
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": [CLIENT_CREDENTIALS]},
                        "scope": {
                            "type": "string",
                            "description": "Space-separated; all the client's scopes when omitted",
                        },
                        "client_id": {"type": "string", "description": "client_secret_post only"},
                        "client_secret": {"type": "string", "description": "client_secret_post only"},
                    },
                }
            }
        },
    },
    responses={
        "200": {"description": "An access token: access_token, token_type Bearer, expires_in, scope"},
        "400": {"description": "OAuth2 error: invalid_request, invalid_scope, unsupported_grant_type"},
        "401": {
            "description": "OAuth2 error invalid_client, the same for an unknown client, a revoked one and a "
            "wrong secret"
        },
        "429": {
            "description": "Too many refused secrets for this client, or failures from this address, in the "
            "lockout window: temporarily_unavailable, with Retry-After"
        },
    },
)
@public
def issue_token() -> Response:
    """Trade a client's id and secret for a bearer token (client_secret_basic or client_secret_post)."""
    server: AuthorizationServer = current_app.extensions[EXTENSION]
    claimed = _claimed_client_id()
    if is_client_locked(claimed, request.remote_addr):
        response = jsonify({"error": "temporarily_unavailable", "error_description": CLIENT_LOCKED})
        response.status_code = 429
        response.headers["Retry-After"] = str(60 * current_app.config["LOCKOUT_WINDOW_MINUTES"])
    else:
        response = server.create_token_response()
    if response.status_code == 200 and claimed:
        clear_failures(client_key(claimed))
    elif response.status_code != 200:
        body = response.get_json(silent=True) or {}
        if body.get("error") == "invalid_client":
            record_client_failure(claimed, request.remote_addr)
        record_event(
            AuditTag.OAUTH_TOKEN_REFUSED,
            Outcome.DENIED,
            details={
                "client_id": (claimed or "")[:64] or None,
                "error": body.get("error"),
                "grant_type": (request.form.get("grant_type") or "")[:40] or None,
                "scope": (request.form.get("scope") or "")[:200] or None,
            },
        )
    return response
