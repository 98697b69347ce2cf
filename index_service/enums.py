"""Column type for Python enums, stored as their string values with a check constraint."""

from __future__ import annotations

from enum import Enum

import sqlalchemy as sa


def enum_column(enum_class: type[Enum], name: str) -> sa.Enum:
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
