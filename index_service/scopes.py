"""The scopes a source system's client may hold: one dictionary, one place."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    LOADS_WRITE = "loads:write"
    CHILDREN_READ = "children:read"


SCOPES: dict[Scope, str] = {
    Scope.LOADS_WRITE: "Submit extracts to the client's own data source and follow their loads",
    Scope.CHILDREN_READ: "Reserved for reading children's records; no endpoint grants anything with it yet",
}


def parse_scopes(values: str | Iterable[str]) -> frozenset[Scope]:
    """Scopes from a space-separated string or a list of names; an unknown name is an error."""
    names = values.split() if isinstance(values, str) else [name for value in values for name in value.split()]
    unknown = sorted({name for name in names if name not in SCOPES})
    if unknown:
        raise ValueError(f"unknown scope {', '.join(unknown)}; the scopes are {', '.join(SCOPES)}")
    return frozenset(Scope(name) for name in names)


def scope_text(scopes: Iterable[Scope]) -> str:
    """Scopes as OAuth writes them: space-separated, in a stable order."""
    return " ".join(sorted(Scope(scope).value for scope in scopes))
