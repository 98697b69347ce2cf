"""A load's rows matched against the index: each row's candidates read, judged and decided, by
one function that a matching worker runs with a read-only connection of its own, or the load's
process runs with its session.

The load's own process used to read every batch's candidates and send them, pickled, to the
workers to be judged and then decided. It did all of a load's reading and writing and was the
limit of its speed, while its worker stood idle half the time. Now the worker reads what it
matches. Each chunk of rows is read in one snapshot (see open_read_only), and a batch's chunks
may be read before or after the batch before it commits: the load finds what that batch made and
changed as its own rows' changes are found (`loading.batch.Batch.follow`), so a row's outcome is the same
either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import event, make_url, select

from index_service.children.lookup import MERGE_DEPTH, HeldPerson, held_people, with_details
from index_service.children.writes import KEYS
from index_service.database import configure_sqlite, snapshot_options
from index_service.extensions import db
from index_service.sql_helpers import one_of
from matching.deciding import Incoming, Verdict, could_change, decided
from matching.search import Candidate

KEY_CHUNK = 5000


@dataclass(frozen=True)
class ToMatch:
    """A row to match: as deciding needs it, the blocking keys it looks up, and the records that
    hold its NHS number or UPN."""

    number: int
    incoming: Incoming
    keys: frozenset[int]
    holding: frozenset[int]


@dataclass(frozen=True)
class Matched:
    """A row's held candidates as its chunk found them, and its verdict on them (None: it goes to
    review, and the load decides it with every candidate)."""

    number: int
    found: frozenset[int]  # the held ids its keys and identifiers found
    holding: frozenset[int]  # those holding its NHS number or UPN
    merged: Mapping[int, int]  # a found id -> the record it was merged into, for those merged
    matter: tuple[Candidate, ...]  # its candidates (surviving records) that could change its outcome, read whole
    pruned: tuple[int, ...]  # the others, read whole only if it goes to review
    shielded: frozenset[int]  # its candidates that are shielded
    verdict: Verdict | None

    @property
    def survivors(self) -> set[int]:
        """Every held candidate of the row."""
        return {candidate.child_id for candidate in self.matter}.union(self.pruned)


def match_rows(rows: list[ToMatch]) -> list[Matched]:
    """Read the rows' held candidates, judge which of each row's could change its outcome, read
    those whole and decide each row on them.

    Candidates are judged without their identifiers and households (matching's bound allows for
    them), except that one holding the row's NHS number or UPN always could matter, as could a
    shielded one: those are kept whatever their bound.
    """
    by_key = _children_by_key(set().union(*(row.keys for row in rows)))
    found = {row.number: set().union(*(by_key.get(key, ()) for key in row.keys)) | row.holding for row in rows}
    held = held_people(set().union(*found.values()), in_full=False)
    _read_survivors(held)
    judged: list[tuple[ToMatch, dict[int, HeldPerson], set[int]]] = []
    for row in rows:
        # Keyed by id, not held in sets: hashing a candidate hashed every field of the person.
        survivors = {h.child_id: h for h in (_surviving(held, i) for i in found[row.number] if i in held)}
        holding = {_surviving(held, i).child_id for i in row.holding if i in held}
        keep = {i for i, h in survivors.items() if i in holding or h.is_shielded}
        changing = could_change(row.incoming.person, [(i, h.person) for i, h in survivors.items() if i not in keep])
        judged.append((row, survivors, keep.union(changing)))
    whole = with_details({i: h for _, survivors, matters in judged for i, h in survivors.items() if i in matters})
    shielded = frozenset(i for i, h in held.items() if h.is_shielded)
    matched = []
    for row, survivors, matters in judged:
        matter = tuple(Candidate(i, whole[i].person, whole[i].index_id) for i in survivors if i in matters)
        ids = frozenset(i for i in found[row.number] if i in held)
        matched.append(
            Matched(
                number=row.number,
                found=ids,
                holding=frozenset(i for i in row.holding if i in held),
                merged={i: _surviving(held, i).child_id for i in ids if held[i].merged_into_id is not None},
                matter=matter,
                pruned=tuple(i for i in survivors if i not in matters),
                shielded=shielded.intersection(survivors),
                verdict=decided(row.incoming, list(matter), shielded),
            )
        )
    return matched


def match_rows_in_worker(rows: list[ToMatch]) -> list[Matched]:
    """match_rows in a matching worker (see open_read_only): its snapshot ends with the chunk."""
    try:
        return match_rows(rows)
    finally:
        db.session.rollback()


def _children_by_key(keys: Iterable[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), KEY_CHUNK):
        chunk = ordered[start : start + KEY_CHUNK]
        for key, child_id in db.session.execute(select(KEYS.c.key, KEYS.c.child_id).where(one_of(KEYS.c.key, chunk))):
            found.setdefault(key, set()).add(child_id)
    return found


def _read_survivors(held: dict[int, HeldPerson]) -> None:
    """Add the records the held ones were merged into, and those they were merged into in turn."""
    for _ in range(MERGE_DEPTH):
        unread = {h.merged_into_id for h in held.values() if h.merged_into_id is not None} - held.keys()
        if not unread:
            return
        held.update(held_people(unread, in_full=False))


def _surviving(held: dict[int, HeldPerson], child_id: int) -> HeldPerson:
    person = held[child_id]
    for _ in range(MERGE_DEPTH):
        if person.merged_into_id is None or person.merged_into_id not in held:
            break
        person = held[person.merged_into_id]
    return person


def read_only_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a matching worker needs of the load's app to read the same database (see open_read_only)."""
    return {name: config[name] for name in ("SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS")}


def open_read_only(settings: Mapping[str, Any]) -> None:
    """A matching worker's database: an app context of its own for the rest of the process, on an
    engine whose every transaction reads one snapshot and cannot write (nor take SQLite's write
    lock, which the load holds while it writes a batch)."""
    uri: str = settings["SQLALCHEMY_DATABASE_URI"]
    backend = make_url(uri).get_backend_name()
    sqlite = backend == "sqlite"
    options = {
        **settings["SQLALCHEMY_ENGINE_OPTIONS"],
        "execution_options": {**snapshot_options(backend), **({} if sqlite else {"postgresql_readonly": True})},
    }
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=uri, SQLALCHEMY_ENGINE_OPTIONS=options)
    db.init_app(app)
    app.app_context().push()
    configure_sqlite(db.engine)
    if sqlite:
        event.listen(db.engine, "connect", _query_only)


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")
