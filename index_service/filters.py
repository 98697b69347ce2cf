"""Template filters for dates, ages and identifiers as people read them."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask

from index_service.index_ids import format_index_id


def long_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {value:%B %Y}"


def date_time(value: datetime | None) -> str:
    """A moment as people read it, in UTC (the service's one clock)."""
    if value is None:
        return ""
    return f"{value.day} {value:%B %Y} at {value:%H:%M} UTC"


def age(born: date, today: date | None = None) -> str:
    today = today or date.today()
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if years >= 2:
        return f"{years} years"
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    return f"{months} month{'s' if months != 1 else ''}"


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["long_date"] = long_date
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["date_time"] = date_time
    app.jinja_env.filters["index_id"] = format_index_id
