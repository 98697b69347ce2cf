"""Per-person search limits: how many searches one person may run in any minute and any 24 hours.

Each search that runs leaves a row in `recent_searches` (who, when), written in the search's
own transaction; a search is allowed while the person's rows in each window are fewer than
that window's limit. The rows are in the database, so every worker and every machine counts
the same searches. A refused search, or one whose request fails and rolls back, leaves no row
and so never counts.

Searches are counted to the person signed in: in mediated access, the index-team member
running them. The practitioner they act for is a name typed in (they have no account of their
own here), so counting to them would let a new name start a new count.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, select

from index_service.auth.models import RecentSearch, User
from index_service.database import utcnow
from index_service.extensions import db

LOCAL_TIME = ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
# Below this wait the message counts seconds; from it, it names the time.
SECONDS_SHOWN_BELOW = 120


class SearchLimitReached(Exception):
    """The person has run as many searches as a window allows; they may search again at `retry_at`."""

    def __init__(self, limit: int, window: timedelta, retry_at: datetime, now: datetime) -> None:
        self.limit = limit
        self.window = window
        self.retry_at = retry_at
        self.now = now
        self.retry_after = max(1, math.ceil((retry_at - now).total_seconds()))
        super().__init__(self.message)

    @property
    def period(self) -> str:
        return "minute" if self.window == MINUTE else "24 hours"

    @property
    def message(self) -> str:
        return (
            f"You have run {self.limit} searches in the last {self.period}, the most allowed. "
            f"You can search again {self.when}."
        )

    @property
    def when(self) -> str:
        if self.retry_after < SECONDS_SHOWN_BELOW:
            return f"in {self.retry_after} seconds"
        # Rounded up to the minute, so that coming back at the time named always works.
        local = (self.retry_at + timedelta(seconds=59)).astimezone(LOCAL_TIME)
        day = "" if local.date() == self.now.astimezone(LOCAL_TIME).date() else f" on {local:%A} {local.day} {local:%B}"
        return f"at {local:%H:%M}{day} (UK time)"

    def audit_details(self) -> dict[str, object]:
        return {"why": "search limit", "limit": self.limit, "period": self.period, "retry_after": self.retry_after}


def limits() -> tuple[tuple[timedelta, int], ...]:
    """(window, most searches in it), from the configuration."""
    return ((MINUTE, current_app.config["SEARCH_LIMIT_PER_MINUTE"]), (DAY, current_app.config["SEARCH_LIMIT_PER_DAY"]))


def count_search(user: User, now: datetime | None = None) -> None:
    """Count a search the person is about to run, or raise SearchLimitReached and count nothing."""
    now = now or utcnow()
    windows = limits()
    kept_for = max(window for window, _ in windows)
    # Their searches on other workers wait here (PostgreSQL; SQLite's writers already take turns),
    # so two at once cannot both be allowed as the last one in a window. FOR NO KEY UPDATE, not
    # FOR UPDATE: rows that refer to the person (their audit events, sealed with the chain
    # locked) read it FOR KEY SHARE, which this lets through; FOR UPDATE would hold up the chain,
    # and every writer, until the search ended.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    db.session.execute(delete(RecentSearch).where(RecentSearch.user_id == user.id, RecentSearch.at <= now - kept_for))
    times = list(
        db.session.scalars(
            select(RecentSearch.at)
            .where(RecentSearch.user_id == user.id, RecentSearch.at > now - kept_for)
            .order_by(RecentSearch.at)
        )
    )
    refusals = []
    for window, limit in windows:
        inside = [at for at in times if at > now - window]
        if len(inside) >= limit:
            # Free again once enough of these have left the window for one more to fit.
            refusals.append(SearchLimitReached(limit, window, inside[len(inside) - limit] + window, now))
    if refusals:
        raise max(refusals, key=lambda refusal: refusal.retry_at)
    db.session.add(RecentSearch(user_id=user.id, at=now))
    db.session.flush()
