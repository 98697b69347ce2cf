"""Checking a bearer token for an endpoint that requires a scope: the token, its client, its source.

Returns the token, or a refusal that says how to answer (401 when there is no usable token,
403 when the token is good but may not do this) and why, for the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from index_service.database import utcnow
from index_service.extensions import db
from index_service.oauth.models import OAuthClient, OAuthToken, sha256_hex
from index_service.scopes import Scope

MAX_TOKEN_LENGTH = 200
ASK_FOR_A_TOKEN = "Send an access token from POST /api/v1/oauth/token as: Authorization: Bearer TOKEN."  # noqa: S105 - a message


@dataclass(frozen=True)
class BearerRefusal:
    status: int
    reason: str
    message: str
    error: str | None = None  # RFC 6750: invalid_token, insufficient_scope; none when no token was sent
    client: OAuthClient | None = None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header; "" when the header is malformed."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > MAX_TOKEN_LENGTH:
        return ""
    return token


def check_bearer(authorization: str | None, scope: Scope, now: datetime | None = None) -> OAuthToken | BearerRefusal:
    """The token this header carries, if it is current and may use `scope`; otherwise why not."""
    raw = bearer_token(authorization)
    if raw is None:
        return BearerRefusal(401, "no token", ASK_FOR_A_TOKEN)
    if raw == "":
        return BearerRefusal(401, "malformed authorization header", ASK_FOR_A_TOKEN, "invalid_token")
    token = db.session.scalar(select(OAuthToken).where(OAuthToken.token_sha256 == sha256_hex(raw)))
    if token is None:
        return BearerRefusal(401, "unknown token", "The access token is not valid.", "invalid_token")
    now = now or utcnow()
    client = token.client
    if token.revoked_at is not None:
        return BearerRefusal(401, "token revoked", "The access token was revoked.", "invalid_token", client)
    if token.expires_at <= now:
        return BearerRefusal(
            401, "token expired", "The access token has expired: ask for a new one.", "invalid_token", client
        )
    if client.is_revoked:
        return BearerRefusal(401, "client revoked", "The client was revoked.", "invalid_token", client)
    if scope.value not in token.scope.split():
        return BearerRefusal(
            403,
            "insufficient scope",
            f"The access token does not have the scope {scope.value}.",
            "insufficient_scope",
            client,
        )
    if not client.source.is_active:
        return BearerRefusal(
            403, "data source inactive", f"The data source {client.source.name!r} is not active.", None, client
        )
    return token
