"""A stretch of the chain walked from the database: each event's canonical content written out by the database.

Straight from the database driver, because an auditor runs this over tens of millions of
events: the database writes out each event's canonical content (JSON as stored, times as UTC
ISO text) in C. On SQLite Python hashes and links the events (`walking.walk_stretch`); on
PostgreSQL the database does, and Python reads only the events where anything happens
(`walking.walk_marked`). Plain DBAPI connections, so that a worker process can read with its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

from index_service.audit import canonical
from index_service.audit.models import AuditEvent
from index_service.audit.walking import Stretch, walk_marked, walk_stretch

BATCH_ROWS = 20_000


def _postgresql_value(name: str, kind: canonical.Kind) -> str:
    """A hashed column as the text `canonical.content` writes for it, on PostgreSQL (NULL for NULL)."""
    if kind is canonical.Kind.TIME:
        return f"'\"' || to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '\"'"
    if kind is canonical.Kind.TEXT:
        # A text with nothing to escape is only quoted: to_json() would take twice as long. Anything
        # else it escapes; what it escapes otherwise than Python (a control character) is rechecked.
        return (
            f"CASE WHEN strpos({name}, '\"') = 0 AND strpos({name}, '\\') = 0 THEN '\"' || {name} || '\"' "
            f"ELSE to_json({name})::text END"
        )
    return f"CAST({name} AS TEXT)"


def _sqlite_value(name: str, kind: canonical.Kind) -> str:
    """A hashed column as the text `canonical.content` writes for it, on SQLite (NULL for NULL)."""
    if kind is canonical.Kind.TIME:
        return f"'\"' || replace({name}, ' ', 'T') || '\"'"
    if kind is canonical.Kind.TEXT and AuditEvent.__table__.c[name].nullable:
        return f"CASE WHEN {name} IS NOT NULL THEN json_quote({name}) END"  # json_quote(NULL) is the text null
    if kind is canonical.Kind.TEXT:
        return f"json_quote({name})"
    return f"CAST({name} AS TEXT)"


def _pieces(value: Callable[[str, canonical.Kind], str]) -> list[tuple[bool, str]]:
    """The content in order as (is SQL, text) pieces: constant text, or an expression that may be NULL.

    Each field is its key and its value. A field whose column may be NULL is one expression, its
    key and comma joined on with ||, so that a NULL value leaves out the whole field. A field
    before the first that is never NULL carries its comma after it, and every later one before
    it, so no comma is ever left to cut off.
    """
    pieces, anchored = [(False, "{")], False
    for name, kind in sorted(canonical.HASHED_FIELDS):
        key = canonical.json_text(name) + ":"
        if not AuditEvent.__table__.c[name].nullable:
            pieces += [(False, ("," if anchored else "") + key), (True, value(name, kind))]
            anchored = True
        elif anchored:
            pieces.append((True, f"',{key}' || {value(name, kind)}"))
        else:
            pieces.append((True, f"'{key}' || {value(name, kind)} || ','"))
    if not anchored:
        raise ValueError("the hashed fields need one that is never NULL to put the commas around")
    return [*pieces, (False, "}")]


def _content_sql(dialect: str) -> str:
    """The event's canonical content, written out by the database itself from `HASHED_FIELDS`.

    The database does in C what `canonical.content` does in Python, so that verifying is mostly
    reading and hashing; an event whose text differs from Python's (an escaping the two write
    differently) is written again by Python before anything is said about it. One call builds
    the text once (a chain of || copies it at every step) and leaves out a NULL piece:
    PostgreSQL's concat(), SQLite's printf() (whose %s writes nothing for NULL).
    """
    if dialect == "postgresql":
        return "concat(" + ", ".join(text if sql else f"'{text}'" for sql, text in _pieces(_postgresql_value)) + ")"
    pieces = _pieces(_sqlite_value)
    template = "".join("%s" if sql else text.replace("%", "%%") for sql, text in pieces)
    return f"printf('{template}', " + ", ".join(text for sql, text in pieces if sql) + ")"


def select_sql(dialect: str) -> str:
    """The events from after one position through another, in chain order, each as (position, content,
    previous hash, hash, id)."""
    mark = "%s" if dialect == "postgresql" else "?"
    # Column names come from HASHED_FIELDS, never from input; the two positions are bound parameters.
    selected = ", ".join(["chain_position", _content_sql(dialect), "previous_hash", "event_hash", "id"])
    return (
        f"SELECT {selected} FROM audit_events "  # noqa: S608
        f"WHERE chain_position > {mark} AND chain_position <= {mark} ORDER BY chain_position"
    )


_SELECT = {dialect: select_sql(dialect) for dialect in ("postgresql", "sqlite")}

# The walk done by PostgreSQL itself: each event hashed (with the previous hash it names) and set beside the one
# before it, and only the events where anything happens are returned (see walking.walk_marked). The names of the
# functions that hash are qualified, so that nothing put earlier on the search path can stand in for them.
_MARKED = f"""
SELECT chain_position, previous_hash, event_hash, id, hash_matches, position_before, hash_before, last
FROM (
    SELECT chain_position, previous_hash, event_hash, id,
           pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(previous_hash || {_content_sql("postgresql")},
                                                                      'UTF8')), 'hex') = event_hash AS hash_matches,
           lag(chain_position) OVER positions AS position_before, lag(event_hash) OVER positions AS hash_before,
           lead(chain_position) OVER positions IS NULL AS last
    FROM audit_events WHERE chain_position > %s AND chain_position <= %s
    WINDOW positions AS (ORDER BY chain_position)
) AS walked
WHERE position_before IS NULL OR last OR hash_matches IS NOT TRUE OR chain_position <> position_before + 1
      OR previous_hash IS DISTINCT FROM hash_before OR chain_position = ANY(%s)
ORDER BY chain_position
"""  # noqa: S608 - column names from HASHED_FIELDS; the positions are bound parameters


def batches(raw: Any, dialect: str, after: int, through: int) -> Iterator[list[Sequence[Any]]]:
    """The events after position `after` through `through` with their content, a batch of plain tuples at a
    time, from a DBAPI connection (a server-side cursor on PostgreSQL, so that only a batch is ever held)."""
    cursor = raw.cursor(name="audit_verify") if dialect == "postgresql" else raw.cursor()
    try:
        cursor.execute(_SELECT[dialect], (after, through))
        while batch := cursor.fetchmany(BATCH_ROWS):
            yield batch
    finally:
        cursor.close()


def walk(raw: Any, dialect: str, after: int, through: int, checkpoints: Mapping[int, str]) -> Stretch:
    """The stretch of events after position `after` through `through`, walked, from a DBAPI connection.

    SQLite's events are hashed and linked here, as the database writes out their content.
    PostgreSQL does both itself, which costs its process about what writing the content out
    to Python did, and Python next to nothing: half the work of a walk.
    """
    if dialect != "postgresql":
        return walk_stretch(chain.from_iterable(batches(raw, dialect, after, through)), checkpoints)
    # For this transaction: the walk wants position order, which the unique index gives as it reads. A sort
    # (planned when the statistics are stale, as after a bulk load) would spill the rows to disk, and the
    # server's own parallel workers would take the cores from the verifier's.
    raw.execute("SET LOCAL enable_sort = off")
    raw.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    with raw.cursor() as cursor:
        cursor.execute(_MARKED, (after, through, sorted(checkpoints)))
        return walk_marked(cursor, checkpoints)
