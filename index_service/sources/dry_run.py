"""A dry run: a load's rows decided and applied to held records in memory, nothing written.

A dry run must predict what a load of the same file would report, row for row, however it is
cut into batches. A load's later batch reads from the database what its earlier batches wrote;
a dry run writes nothing (no child, name, key, review item or shielding decision: only its own
report rows and position, batch by batch, so that its progress shows), so it carries what its
earlier batches would have written from one batch to the next instead (`Carried`), and its
batches apply their rows through `Unwritten`, which changes the held records as `Writes` does
and writes none of it.

Not writing at all, rather than writing each batch and rolling it back, is what lets a later
batch see the earlier ones: a rolled-back batch leaves nothing to find, and ids its inserts took
may be given out again. One transaction over the whole dry run would also do, but on SQLite it
would hold the write lock, and so stop the web service, for as long as the dry run lasts.

What is carried is lost if the dry run stops: a dry run run again starts from its first row
(`loading.run_load`).

Its memory is bounded by a cap on the records carried (DRY_RUN_CARRIED_RECORDS), the oldest
forgotten first. A carried record costs some kilobytes (the record whole as the rules that change
it read it, its person and keys: about 6 KB a record made or changed, see the README's load
figures), so an uncapped dry run of a million-row extract would need gigabytes. Under the cap
the dry run is exact. Over it, it forgets the record made or changed longest ago (a made child,
or a held record with the changes its rows made) and everything that finds it (its source record
ids, NHS numbers and UPNs): a later row that a load would link to a forgotten made child is
predicted as new, one a load would send to review beside it may be predicted as linked to the
other candidate, and one meeting a forgotten held record meets it as the index holds it, without
the dry run's earlier changes. The load's summary says from which row on
that can happen (`forgetting_after`).

A cap was chosen over spilling the carried records to a temporary SQLite file, which would keep
the dry run exact: that needs the held record's whole shape (names, addresses, identifiers,
involvements, provenance) written out and read back, and an index of the keys and identifiers
they would be stored with searched for every row, for a prediction that differs from the exact
one only where a row meets a record last touched tens of thousands of rows before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from index_service.children.held import HeldRecord
from index_service.children.writes import Writes
from index_service.sources.changed import Changed

NEW_CHILD = "(new from row {row})"  # a child a dry run would make: it has no index id


@dataclass
class Carried:
    """What a dry run's earlier batches would have written, as its later batches would read it.

    Made children are numbered -1, -2, ... over the whole dry run (`created`), so that a later
    batch finds them through `changed` as it finds those its own rows made. A record is carried
    under its key: its id if held, minus its number if made; at most `limit` of them.
    """

    limit: int
    created: list[HeldRecord | None] = field(default_factory=list)  # None: forgotten
    # Made children, and held records whose names, date of birth, addresses, identifiers or
    # shielding changed: found through the keys and identifiers they would be stored with.
    changed: Changed = field(default_factory=Changed)
    # Every held record a row changed in any way, by its id (and the ids merged into it), so that
    # a later batch applies its rows to the record as changed rather than as read again.
    records: dict[int, HeldRecord] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)  # source record id -> its child (minus its number if made)
    # NHS number or UPN -> the record this source gave it for (a held one's id, or a made record).
    owners: dict[str, int | HeldRecord] = field(default_factory=dict)
    # The keys of the records carried, the one made or changed longest ago first.
    order: dict[int, None] = field(default_factory=dict)
    numbers: dict[int, int] = field(default_factory=dict)  # id() of a made record carried -> its key
    forgetting_after: int | None = None  # the last row of the batch that first forgot a record

    def keep(self, records: dict[int, HeldRecord], keys: list[int], known: dict[str, int],
             owners: dict[str, int | HeldRecord], last_row: int) -> None:
        """Carry a batch's changed held records (by id), the keys of the records it made or
        changed in the order it did, and what finds them; then forget the oldest over the limit."""
        self.records |= records
        for key in keys:
            if key < 0:
                self.numbers[id(self.created[-key - 1])] = key
            self.order.pop(key, None)
            self.order[key] = None
        if len(self.order) > self.limit:
            self._forget(list(islice(self.order, len(self.order) - self.limit)))
            self.forgetting_after = self.forgetting_after or last_row
        self.known |= {value: child for value, child in known.items() if self._holds(child)}
        self.owners |= {value: owner.id if isinstance(owner, HeldRecord) and owner.id is not None else owner
                        for value, owner in owners.items() if self._holds(owner)}

    def _forget(self, keys: list[int]) -> None:
        gone: set[int] = set()  # id() of each record forgotten
        for key in keys:
            del self.order[key]
            self.changed.forget(key)
            if key < 0:
                record = self.created[-key - 1]
                self.created[-key - 1] = None
                del self.numbers[id(record)]
            else:
                record = self.records[key]
            gone.add(id(record))
        self.records = {i: record for i, record in self.records.items() if id(record) not in gone}
        self.known = {value: child for value, child in self.known.items() if self._holds(child)}
        self.owners = {value: owner for value, owner in self.owners.items() if self._holds(owner)}

    def _holds(self, child: int | HeldRecord) -> bool:
        """Whether a later batch needs this (a child's key, or a made record) carried: it is
        carried; any other held record the batch reads from the index."""
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
