"""The rules of shielding and of the emergency override, as plain data (no Flask, no database).

Shielding: a reason from a fixed list, a note, and a review date not too far ahead, so that no
record stays shielded (or unshielded) by neglect. It follows the household: the children who
share a shielded child's current address are offered for shielding in the same step, or their
records would show where the shielded child lives.

Override: a coded reason and a written justification, one view within a short time, and a
review by someone else; repeated overrides by one person within a day stand out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

OVERRIDE_VALID_FOR = timedelta(minutes=15)
JUSTIFICATION_MIN_LENGTH = 20
NOTE_MAX_LENGTH = 2000
REVIEW_NOTE_MIN_LENGTH = 10
LONGEST_REVIEW_INTERVAL = timedelta(days=366)
REPEAT_WINDOW = timedelta(days=1)


class ShieldReason(StrEnum):
    DOMESTIC_ABUSE = "domestic_abuse"
    WITNESS_PROTECTION = "witness_protection"
    ADOPTION = "adoption"
    FORCED_MARRIAGE = "forced_marriage"
    COURT_ORDER = "court_order"
    OTHER = "other"

    @property
    def label(self) -> str:
        return SHIELD_REASON_LABELS[self]


SHIELD_REASON_LABELS = {
    ShieldReason.DOMESTIC_ABUSE: "Domestic abuse (for example, a refuge placement)",
    ShieldReason.WITNESS_PROTECTION: "Witness protection",
    ShieldReason.ADOPTION: "Adoption placement",
    ShieldReason.FORCED_MARRIAGE: "Risk of forced marriage",
    ShieldReason.COURT_ORDER: "Court order",
    ShieldReason.OTHER: "Other risk of significant harm if the child is found",
}


class ShieldAction(StrEnum):
    SHIELD = "shield"
    UNSHIELD = "unshield"


class OverrideReason(StrEnum):
    IMMEDIATE_RISK = "immediate_risk"
    MISSING_CHILD = "missing_child"
    MEDICAL_EMERGENCY = "medical_emergency"
    POLICE_EMERGENCY = "police_emergency"
    OTHER = "other"

    @property
    def label(self) -> str:
        return OVERRIDE_REASON_LABELS[self]


OVERRIDE_REASON_LABELS = {
    OverrideReason.IMMEDIATE_RISK: "The child is at immediate risk of significant harm",
    OverrideReason.MISSING_CHILD: "The child is missing",
    OverrideReason.MEDICAL_EMERGENCY: "A medical emergency",
    OverrideReason.POLICE_EMERGENCY: "A police emergency",
    OverrideReason.OTHER: "Another emergency (explain in the justification)",
}


class OverrideOutcome(StrEnum):
    JUSTIFIED = "justified"
    NOT_JUSTIFIED = "not_justified"
    REFERRED = "referred"

    @property
    def label(self) -> str:
        return OVERRIDE_OUTCOME_LABELS[self]


OVERRIDE_OUTCOME_LABELS = {
    OverrideOutcome.JUSTIFIED: "Justified",
    OverrideOutcome.NOT_JUSTIFIED: "Not justified",
    OverrideOutcome.REFERRED: "Referred for investigation",
}


class OverrideState(StrEnum):
    READY = "ready"
    USED = "used"
    EXPIRED = "expired"


def review_date_problem(review: date, today: date) -> str | None:
    """Why a shielding review date cannot be used, or None when it can."""
    if review <= today:
        return "The review date must be in the future"
    if review - today > LONGEST_REVIEW_INTERVAL:
        return "The review date must be within a year: shielding is reviewed at least once a year"
    return None


def address_key(line1: str | None, postcode_key: str | None) -> tuple[str, str] | None:
    """The first line and postcode as compared for a household, or None when either is missing."""
    words = re.sub(r"[^0-9a-z]+", " ", (line1 or "").lower()).split()
    if not words or not postcode_key:
        return None
    return " ".join(words), postcode_key


def same_household(first: tuple[str | None, str | None], second: tuple[str | None, str | None]) -> bool:
    """Two current addresses (first line, postcode key) are one household's."""
    key = address_key(*first)
    return key is not None and key == address_key(*second)


def override_state(expires_at: datetime, viewed_at: datetime | None, now: datetime) -> OverrideState:
    """An override shows the record once, and only until it expires."""
    if viewed_at is not None:
        return OverrideState.USED
    if now >= expires_at:
        return OverrideState.EXPIRED
    return OverrideState.READY


def repeated(times: Sequence[datetime], at: datetime) -> int:
    """How many of one person's overrides (times) fall within a day either side of the one at `at`, itself included."""
    return sum(1 for time in times if abs(time - at) < REPEAT_WINDOW)
