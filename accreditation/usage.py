"""A line manager's view of how their staff use the index, summed per person and day from audit events.

Plain data in, plain data out: the web layer reads the events and shows the rows. Out of hours
means before 08:00 or from 18:00 on a weekday, or any time at a weekend, in UK time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
WORKING_HOURS = (8, 18)


class Use(StrEnum):
    SEARCH = "search"
    VIEW = "view"
    SHIELDED_VIEW = "shielded view"
    OVERRIDE = "override"


@dataclass(frozen=True)
class UsageEvent:
    user_id: int
    at: datetime
    use: Use


@dataclass
class DayUsage:
    day: date
    searches: int = 0
    views: int = 0
    shielded_views: int = 0
    overrides: int = 0
    out_of_hours: int = 0


@dataclass
class PersonUsage:
    user_id: int
    days: list[DayUsage] = field(default_factory=list)

    @property
    def total(self) -> DayUsage:
        whole = DayUsage(date.min)
        for day in self.days:
            whole.searches += day.searches
            whole.views += day.views
            whole.shielded_views += day.shielded_views
            whole.overrides += day.overrides
            whole.out_of_hours += day.out_of_hours
        return whole


def is_out_of_hours(at: datetime) -> bool:
    local = at.astimezone(UK)
    return local.weekday() >= 5 or not WORKING_HOURS[0] <= local.hour < WORKING_HOURS[1]


def summarise(user_ids: Iterable[int], events: Iterable[UsageEvent]) -> list[PersonUsage]:
    """One entry per person (in the order given, even with no use), each with their days in order."""
    by_person: dict[int, dict[date, DayUsage]] = {user_id: {} for user_id in user_ids}
    for event in events:
        days = by_person.get(event.user_id)
        if days is None:
            continue
        day = event.at.astimezone(UK).date()
        usage = days.setdefault(day, DayUsage(day))
        if event.use is Use.SEARCH:
            usage.searches += 1
        elif event.use is Use.OVERRIDE:
            usage.overrides += 1
        else:
            usage.views += 1
            usage.shielded_views += event.use is Use.SHIELDED_VIEW
        usage.out_of_hours += is_out_of_hours(event.at)
    grouped: defaultdict[int, list[DayUsage]] = defaultdict(list)
    for user_id, days in by_person.items():
        grouped[user_id] = [days[day] for day in sorted(days)]
    return [PersonUsage(user_id, grouped[user_id]) for user_id in by_person]
