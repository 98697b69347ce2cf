"""Auditors' reports over the audit trail: by child, user and organisation, failed sign-ins, unusual use.

Each report is a page of events (newest first) or a list of findings, read with the filters
the auditor gave. Running one and exporting one are themselves audited (by the views).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Select, func, select

from accreditation.permissions import Role
from index_service.audit.models import SIGN_IN_FAILURES, AuditEvent, AuditTag, Outcome
from index_service.auth.models import User
from index_service.children.lookup import surviving
from index_service.children.models import Address, Child
from index_service.extensions import db
from index_service.organisation_models import Organisation
from index_service.paging import page_count
from matching.normalise import name_tokens, postcode_area

PAGE_SIZE = 50
LOCAL_TIME = ZoneInfo("Europe/London")
LOOKUPS = (AuditTag.RECORD_SEARCH, AuditTag.RECORD_VIEW)
VIEWS = (AuditTag.RECORD_VIEW, AuditTag.OVERRIDE_VIEW)
# A user's lookups in a day are unusual at this many times their own median day over the previous
# HISTORY_DAYS, or their organisation's other users' median day, and at least VOLUME_FLOOR; or at
# the configured ceiling (UNUSUAL_LOOKUPS_PER_DAY) whatever their norms.
VOLUME_FACTOR = 3
VOLUME_FLOOR = 20
HISTORY_DAYS = 28
# Their work is to look at shielded records: their views of them are not unusual.
SHIELDED_WORK = frozenset({Role.SHIELDER.value, Role.AUDITOR.value})
UNUSUAL_DEFAULT_DAYS = 7
CHART_DEFAULT_DAYS = 30
CHART_MAX_DAYS = 366


@dataclass(frozen=True)
class Filters:
    """The auditor's date range (whole days, UTC, both ends included) and page."""

    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    def bounds(self, default_days: int | None = None) -> tuple[datetime | None, datetime | None]:
        start = self.date_from
        if start is None and default_days is not None:
            start = (self.date_to or datetime.now(UTC).date()) - timedelta(days=default_days - 1)
        return (
            datetime.combine(start, time.min, UTC) if start else None,
            datetime.combine(self.date_to + timedelta(days=1), time.min, UTC) if self.date_to else None,
        )

    def as_details(self) -> dict[str, Any]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "page": self.page,
        }


@dataclass(frozen=True)
class EventLine:
    id: int
    position: int
    occurred_at: datetime
    tag: str
    outcome: str
    user_id: int | None
    user_name: str | None
    user_email: str | None
    organisation_id: int | None
    organisation: str | None
    reason: str | None
    target_ids: list[str]
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any]
    actor_roles: str | None


@dataclass
class EventPage:
    lines: list[EventLine]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Finding:
    kind: str
    user_id: int | None
    user_name: str | None
    organisation: str | None
    when: datetime | date
    detail: str
    event_ids: tuple[int, ...] = ()


@dataclass
class Unusual:
    date_from: datetime | None
    findings: dict[str, list[Finding]] = field(default_factory=dict)


UNUSUAL_KINDS = {
    "volume": "Far more searches and views in a day than their own usual day or their organisation's, or more "
    "than anyone's day should hold",
    "shielded": "Views of records that were shielded when they were viewed",
    "out_of_hours": "Searches and views outside working hours or at weekends",
    "own_surname": "Searches for children who share the user's own surname and postcode area",
}


def _events(filters: Filters, *conditions: sa.ColumnElement[bool], default_days: int | None = None) -> Select[Any]:
    start, end = filters.bounds(default_days)
    query = (
        select(AuditEvent, User.display_name, User.email, Organisation.name)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .outerjoin(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(*conditions)
    )
    if start is not None:
        query = query.where(AuditEvent.occurred_at >= start)
    if end is not None:
        query = query.where(AuditEvent.occurred_at < end)
    return query


def event_line(row: Any) -> EventLine:
    event, name, email, organisation = row
    return EventLine(
        event.id,
        event.chain_position,
        event.occurred_at,
        event.tag.value,
        event.outcome.value,
        event.user_id,
        name,
        email,
        event.organisation_id,
        organisation,
        event.reason,
        list(event.target_ids),
        event.client_address,
        event.user_agent,
        dict(event.details),
        event.actor_roles,
    )


def _page(query: Select[Any], page: int) -> EventPage:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = page_count(total, PAGE_SIZE)
    rows = db.session.execute(
        query.order_by(AuditEvent.chain_position.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return EventPage([event_line(row) for row in rows], total, page, pages)


def names_child(index_id: str) -> sa.ColumnElement[bool]:
    """Events that name the child among their targets (index ids are letters and digits only)."""
    return sa.cast(AuditEvent.target_ids, sa.Text).like(f'%"{index_id}"%')


def names_any_child(index_ids: Iterable[str]) -> sa.ColumnElement[bool]:
    return sa.or_(*(names_child(index_id) for index_id in sorted(set(index_ids))))


def record_ids(index_id: str) -> set[str]:
    """The id asked about, the record it now lives on, and every record merged into that one.

    A child's trail follows the child: events written under a retired id before a merge are theirs too.
    """
    ids = {index_id}
    held = db.session.scalar(select(Child).where(Child.index_id == index_id))
    if held is not None:
        kept = surviving(held)
        ids.add(kept.index_id)
        ids.update(db.session.scalars(select(Child.index_id).where(Child.merged_into_id == kept.id)))
    return ids


def child_query(index_id: str, filters: Filters) -> Select[Any]:
    return _events(filters, names_any_child(record_ids(index_id)))


def user_query(user_id: int, filters: Filters) -> Select[Any]:
    return _events(filters, AuditEvent.user_id == user_id)


def organisation_query(organisation_id: int, filters: Filters) -> Select[Any]:
    return _events(filters, AuditEvent.organisation_id == organisation_id)


def sign_in_failure_query(filters: Filters) -> Select[Any]:
    # Written out, not bound, so that the planner sees the partial index's own condition.
    return _events(
        filters,
        AuditEvent.tag.in_(
            sa.bindparam("sign_in_failures", list(SIGN_IN_FAILURES), expanding=True, literal_execute=True)
        ),
    )


def page_of(query: Select[Any], filters: Filters) -> EventPage:
    return _page(query, filters.page)


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def organisations() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))


def activity_by_day(filters: Filters, organisation_id: int) -> list[tuple[date, int]]:
    """An organisation's searches and views a day, zeros included: the range's last year at most (default 30 days)."""
    start, end = filters.bounds(CHART_DEFAULT_DAYS)
    last = (end - timedelta(days=1)).date() if end else datetime.now(UTC).date()
    first = max(start.date() if start else last, last - timedelta(days=CHART_MAX_DAYS - 1))
    query = select(AuditEvent.occurred_at).where(
        AuditEvent.tag.in_(LOOKUPS),
        AuditEvent.organisation_id == organisation_id,
        AuditEvent.occurred_at >= datetime.combine(first, time.min, UTC),
        AuditEvent.occurred_at < datetime.combine(last + timedelta(days=1), time.min, UTC),
    )
    counts = Counter(moment.date() for moment in db.session.scalars(query))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [(day, counts.get(day, 0)) for day in days]


def activity_by_organisation(filters: Filters) -> list[tuple[str, int]]:
    """Searches and views by organisation over the range (default: the last 30 days), most first."""
    start, end = filters.bounds(CHART_DEFAULT_DAYS)
    query = (
        select(Organisation.name, func.count(AuditEvent.id))
        .join(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(AuditEvent.tag.in_(LOOKUPS), AuditEvent.occurred_at >= start)
        .group_by(Organisation.name)
        .order_by(func.count(AuditEvent.id).desc(), Organisation.name)
    )
    if end is not None:
        query = query.where(AuditEvent.occurred_at < end)
    return [(name, count) for name, count in db.session.execute(query)]


def _surname(display_name: str | None) -> set[str]:
    tokens = name_tokens(display_name)
    return {tokens[-1]} if tokens else set()


def unusual_use(filters: Filters, working_hours: tuple[int, int], ceiling: int) -> Unusual:
    """The four kinds of unusual use the auditors asked for, over the range (default: the last 7 days, today's
    events included)."""
    start, end = filters.bounds(UNUSUAL_DEFAULT_DAYS)
    query = _events(
        Filters(start.date() if start else None, filters.date_to),
        AuditEvent.tag.in_(LOOKUPS + VIEWS),
        AuditEvent.outcome == Outcome.SUCCESS,
    )
    lines = [event_line(row) for row in db.session.execute(query.order_by(AuditEvent.chain_position))]
    result = Unusual(start, {kind: [] for kind in UNUSUAL_KINDS})
    result.findings["volume"] = _volume(lines, _history(lines, start), ceiling)
    result.findings["shielded"] = _shielded_views(lines)
    first, last = working_hours
    for line in lines:
        local = line.occurred_at.astimezone(LOCAL_TIME)
        if local.weekday() >= 5 or not first <= local.hour < last:
            result.findings["out_of_hours"].append(
                _finding("out_of_hours", line, f"{line.tag} at {local:%A %H:%M} UK time")
            )
    result.findings["own_surname"] = _own_surname(lines)
    return result


def _shielded_views(lines: list[EventLine]) -> list[Finding]:
    """Views of a record that was shielded at the time, by someone whose work then was not shielding or audit.

    A record view keeps whether the record was shielded when it was seen; an emergency override
    view is of a shielded record by its nature. Only a view written before views kept that is
    judged by the record as it is now, and says so.
    """
    views = [line for line in lines if line.tag in VIEWS and not SHIELDED_WORK & _roles(line)]
    unflagged = {target for line in views if "shielded" not in line.details for target in line.target_ids}
    shielded_now = (
        set(
            db.session.scalars(select(Child.index_id).where(Child.index_id.in_(unflagged), Child.is_shielded.is_(True)))
        )
        if unflagged
        else set()
    )
    findings = []
    for line in views:
        if line.tag == AuditTag.OVERRIDE_VIEW:
            findings.append(
                _finding(
                    "shielded",
                    line,
                    "viewed shielded record " + ", ".join(line.target_ids) + " through an emergency override",
                )
            )
        elif "shielded" in line.details:
            if line.details["shielded"] is True:
                findings.append(_finding("shielded", line, "viewed shielded record " + ", ".join(line.target_ids)))
        elif shielded_now.intersection(line.target_ids):
            findings.append(
                _finding(
                    "shielded",
                    line,
                    "viewed record "
                    + ", ".join(sorted(shielded_now.intersection(line.target_ids)))
                    + ", shielded now (the event does not say whether it was then)",
                )
            )
    return findings


def _searched_family(line: EventLine) -> str | None:
    """The family name a search asked for, when it is the searcher's own."""
    criteria = line.details.get("criteria") or {}
    searched = set(name_tokens(criteria.get("family_name")))
    if line.tag == AuditTag.RECORD_SEARCH and searched and searched & _surname(line.user_name):
        return str(criteria.get("family_name"))
    return None


def _own_surname(lines: list[EventLine]) -> list[Finding]:
    """Searches for the searcher's own family name in their own postcode area.

    The place of a search is the postcode it asked for and where the children it found live.
    A person whose home postcode district is not on record is shown on the family name alone,
    said to be so: an unknown home must not hide a search for one's own family.
    """
    searches = [(line, family) for line in lines if (family := _searched_family(line))]
    homes = (
        dict(
            db.session.execute(
                select(User.id, User.home_postcode_district).where(User.id.in_({line.user_id for line, _ in searches}))
            ).all()
        )
        if searches
        else {}
    )
    found = {target for line, _ in searches if homes.get(line.user_id) for target in line.target_ids}
    lives_in = (
        dict(
            db.session.execute(
                select(Child.index_id, Address.postcode)
                .join(Address, Address.child_id == Child.id)
                .where(Child.index_id.in_(found), Address.is_current.is_(True))
            ).all()
        )
        if found
        else {}
    )
    findings = []
    for line, family in searches:
        home = homes.get(line.user_id)
        if home is None:
            findings.append(
                _finding(
                    "own_surname",
                    line,
                    f"searched for the family name {family} (their home postcode district is not on record)",
                )
            )
            continue
        area = postcode_area(home)
        places = [(line.details.get("criteria") or {}).get("postcode")]
        places += [lives_in.get(target) for target in line.target_ids]
        if area in {postcode_area(place) for place in places}:
            findings.append(
                _finding(
                    "own_surname",
                    line,
                    f"searched for the family name {family} in their own postcode area {area} (home district {home})",
                )
            )
    return findings


def _finding(kind: str, line: EventLine, detail: str) -> Finding:
    return Finding(kind, line.user_id, line.user_name, line.organisation, line.occurred_at, detail, (line.id,))


def _roles(line: EventLine) -> set[str]:
    """The roles the actor had when the event happened (none known for events before roles were kept)."""
    return set((line.actor_roles or "").split(",")) - {""}


def _history(lines: list[EventLine], start: datetime | None) -> Counter[tuple[int, date]]:
    """Lookups a day for each user in the range, over the HISTORY_DAYS before it as well as in it."""
    days: Counter[tuple[int, date]] = Counter(
        (line.user_id, line.occurred_at.date()) for line in lines if line.user_id is not None and line.tag in LOOKUPS
    )
    users = {user_id for user_id, _ in days}
    if start is None or not users:
        return days
    earlier = select(AuditEvent.user_id, AuditEvent.occurred_at).where(
        AuditEvent.tag.in_(LOOKUPS),
        AuditEvent.outcome == Outcome.SUCCESS,
        AuditEvent.user_id.in_(users),
        AuditEvent.occurred_at >= start - timedelta(days=HISTORY_DAYS),
        AuditEvent.occurred_at < start,
    )
    days.update((user_id, moment.date()) for user_id, moment in db.session.execute(earlier))
    return days


def _own_usual(days: Counter[tuple[int, date]], user_id: int, day: date) -> float | None:
    """The user's median day over the HISTORY_DAYS before this one, counting only days they searched or viewed."""
    counts = [days[(user_id, day - timedelta(days=n))] for n in range(1, HISTORY_DAYS + 1)]
    active = [count for count in counts if count]
    return statistics.median(active) if active else None


def _volume(lines: list[EventLine], days: Counter[tuple[int, date]], ceiling: int) -> list[Finding]:
    """A user's day of lookups far above their own usual day, their organisation's others', or the ceiling.

    The organisation's usual day is its other users' median, so that one or two busy people
    cannot raise the norm they are judged by; a one-person organisation has none, and its
    person is judged by their own history and the ceiling.
    """
    per_user_day: dict[tuple[int, date], list[EventLine]] = defaultdict(list)
    for line in lines:
        if line.user_id is not None and line.tag in LOOKUPS:
            per_user_day[(line.user_id, line.occurred_at.date())].append(line)
    by_organisation: dict[str | None, list[tuple[int, int]]] = defaultdict(list)
    for (user_id, _day), day_lines in per_user_day.items():
        by_organisation[day_lines[0].organisation].append((user_id, len(day_lines)))
    findings = []
    for (user_id, day), day_lines in sorted(per_user_day.items(), key=lambda item: (item[0][1], item[0][0])):
        count = len(day_lines)
        others = [n for other, n in by_organisation[day_lines[0].organisation] if other != user_id]
        reasons = []
        if count >= ceiling:
            reasons.append(f"at or above the ceiling of {ceiling} a day")
        own = _own_usual(days, user_id, day)
        if own is not None and count >= max(VOLUME_FLOOR, VOLUME_FACTOR * own):
            reasons.append(f"their own usual day over the previous {HISTORY_DAYS} days is {own:g}")
        if others and count >= max(VOLUME_FLOOR, VOLUME_FACTOR * statistics.median(others)):
            reasons.append(f"their organisation's usual day is {statistics.median(others):g}")
        if reasons:
            first = day_lines[0]
            findings.append(
                Finding(
                    "volume",
                    first.user_id,
                    first.user_name,
                    first.organisation,
                    day,
                    f"{count} searches and views; " + "; ".join(reasons),
                    tuple(line.id for line in day_lines),
                )
            )
    return findings
