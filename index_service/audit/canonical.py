"""What an audit event's hash covers, and the one way its content is written out to be hashed.

Plain Python with no Flask or database import: the writer, `audit verify` and the migration
that chained the events already held all hash exactly the same text.

The content is a sorted-key, compact JSON object of the fields in `HASHED_FIELDS`, UTC times
as ISO text. A field whose value is None is left out rather than written as null: a new
nullable column added to the list later (as the mediated-access columns will be) leaves the
hashes of every event written before it unchanged, while giving a value to, or taking one
from, any field changes the hash as surely as editing it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
# What no database here can store: NUL (PostgreSQL refuses it in text) and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class Kind(StrEnum):
    INTEGER = "integer"
    TEXT = "text"
    TIME = "time"
    JSON = "json"


# The one list of what is hashed: (column, kind). Add a column here and it is covered from then on.
HASHED_FIELDS: tuple[tuple[str, Kind], ...] = (
    ("actor_roles", Kind.TEXT),
    ("chain_position", Kind.INTEGER),
    ("client_address", Kind.TEXT),
    ("details", Kind.JSON),
    ("occurred_at", Kind.TIME),
    ("on_behalf_of_name", Kind.TEXT),
    ("on_behalf_of_organisation", Kind.TEXT),
    ("organisation_id", Kind.INTEGER),
    ("outcome", Kind.TEXT),
    ("reason", Kind.TEXT),
    ("tag", Kind.TEXT),
    ("target_ids", Kind.JSON),
    ("user_agent", Kind.TEXT),
    ("user_id", Kind.INTEGER),
)
HASHED_NAMES = tuple(name for name, _ in HASHED_FIELDS)


def storable(value: Any) -> Any:
    """The value with each character no database can store replaced by U+FFFD, in text, in lists and in keys.

    An event records what it was given (a search's criteria, a file's name), and must be written
    whatever that was: its text, and so its hash, are what the database will hand back to `audit verify`.
    """
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """The canonical JSON text of a value; also how the database stores JSON columns."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def time_text(value: datetime) -> str:
    """A UTC time to the microsecond, as ISO text; the verifier reads the same text from the database."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _encode_integer(value: Any) -> str:
    return str(int(value))


def _encode_text(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _encode_time(value: Any) -> str:
    return '"' + (value if isinstance(value, str) else time_text(value)) + '"'


def _encode_json(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value)


ENCODERS: dict[Kind, Callable[[Any], str]] = {
    Kind.INTEGER: _encode_integer,
    Kind.TEXT: _encode_text,
    Kind.TIME: _encode_time,
    Kind.JSON: _encode_json,
}
_SORTED = sorted(range(len(HASHED_FIELDS)), key=lambda index: HASHED_FIELDS[index][0])
_PREFIXED = tuple(
    (index, json.dumps(HASHED_FIELDS[index][0]) + ":", ENCODERS[HASHED_FIELDS[index][1]]) for index in _SORTED
)


def content(values: Sequence[Any]) -> str:
    """The canonical text of one event, from its values in the order of `HASHED_FIELDS`.

    A JSON field may be given as its value or as the canonical text already stored; a time as
    a datetime or as `time_text`'s text.
    """
    if len(values) != len(HASHED_FIELDS):
        raise ValueError(f"an event has {len(HASHED_FIELDS)} hashed values, not {len(values)}")
    return (
        "{"
        + ",".join(prefix + encode(values[index]) for index, prefix, encode in _PREFIXED if values[index] is not None)
        + "}"
    )


def content_of(mapping: Mapping[str, Any]) -> str:
    return content([mapping.get(name) for name in HASHED_NAMES])


def event_hash(previous_hash: str, text: str) -> str:
    """The link: the event's content hashed together with the hash of the event before it."""
    return hashlib.sha256((previous_hash + text).encode()).hexdigest()


def signature(key: bytes, kind: str, position: int, hash_at_position: str) -> str:
    """HMAC-SHA256 of a checkpoint: the chain reached this position with this hash, said by the key holder."""
    message = f"{kind}:{position}:{hash_at_position}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_matches(key: bytes, kind: str, position: int, hash_at_position: str, claimed: str) -> bool:
    return hmac.compare_digest(signature(key, kind, position, hash_at_position), claimed or "")
