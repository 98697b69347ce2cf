"""The rules of shielding and overrides, as plain data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shielding.policy import (
    OVERRIDE_VALID_FOR,
    OverrideState,
    address_key,
    override_state,
    repeated,
    review_date_problem,
    same_household,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_review_date_is_in_the_future_and_within_a_year() -> None:
    today = date(2026, 11, 26)
    assert review_date_problem(date(2027, 3, 1), today) is None
    assert review_date_problem(today, today) == "The review date must be in the future"
    assert "within a year" in (review_date_problem(date(2028, 1, 1), today) or "")


def test_a_household_is_one_first_line_and_postcode_however_written() -> None:
    assert same_household(("12 Meadow Lane", "LS62AB"), ("12, meadow  lane", "LS62AB"))
    assert not same_household(("12 Meadow Lane", "LS62AB"), ("14 Meadow Lane", "LS62AB"))
    assert not same_household(("12 Meadow Lane", "LS62AB"), ("12 Meadow Lane", "LS62AD"))
    assert not same_household((None, "LS62AB"), (None, "LS62AB")), "no first line: no household"
    assert address_key("Flat 2, 3 High St", None) is None


def test_an_override_shows_once_and_only_until_it_expires() -> None:
    expires = NOW + OVERRIDE_VALID_FOR
    assert override_state(expires, None, NOW) is OverrideState.READY
    assert override_state(expires, NOW, NOW) is OverrideState.USED
    assert override_state(expires, None, expires) is OverrideState.EXPIRED
    assert timedelta(minutes=15) == OVERRIDE_VALID_FOR


def test_repeated_overrides_are_counted_within_a_day_either_side() -> None:
    times = [NOW - timedelta(hours=30), NOW - timedelta(hours=3), NOW, NOW + timedelta(hours=23)]
    assert repeated(times, NOW) == 3
    assert repeated([NOW], NOW) == 1
