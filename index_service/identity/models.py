"""An organisation's identity provider, and which of its subjects is which of the organisation's users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from index_service.auth.models import User
from index_service.database import UTCDateTime, utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation


class IdentityProvider(db.Model):
    """One OpenID Connect provider per organisation; its client secret is stored only encrypted.

    `trusts_provider_mfa`: a sign-in whose `amr` claim names a multi-factor method completes
    without the index's own code; otherwise the index's code step follows the provider.
    """

    __tablename__ = "identity_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    trusts_provider_mfa: Mapped[bool] = mapped_column(default=False)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class ProviderIdentity(db.Model):
    """The provider's `sub` for one user of the provider's organisation."""

    __tablename__ = "provider_identities"
    __table_args__ = (
        UniqueConstraint("provider_id", "subject"),
        UniqueConstraint("provider_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_providers.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    provider: Mapped[IdentityProvider] = relationship()
    user: Mapped[User] = relationship(lazy="joined")
