"""Page numbers for the lists the pages show: read from the query string, and counted."""

from __future__ import annotations

import math

from flask import request

MAX_PAGE_DIGITS = 8


def page_asked() -> int:
    """The page the query string asks for; 1 for anything but a whole number of at most eight
    digits, so that no typed value makes an offset the database refuses."""
    raw = request.args.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() and len(raw) <= MAX_PAGE_DIGITS else 1


def page_count(total: int, per_page: int) -> int:
    """How many pages hold `total` items, at least one (an empty list is one empty page)."""
    return max(math.ceil(total / per_page), 1)
