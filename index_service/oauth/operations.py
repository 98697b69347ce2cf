"""Registering and revoking source systems' clients, and recording the tokens issued to them.

Plain functions that a command or a page can call; each writes its audit event in the caller's
transaction and never commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.database import utcnow
from index_service.extensions import db
from index_service.oauth.models import OAuthClient, OAuthToken, sha256_hex
from index_service.scopes import Scope, parse_scopes, scope_text


class ClientError(ValueError):
    """A client cannot be registered or revoked as asked; the message says why."""


def client_by_id(client_id: str) -> OAuthClient | None:
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def client_details(client: OAuthClient) -> dict[str, Any]:
    """What the audit trail says about a client: never its secret."""
    return {
        "client_id": client.client_id,
        "source_id": client.source_id,
        "source": client.source.name,
        "organisation_id": client.source.organisation_id,
    }


def register_client(source: Any, scopes: Iterable[Scope | str], user: User | None = None) -> tuple[OAuthClient, str]:
    """A new client for the source (a sources.models.DataSource, typed loosely since sources imports oauth),
    and its secret: shown to the caller once, stored only hashed."""
    try:
        granted = parse_scopes(scopes)
    except ValueError as error:
        raise ClientError(str(error)) from error
    if not granted:
        raise ClientError(f"Give the client at least one scope: {', '.join(Scope)}")
    secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        # Hex, so an id never starts with '-' and reads as an option to `sources client revoke`.
        client_id=secrets.token_hex(16),
        secret_sha256=sha256_hex(secret),
        source=source,
        scope=scope_text(granted),
        created_by=user,
    )
    db.session.add(client)
    db.session.flush()
    record_event(
        AuditTag.OAUTH_CLIENT_REGISTER,
        user=user,
        details={**client_details(client), "scope": client.scope},
        organisation_id=client.source.organisation_id,
    )
    return client, secret


def revoke_client(client: OAuthClient, user: User | None = None) -> None:
    """Revoke the client and every token it holds, at once."""
    if client.is_revoked:
        raise ClientError(f"The client {client.client_id} was already revoked")
    now = utcnow()
    client.revoked_at = now
    client.revoked_by = user
    tokens = db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.oauth_client_id == client.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    record_event(
        AuditTag.OAUTH_CLIENT_REVOKE,
        user=user,
        details={**client_details(client), "tokens_revoked": int(getattr(tokens, "rowcount", 0) or 0)},
        organisation_id=client.source.organisation_id,
    )


def save_token(
    client: OAuthClient, access_token: str, scope: str, expires_in: int, now: datetime | None = None
) -> OAuthToken:
    """Keep the hash of a token just issued, and audit the issue (never the token itself)."""
    now = now or utcnow()
    token = OAuthToken(
        token_sha256=sha256_hex(access_token),
        client=client,
        scope=scope,
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )
    db.session.add(token)
    db.session.flush()
    record_event(
        AuditTag.OAUTH_TOKEN_ISSUE,
        details={
            **client_details(client),
            "scope": scope,
            "token_id": token.id,
            "expires_at": token.expires_at.isoformat(),
        },
        organisation_id=client.source.organisation_id,
    )
    return token
