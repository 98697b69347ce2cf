"""The access decision: may this person use the index at this moment, and if not, every reason why.

One function decides, over plain data, so that sign-in and every request ask the same question
and a check that lapses ends access at that moment. Dates are whole days: a vetting check or an
accreditation that expires on a day no longer counts from the start of that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class AccreditationStatus(StrEnum):
    """An organisation's standing; an accreditation past its expiry date is treated as expired."""

    PENDING = "pending"
    ACCREDITED = "accredited"
    SUSPENDED = "suspended"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Refusal(StrEnum):
    """Why access is refused; the value is the message the person is shown."""

    ORGANISATION_NOT_ACCREDITED = "Your organisation is not accredited to use the Child Index."
    ORGANISATION_SUSPENDED = "Your organisation's accreditation is suspended."
    ORGANISATION_EXPIRED = "Your organisation's accreditation has expired."
    VETTING_MISSING = "No enhanced vetting check is recorded for you."
    VETTING_EXPIRED = "Your enhanced vetting check has expired."
    TRAINING_INCOMPLETE = "Your Child Index training is not recorded as complete."
    NOT_APPROVED = "Your manager has not approved your access."
    ACCOUNT_SUSPENDED = "Your account is suspended."
    ACCOUNT_CLOSED = "Your account is closed."
    NO_TOKEN = "You have no two-factor token enrolled."  # noqa: S105 (a message, not a secret)

    @property
    def code(self) -> str:
        return self.name.lower()

    @property
    def about_them(self) -> str:
        """The reason as told to their administrator."""
        return ABOUT_THEM[self]


ABOUT_THEM = {
    Refusal.ORGANISATION_NOT_ACCREDITED: "Their organisation is not accredited to use the Child Index.",
    Refusal.ORGANISATION_SUSPENDED: "Their organisation's accreditation is suspended.",
    Refusal.ORGANISATION_EXPIRED: "Their organisation's accreditation has expired.",
    Refusal.VETTING_MISSING: "No enhanced vetting check is recorded.",
    Refusal.VETTING_EXPIRED: "Their enhanced vetting check has expired.",
    Refusal.TRAINING_INCOMPLETE: "Their training is not recorded as complete.",
    Refusal.NOT_APPROVED: "Their manager's approval is not recorded.",
    Refusal.ACCOUNT_SUSPENDED: "The account is suspended.",
    Refusal.ACCOUNT_CLOSED: "The account is closed.",
    Refusal.NO_TOKEN: "No two-factor token is enrolled.",
}


@dataclass(frozen=True)
class AccessFacts:
    """What the decision needs to know about a person and their organisation, as plain values."""

    organisation_status: AccreditationStatus
    accredited_until: date | None
    vetting_expires_on: date | None
    training_completed_on: date | None
    approved_on: date | None
    account_status: AccountStatus
    token_enrolled: bool


@dataclass(frozen=True)
class AccessDecision:
    reasons: tuple[Refusal, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def allowed_but_for(self, *waived: Refusal) -> bool:
        """Whether only the waived reasons stand in the way (sign-in enrols a missing token, for one)."""
        return set(self.reasons) <= set(waived)

    @property
    def message(self) -> str:
        return " ".join(reason.value for reason in self.reasons)


def organisation_refusal(status: AccreditationStatus, accredited_until: date | None, today: date) -> Refusal | None:
    """Why the organisation's staff may not use the index today, if they may not."""
    if status is AccreditationStatus.SUSPENDED:
        return Refusal.ORGANISATION_SUSPENDED
    if status is not AccreditationStatus.ACCREDITED or accredited_until is None:
        return Refusal.ORGANISATION_NOT_ACCREDITED
    if accredited_until <= today:
        return Refusal.ORGANISATION_EXPIRED
    return None


def decide_access(facts: AccessFacts, today: date) -> AccessDecision:
    """Every reason this person may not use the index today; none means they may."""
    reasons: list[Refusal] = []
    organisation = organisation_refusal(facts.organisation_status, facts.accredited_until, today)
    if organisation is not None:
        reasons.append(organisation)
    if facts.account_status is AccountStatus.CLOSED:
        reasons.append(Refusal.ACCOUNT_CLOSED)
    elif facts.account_status is AccountStatus.SUSPENDED:
        reasons.append(Refusal.ACCOUNT_SUSPENDED)
    if facts.vetting_expires_on is None:
        reasons.append(Refusal.VETTING_MISSING)
    elif facts.vetting_expires_on <= today:
        reasons.append(Refusal.VETTING_EXPIRED)
    if facts.training_completed_on is None or facts.training_completed_on > today:
        reasons.append(Refusal.TRAINING_INCOMPLETE)
    if facts.approved_on is None or facts.approved_on > today:
        reasons.append(Refusal.NOT_APPROVED)
    if not facts.token_enrolled:
        reasons.append(Refusal.NO_TOKEN)
    return AccessDecision(tuple(reasons))
