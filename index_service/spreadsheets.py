"""CSV downloads: cells a spreadsheet shows and never runs, written a page at a time.

Load reports and auditors' reports can run to millions of lines; each page is read in a short
transaction of its own, so a long download holds no transaction (nor SQLite's snapshot) between pages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from index_service.extensions import db

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Line = TypeVar("Line")


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet will show, not run: a leading =, +, -, @ or control character is quoted."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def paged_csv(
    columns: Sequence[str],
    read_page: Callable[[int], Sequence[Line]],
    position: Callable[[Line], int],
    cells: Callable[[Line], Sequence[object]],
    page_size: int,
) -> Iterator[str]:
    """The header, then every line as CSV text: `read_page(after)` gives up to `page_size` lines whose
    `position` follows `after`, in order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    after = 0
    while True:
        lines = read_page(after)
        for line in lines:
            writer.writerow(cells(line))
        after = position(lines[-1]) if lines else after
        db.session.rollback()  # ends the read, so a long download holds no transaction between pages
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(lines) < page_size:
            return
