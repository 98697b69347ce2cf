"""People who sign in, their roles, their server-side sessions, failed attempts and recent searches."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accreditation.access import AccessDecision, AccessFacts, AccountStatus, decide_access
from accreditation.permissions import Role, needs_approval
from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db
from index_service.organisation_models import Organisation
from index_service.sealed_secrets import TOTP_KEYS, seal, unseal


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    password_must_change: Mapped[bool] = mapped_column(default=False)
    # The two-factor secret, encrypted (sealed_secrets); none until a token is enrolled.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(300))
    # A secret being enrolled: it takes effect only when the person proves a code from it.
    pending_totp_secret_encrypted: Mapped[str | None] = mapped_column(String(300))
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    token_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_totp_step: Mapped[int | None] = mapped_column(BigInteger)
    is_active: Mapped[bool] = mapped_column(default=True)  # False once the account is closed, for good
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    vetting_reference: Mapped[str | None] = mapped_column(String(60))
    vetting_expires_on: Mapped[date | None] = mapped_column(Date)
    training_completed_on: Mapped[date | None] = mapped_column(Date)
    approved_on: Mapped[date | None] = mapped_column(Date)
    # The outward code of the person's home postcode (LS6), if given: the audit's unusual-use
    # check looks for searches of their own family name in their own district.
    home_postcode_district: Mapped[str | None] = mapped_column(String(4))
    line_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    line_manager: Mapped[User | None] = relationship(remote_side=[id], foreign_keys=[line_manager_id])
    role_grants: Mapped[list[UserRole]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        lazy="selectin",
        foreign_keys="UserRole.user_id",
    )

    @property
    def roles(self) -> frozenset[Role]:
        """The roles in effect: those needing the index team's approval count only once approved."""
        return frozenset(grant.role for grant in self.role_grants if grant.in_effect)

    @property
    def awaiting_approval(self) -> frozenset[Role]:
        return frozenset(grant.role for grant in self.role_grants if not grant.in_effect)

    @property
    def approved_roles(self) -> frozenset[Role]:
        """Roles in effect through the index team's approval: a password reset or a new token suspends them."""
        return frozenset(
            grant.role for grant in self.role_grants if needs_approval(grant.role) and grant.approved_at is not None
        )

    @property
    def suspended_roles(self) -> frozenset[Role]:
        """Roles once approved, suspended by a password reset or a new token until approved again."""
        return frozenset(grant.role for grant in self.role_grants if grant.is_suspended)

    @property
    def totp_secret(self) -> str | None:
        """The enrolled secret, decrypted; only for checking a code (never shown again after enrolment)."""
        return unseal(TOTP_KEYS, self.totp_secret_encrypted) if self.totp_secret_encrypted else None

    @totp_secret.setter
    def totp_secret(self, secret: str | None) -> None:
        self.totp_secret_encrypted = seal(TOTP_KEYS, secret) if secret else None

    @property
    def pending_totp_secret(self) -> str | None:
        return unseal(TOTP_KEYS, self.pending_totp_secret_encrypted) if self.pending_totp_secret_encrypted else None

    @property
    def status(self) -> AccountStatus:
        if not self.is_active:
            return AccountStatus.CLOSED
        return AccountStatus.SUSPENDED if self.suspended_at is not None else AccountStatus.ACTIVE

    def access(self, today: date) -> AccessDecision:
        """Whether this person may use the index today (accreditation/access.py decides)."""
        organisation = self.organisation
        return decide_access(
            AccessFacts(
                organisation_status=organisation.accreditation_status,
                accredited_until=organisation.accredited_until,
                vetting_expires_on=self.vetting_expires_on,
                training_completed_on=self.training_completed_on,
                approved_on=self.approved_on,
                account_status=self.status,
                token_enrolled=self.totp_secret_encrypted is not None,
            ),
            today,
        )


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), primary_key=True)
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # An approval withdrawn because a user administrator reset the person's password or issued them a
    # new token (accounts/operations.py): when, by whom, and which of the two. Cleared on approval.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    suspended_because: Mapped[str | None] = mapped_column(String(40))

    user: Mapped[User] = relationship(back_populates="role_grants", foreign_keys=[user_id])
    suspended_by: Mapped[User | None] = relationship(foreign_keys=[suspended_by_id], lazy="joined")

    @property
    def in_effect(self) -> bool:
        return self.approved_at is not None or not needs_approval(self.role)

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None and not self.in_effect


class RecoveryCode(db.Model):
    """A one-time recovery code, stored only as an argon2 hash and burned on use."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AdminNotice(db.Model):
    """Something a user administrator must know about one of their organisation's users."""

    __tablename__ = "admin_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class UserSession(db.Model):
    """A server-side session; the browser holds only a random id whose hash is stored here."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FailedAttempt(db.Model):
    """One failed password or code, counted per account and per client address."""

    __tablename__ = "failed_attempts"
    __table_args__ = (Index("ix_failed_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecentSearch(db.Model):
    """One search a person ran, kept a day to count against their search limits (children/search_limits.py)."""

    __tablename__ = "recent_searches"
    __table_args__ = (Index("ix_recent_searches_user_id_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
