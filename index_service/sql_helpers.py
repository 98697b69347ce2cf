"""SQL helpers that several features' queries share, apart from any feature."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam, func, select

from index_service.extensions import db


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, for the thousands of values a load asks about at once.

    The values go as one parameter: an array on PostgreSQL (`= ANY(...)`), a JSON list read by
    `json_each` on SQLite. With a parameter each, every query was new text to render and parse,
    and that cost more than the query.
    """
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    listed = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")
    return column.in_(select(listed.c.value))
