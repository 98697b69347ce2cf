"""The line manager's usage summary over plain events: per person and day, UK time, out of hours."""

from __future__ import annotations

from datetime import UTC, date, datetime

from accreditation.usage import UsageEvent, Use, is_out_of_hours, summarise


def test_working_hours_are_uk_time() -> None:
    assert not is_out_of_hours(datetime(2026, 7, 1, 7, 30, tzinfo=UTC))  # 08:30 in summer time
    assert is_out_of_hours(datetime(2026, 12, 1, 7, 30, tzinfo=UTC))  # 07:30 in winter
    assert is_out_of_hours(datetime(2026, 12, 1, 18, 0, tzinfo=UTC))
    assert is_out_of_hours(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))  # a Saturday


def test_uses_are_summed_per_person_and_day() -> None:
    events = [
        UsageEvent(1, datetime(2026, 11, 30, 10, 0, tzinfo=UTC), Use.SEARCH),
        UsageEvent(1, datetime(2026, 11, 30, 10, 1, tzinfo=UTC), Use.VIEW),
        UsageEvent(1, datetime(2026, 11, 30, 22, 0, tzinfo=UTC), Use.SHIELDED_VIEW),
        UsageEvent(1, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), Use.OVERRIDE),
        UsageEvent(3, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), Use.SEARCH),  # not one of the staff: ignored
    ]
    first, second = summarise([1, 2], events)
    assert [day.day for day in first.days] == [date(2026, 11, 30), date(2026, 12, 1)]
    monday = first.days[0]
    assert (monday.searches, monday.views, monday.shielded_views, monday.out_of_hours) == (1, 2, 1, 1)
    assert first.days[1].overrides == 1 and first.total.views == 2 and first.total.overrides == 1
    assert second.user_id == 2 and second.days == []
