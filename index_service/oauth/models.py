"""OAuth2 clients of source systems and the access tokens issued to them, secrets stored only hashed.

A client secret and an access token are 256-bit random strings, so a plain SHA-256 of each is
enough to keep them useless to anyone who reads the database (no dictionary can guess them),
while a token is still found with one indexed look-up per request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.auth.models import User
from index_service.database import UTCDateTime, utcnow
from index_service.extensions import db
from index_service.scopes import Scope, parse_scopes, scope_text

CLIENT_CREDENTIALS = "client_credentials"
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class OAuthClient(db.Model, ClientMixin):
    """A source system allowed to load into one data source; revoked, it can do nothing more."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # The source is named as a string and typed loosely: sources imports oauth (see sources.models).
    source: Mapped[Any] = relationship("DataSource", lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    @property
    def scopes(self) -> frozenset[Scope]:
        return parse_scopes(self.scope)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    # authlib's ClientMixin: a confidential client of the client credentials grant, and nothing else.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == CLIENT_CREDENTIALS

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in CLIENT_AUTH_METHODS

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self.secret_sha256, sha256_hex(client_secret))

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """All the client's scopes when none is asked for; None (refused) when asking for one it lacks."""
        if not scope:
            return self.scope
        try:
            requested = parse_scopes(scope)
        except ValueError:
            return None
        return scope_text(requested) if requested <= self.scopes else None


class OAuthToken(db.Model):
    """A bearer access token, kept only as its SHA-256."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    oauth_client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    client: Mapped[OAuthClient] = relationship(lazy="joined")

    @property
    def scopes(self) -> frozenset[Scope]:
        return parse_scopes(self.scope)
