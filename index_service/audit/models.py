"""Audit events: append-only rows written in the same transaction as the action they record."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from index_service.database import UTCDateTime, utcnow
from index_service.enums import enum_column
from index_service.extensions import db


class AuditTag(StrEnum):
    LOGIN_PASSWORD = "account:login:password"  # noqa: S105 (an event name, not a secret)
    LOGIN_SUCCESS = "account:login:success"
    LOGIN_FAILURE = "account:login:failure"
    LOGOUT = "account:logout"
    SESSION_EXPIRED = "account:session:expired"
    RECORD_SEARCH = "record:search"
    RECORD_VIEW = "record:view"
    ACCESS_DENIED = "access:denied"
    SOURCE_REGISTER = "source:register"
    SOURCE_CHANGE = "source:change"
    LOAD_START = "load:start"
    LOAD_FINISH = "load:finish"
    LOAD_REPORT_VIEW = "load:report:view"
    REVIEW_DECISION = "review:decide"
    RECORD_MERGE = "record:merge"
    RECORD_UNMERGE = "record:unmerge"
    LOAD_SUBMIT = "load:submit"
    OAUTH_CLIENT_REGISTER = "oauth:client:register"
    OAUTH_CLIENT_REVOKE = "oauth:client:revoke"
    OAUTH_TOKEN_ISSUE = "oauth:token:issue"  # noqa: S105 (an event name, not a secret)
    OAUTH_TOKEN_REFUSED = "oauth:token:refused"  # noqa: S105 (an event name, not a secret)
    REAUTH_FAILURE = "account:reauth:failure"
    SHIELD_ADD = "shield:add"
    SHIELD_REMOVE = "shield:remove"
    SHIELD_OVERRIDE = "shield:override"
    OVERRIDE_VIEW = "shield:override:view"
    OVERRIDE_REVIEW = "shield:override:review"
    ACCESS_LAPSED = "account:access:lapsed"
    ACCOUNT_CREATE = "account:create"
    ACCOUNT_CHANGE = "account:change"
    ACCOUNT_SUSPEND = "account:suspend"
    ACCOUNT_REINSTATE = "account:reinstate"
    ACCOUNT_CLOSE = "account:close"
    ACCOUNT_IMPORT = "account:import"
    ROLE_APPROVE = "account:role:approve"
    ROLE_REFUSE = "account:role:refuse"
    PASSWORD_CHANGE = "account:password:change"  # noqa: S105 (an event name, not a secret)
    PASSWORD_RESET = "account:password:reset"  # noqa: S105 (an event name, not a secret)
    TOKEN_ISSUE = "account:token:issue"  # noqa: S105 (an event name, not a secret)
    TOKEN_ENROL = "account:token:enrol"  # noqa: S105 (an event name, not a secret)
    TOKEN_REVOKE = "account:token:revoke"  # noqa: S105 (an event name, not a secret)
    RECOVERY_CODE_USE = "account:recovery:use"
    USAGE_REPORT_VIEW = "account:usage:view"
    ORGANISATION_CREATE = "org:create"
    CRITERION_MET = "org:criterion:met"
    ORGANISATION_ACCREDIT = "org:accredit"
    ORGANISATION_SUSPEND = "org:suspend"
    CRITERIA_CHANGE = "criteria:change"
    MEDIATED_START = "mediated:start"
    MEDIATED_END = "mediated:end"
    IDENTITY_PROVIDER_REGISTER = "idp:register"
    IDENTITY_PROVIDER_CHANGE = "idp:change"
    IDENTITY_LINK = "idp:identity:link"
    IDENTITY_UNLINK = "idp:identity:unlink"
    # Tags stay within the column's 23 characters.
    LOGIN_OIDC_START = "account:oidc:start"
    LOGIN_OIDC = "account:oidc:verified"
    LOGIN_OIDC_REFUSED = "account:oidc:refused"
    AUDIT_REPORT = "audit:report:run"
    AUDIT_EXPORT = "audit:export"
    AUDIT_SUBJECT_ACCESS = "audit:subject-access"
    AUDIT_PRUNE = "audit:prune"
    # A load made, linked, changed or archived this child (target: its index id; details: field names only).
    LOAD_CHANGE = "load:record:change"
    DUPLICATE_SWEEP = "duplicates:sweep"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


# The sign-in failures report's tags. Its index holds only these events, so an ordinary event costs it nothing.
SIGN_IN_FAILURES = (
    AuditTag.LOGIN_FAILURE,
    AuditTag.REAUTH_FAILURE,
    AuditTag.OAUTH_TOKEN_REFUSED,
    AuditTag.LOGIN_OIDC_REFUSED,
)
SIGN_IN_FAILURE_CONDITION = "tag IN (" + ", ".join(f"'{tag.value}'" for tag in SIGN_IN_FAILURES) + ")"
ON_BEHALF_CONDITION = "on_behalf_of_name IS NOT NULL"


def _partial(condition: str) -> dict[str, Any]:
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


class AuditEvent(db.Model):
    """One event, sealed into the hash chain when its transaction commits (see audit/chain.py).

    Every index is written by every event that falls in it, inside the chain's lock; so there
    are only those the reports need, and the two for rare events (sign-in failures, mediated
    access) are partial.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_organisation_id_occurred_at", "organisation_id", "occurred_at"),
        Index("ix_audit_events_sign_in_failures", "chain_position", **_partial(SIGN_IN_FAILURE_CONDITION)),
        Index("ix_audit_events_on_behalf_of", "id", **_partial(ON_BEHALF_CONDITION)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_position: Mapped[int] = mapped_column(BigInteger, unique=True)
    previous_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    tag: Mapped[AuditTag] = mapped_column(enum_column(AuditTag, "audit_tag"))
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome, "audit_outcome"))
    target_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # Mediated access: the practitioner and organisation an index-team user was acting for.
    on_behalf_of_name: Mapped[str | None] = mapped_column(String(200))
    on_behalf_of_organisation: Mapped[str | None] = mapped_column(String(200))
    # The acting person's roles when the event happened (comma-separated role values); None for
    # a source system, and for events written before roles were recorded.
    actor_roles: Mapped[str | None] = mapped_column(String(200))


class CheckpointKind(StrEnum):
    PERIODIC = "periodic"
    PRUNE = "prune"


class AuditChainHead(db.Model):
    """The one row every writer locks for the instant it takes to add its events to the chain.

    It also carries a signature of the last position and hash, so a chain cut short at its end
    (the newest events deleted) is caught even between periodic checkpoints.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    event_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(64))


class AuditCheckpoint(db.Model):
    """A signed statement that the chain reached a position with a hash: periodic, or left by a prune."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_kind_position", "kind", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[CheckpointKind] = mapped_column(enum_column(CheckpointKind, "checkpoint_kind"))
    position: Mapped[int] = mapped_column(BigInteger)
    event_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
