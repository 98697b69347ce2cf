"""A dry run: a load's rows decided and applied to held records in memory, nothing written.

A dry run must predict what a load of the same file would report, row for row, however it is
cut into batches. A load's later batch reads from the database what its earlier batches wrote;
a dry run writes nothing (no child, name, key, review item or shielding decision: only its own
report rows and position, batch by batch, so that its progress shows), so it carries what its
earlier batches would have written from one batch to the next instead (`Carried`), and its
batches apply their rows through `Unwritten`, which changes the held records as `Writes` does
and writes none of it. `Predicted` is a dry run's side of sources.loading.effects: everything a
dry run's batch does otherwise than a load's.

Not writing at all, rather than writing each batch and rolling it back, is what lets a later
batch see the earlier ones: a rolled-back batch leaves nothing to find, and ids its inserts took
may be given out again. One transaction over the whole dry run would also do, but on SQLite it
would hold the write lock, and so stop the web service, for as long as the dry run lasts.

A carried record costs some kilobytes (the record whole as the rules that change it read it, its
person and keys; the measured size is in docs/performance.md), so carrying every one in memory,
a dry run's memory would grow with its extract without bound. It holds at most
DRY_RUN_CARRIED_RECORDS of them in memory; over that, the ones made or changed longest ago are
spilled, pickled, to a scratch SQLite file of its own (`Scratch`), indexed by everything a later
batch could find them through. Each batch first recalls from it every record its rows could meet,
which goes back into memory as if it had never left, so the dry run is exact whatever the file's
size. The scratch file is not the index's database: on SQLite writing there would take the
index's write lock, on PostgreSQL it would write to the index.

What is carried is lost if the dry run stops: a dry run run again starts from its first row
(`loading.run.run_load`). The scratch file lives in a directory of its own in the temporary directory
(tempfile), made at the first spill and removed when the dry run ends or fails; a dry run killed
outright (kill -9) leaves that directory behind, and nothing reads it again.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from index_service.children.held import HeldRecord
from index_service.children.models import Involvement
from index_service.children.writes import Writes
from index_service.extensions import db
from index_service.load_models import Load
from index_service.sources.candidates import Matched
from index_service.sources.changed import Changed, Key
from index_service.sources.loading.effects import not_supplied
from index_service.sources.validation import ValidRow
from matching.linkage import Resolution

if TYPE_CHECKING:
    from index_service.sources.loading.batch import Batch

NEW_CHILD = "(new from row {row})"  # a child a dry run would make: it has no index id
SCRATCH_PREFIX = "child-index-dry-run-"  # the scratch file's directory, in the temporary directory

# What a spilled record is found by: the scratch file's kinds of term.
CHILD_ID, KEY, SOURCE_RECORD, OWNED = range(4)
Term = tuple[int, int | str]  # (kind, value)
SCRATCH_SCHEMA = """
CREATE TABLE records (key INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE terms (kind INTEGER NOT NULL, value NOT NULL, key INTEGER NOT NULL);
CREATE INDEX terms_found ON terms (kind, value);
CREATE INDEX terms_key ON terms (key);
CREATE TEMP TABLE wanted (kind INTEGER NOT NULL, value NOT NULL);
CREATE TEMP TABLE taken (key INTEGER PRIMARY KEY);
"""

# Each wanted term looked up in the terms' index (CROSS JOIN fixes the order): with a plain JOIN,
# SQLite, which knows no table's size, may scan every spilled term for each batch instead, and a
# batch's recall would grow with all that was spilled rather than with what it wants.
FOUND = (
    "SELECT DISTINCT terms.key FROM wanted CROSS JOIN terms ON terms.kind = wanted.kind AND terms.value = wanted.value"
)


def _term(key: Key) -> int | str:
    """A blocking key as it is, an identifier (kind, value) as one text."""
    return key if isinstance(key, int) else f"{key[0]}:{key[1]}"


class Scratch:
    """A dry run's spilled records, in a temporary SQLite file: each pickled under its key, and
    found through terms (a child id, a key or identifier, a source record id, an owned NHS number
    or UPN). A record is here or in memory, never both: taking it deletes it here."""

    def __init__(self) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX)
        self.db = sqlite3.connect(Path(self.directory.name) / "carried.sqlite3")
        # Scratch data, read back by this process only: no journal, no waiting for the disk.
        self.db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY;" + SCRATCH_SCHEMA
        )
        self.count = 0  # records held here

    def put(self, records: list[tuple[int, bytes, list[Term]]]) -> None:
        """Hold these records (key, pickled, the terms that find it)."""
        with self.db:
            self.db.executemany(
                "INSERT INTO records (key, data) VALUES (?, ?)", [(key, data) for key, data, _ in records]
            )
            self.db.executemany(
                "INSERT INTO terms (kind, value, key) VALUES (?, ?, ?)",
                [(kind, value, key) for key, _, terms in records for kind, value in terms],
            )
        self.count += len(records)

    def take(self, terms: Iterable[Term]) -> list[bytes]:
        """The records any of these terms find (pickled), no longer held here."""
        with self.db:
            self.db.execute("DELETE FROM wanted")
            self.db.execute("DELETE FROM taken")
            self.db.executemany("INSERT INTO wanted (kind, value) VALUES (?, ?)", terms)
            self.db.execute(f"INSERT INTO taken (key) {FOUND}")
            found = [
                data for (data,) in self.db.execute("SELECT data FROM records WHERE key IN (SELECT key FROM taken)")
            ]
            self.db.execute("DELETE FROM records WHERE key IN (SELECT key FROM taken)")
            self.db.execute("DELETE FROM terms WHERE key IN (SELECT key FROM taken)")
        self.count -= len(found)
        return found

    def close(self) -> None:
        self.db.close()
        self.directory.cleanup()


@dataclass
class Carried:
    """What a dry run's earlier batches would have written, as its later batches would read it.

    Made children are numbered -1, -2, ... over the whole dry run (`created`), so that a later
    batch finds them through `changed` as it finds those its own rows made. A record is carried
    under its key: its id if held, minus its number if made. At most `limit` of them are held in
    memory, the rest spilled to `scratch`; `recall` brings back those a batch could meet.
    """

    limit: int
    created: list[HeldRecord | None] = field(default_factory=list)  # None: spilled
    # Made children, and held records whose names, date of birth, addresses, identifiers or
    # shielding changed: found through the keys and identifiers they would be stored with.
    changed: Changed = field(default_factory=Changed)
    # Every held record a row changed in any way, by its id (and the ids merged into it), so that
    # a later batch applies its rows to the record as changed rather than as read again.
    records: dict[int, HeldRecord] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)  # source record id -> its child (minus its number if made)
    # NHS number or UPN -> the record this source gave it for (a held one's id, or a made record).
    owners: dict[str, int | HeldRecord] = field(default_factory=dict)
    # The keys of the records held in memory, the one made, changed or recalled longest ago first.
    order: dict[int, None] = field(default_factory=dict)
    numbers: dict[int, int] = field(default_factory=dict)  # id() of a made record in memory -> its key
    scratch: Scratch | None = None  # the records spilled, from the first spill on

    def keep(
        self,
        records: dict[int, HeldRecord],
        keys: list[int],
        known: dict[str, int],
        owners: dict[str, int | HeldRecord],
    ) -> None:
        """Carry a batch's changed held records (by id), the keys of the records it made or
        changed in the order it did, and what finds them; then spill the oldest over the limit."""
        self.records |= records
        for key in keys:
            if key < 0:
                self.numbers[id(self.created[-key - 1])] = key
            self.order.pop(key, None)
            self.order[key] = None
        self.known |= {value: child for value, child in known.items() if self._holds(child)}
        self.owners |= {
            value: owner.id if isinstance(owner, HeldRecord) and owner.id is not None else owner
            for value, owner in owners.items()
            if self._holds(owner)
        }
        if len(self.order) > self.limit:
            self._spill(list(islice(self.order, len(self.order) - self.limit)))

    def recall(
        self,
        *,
        ids: Iterable[int] = (),
        keys: Iterable[Key] = (),
        source_records: Iterable[str] = (),
        values: Iterable[str] = (),
    ) -> dict[int, HeldRecord]:
        """Bring back into memory every spilled record a batch could meet: carried under one of
        these child ids, found by one of these blocking keys or identifiers, named by one of these
        source record ids, or owning one of these NHS numbers or UPNs. The held records brought
        back, by each id they are carried under, for the batch's own records."""
        if self.scratch is None or not self.scratch.count:
            return {}
        terms = [
            *((CHILD_ID, i) for i in ids),
            *((KEY, _term(key)) for key in keys),
            *((SOURCE_RECORD, value) for value in source_records),
            *((OWNED, value) for value in values),
        ]
        back: dict[int, HeldRecord] = {}
        for data in self.scratch.take(terms):
            # Our own scratch file, written by this process from records it made.
            key, record, found_by, held_ids, known, owned = pickle.loads(data)  # noqa: S301
            if key < 0:
                self.created[-key - 1] = record
                self.numbers[id(record)] = key
            if found_by is not None:
                self.changed.put(key, record, *found_by)
            back |= dict.fromkeys(held_ids, record)
            self.known |= known
            self.owners |= {value: record if owner is None else owner for value, owner in owned.items()}
            self.order[key] = None
        self.records |= back
        return back

    def close(self) -> None:
        """Remove the scratch file, if there is one."""
        if self.scratch is not None:
            self.scratch.close()
            self.scratch = None

    def _spill(self, keys: list[int]) -> None:
        """Move these records, and everything that finds them, from memory to the scratch file."""
        spilled = {key: self._take_out(key) for key in keys}
        by_record = {id(record): key for key, record in spilled.items()}
        held_ids: dict[int, list[int]] = {key: [] for key in keys}  # every id a held record is carried under
        for child_id, record in self.records.items():
            if id(record) in by_record:
                held_ids[by_record[id(record)]].append(child_id)
        self.records = {i: record for i, record in self.records.items() if id(record) not in by_record}
        carried_as = {child_id: key for key in keys for child_id in (key, *held_ids[key])}
        known: dict[int, dict[str, int]] = {key: {} for key in keys}
        for value, child in self.known.items():
            if child in carried_as:
                known[carried_as[child]][value] = child
        self.known = {value: child for value, child in self.known.items() if child not in carried_as}
        owned: dict[int, dict[str, int | None]] = {key: {} for key in keys}  # None: the made record itself
        staying: dict[str, int | HeldRecord] = {}
        for value, owner in self.owners.items():
            key = by_record.get(id(owner)) if isinstance(owner, HeldRecord) else carried_as.get(owner)
            if key is None:
                staying[value] = owner
            else:
                owned[key][value] = None if isinstance(owner, HeldRecord) else owner
        self.owners = staying
        entries: list[tuple[int, bytes, list[Term]]] = []
        for key, record in spilled.items():
            found_by = self.changed.take(key)
            data = pickle.dumps((key, record, found_by, held_ids[key], known[key], owned[key]), pickle.HIGHEST_PROTOCOL)
            terms: list[Term] = [
                *((CHILD_ID, child_id) for child_id in {key, *held_ids[key]}),
                *((KEY, _term(k)) for k in (found_by[1] if found_by else ())),
                *((SOURCE_RECORD, value) for value in known[key]),
                *((OWNED, value) for value in owned[key]),
            ]
            entries.append((key, data, terms))
        if self.scratch is None:
            self.scratch = Scratch()
        self.scratch.put(entries)

    def _take_out(self, key: int) -> HeldRecord:
        """The record carried under this key, no longer in the order nor, if made, among those made."""
        del self.order[key]
        if key > 0:
            return self.records[key]
        record = self.created[-key - 1]
        assert record is not None  # in memory: it is in the order
        self.created[-key - 1] = None
        del self.numbers[id(record)]
        return record

    def _holds(self, child: int | HeldRecord) -> bool:
        """Whether a later batch needs this (a child's key, or a made record) carried: its record
        is carried, and so in memory when a batch keeps it (a batch recalls every spilled record
        it could meet); any other held record the batch reads from the index."""
        if isinstance(child, HeldRecord):
            return child.id in self.records if child.id is not None else id(child) in self.numbers
        return child in self.records if child > 0 else self.created[-child - 1] is not None


class Unwritten(Writes):
    """A dry run's writes: held records change as a load's would, and nothing is written.

    New children get no index id from the database (the dry run names them by their row), and
    `flush` leaves the held records as a load's flush leaves them (blocking keys refreshed) for
    the next batch, without a statement.
    """

    def reserve_index_ids(self, count: int) -> None:
        return

    def new_child(self, record: HeldRecord) -> None:
        self.new_children.append(record)

    def flush(self) -> None:
        for record in self.stale_keys.values():
            record.blocking_keys = self.keys_of(record, record.person())
        self._reset()


class Predicted:
    """A dry run's effects (see sources.loading.effects): each batch starts from what the batches
    before it carried, changes records in memory only, and carries what a load would have written
    to the next batch. What it carries is removed by `close`, when the dry run ends or fails."""

    changes_index = False
    overlaps = False

    def __init__(self, limit: int) -> None:
        self.carried = Carried(limit)

    def writes(self, now: datetime) -> Writes:
        return Unwritten(now)

    def held(self) -> tuple[dict[int, HeldRecord], list[HeldRecord | None], Changed]:
        carried = self.carried
        return dict(carried.records), carried.created, carried.changed

    def recall_for_rows(self, source_records: set[str], values: set[str], keys: Iterable[Key]) -> dict[int, HeldRecord]:
        """The batch's first recall: what earlier batches spilled that its rows could meet, as if
        it had never left memory, by the rows' source record ids, NHS numbers, UPNs, keys and
        identifiers."""
        return self.carried.recall(source_records=source_records, values=values, keys=list(keys))

    def recall_for_candidates(self, matched: Iterable[Matched], known: Iterable[int]) -> dict[int, HeldRecord]:
        """The batch's second recall: what was spilled of the held records the rows found, and of
        those their source record ids name."""
        return self.carried.recall(ids=set().union(*(m.survivors for m in matched), (i for i in known if i > 0)))

    def known(self, source_records: set[str]) -> dict[str, int]:
        known = self.carried.known
        return {i: known[i] for i in source_records if i in known}

    def owners(self, values: set[str]) -> dict[str, int | HeldRecord]:
        owners = self.carried.owners
        return {value: owners[value] for value in values if value in owners}

    def name_made(self, child: HeldRecord, row_number: int) -> None:
        """A child a dry run would make has no index id: the report names it by its row."""
        child.index_id = NEW_CHILD.format(row=row_number)

    def review(self, load: Load, row: ValidRow, resolution: Resolution, *, best_shielded: bool) -> None:
        """No review item: a source record id appears once in a file, so no later row of it could
        wait for the item."""
        return

    def batch_done(self, batch: Batch) -> None:
        """Carry what the batch would have written, for its later batches to find: the held
        records its rows changed, the records it made or changed in turn, and what finds them."""
        self.carried.keep(
            {i: record for i, record in batch.records.items() if id(record) in batch.touched},
            batch.recent,
            batch.known,
            batch.owners,
        )

    def end_involvements(self, load: Load, today: date) -> int:
        """Those a load would end, counted: the report names the same held children as the load's."""
        return db.session.scalar(select(func.count()).select_from(Involvement).where(not_supplied(load))) or 0

    def close(self) -> None:
        self.carried.close()
