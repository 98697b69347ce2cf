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

The carried state grows with the records the dry run makes or changes (about a kilobyte or two
each: see the README's load figures), and is lost if the dry run stops: a dry run run again
starts from its first row (`loading.run_load`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from index_service.children.held import HeldRecord
from index_service.children.writes import Writes
from index_service.sources.changed import Changed

NEW_CHILD = "(new from row {row})"  # a child a dry run would make: it has no index id


@dataclass
class Carried:
    """What a dry run's earlier batches would have written, as its later batches would read it.

    Made children are numbered -1, -2, ... over the whole dry run (`created`), so that a later
    batch finds them through `changed` as it finds those its own rows made.
    """

    created: list[HeldRecord] = field(default_factory=list)
    # Made children, and held records whose names, date of birth, addresses, identifiers or
    # shielding changed: found through the keys and identifiers they would be stored with.
    changed: Changed = field(default_factory=Changed)
    # Every held record a row changed in any way, by its id (and the ids merged into it), so that
    # a later batch applies its rows to the record as changed rather than as read again.
    records: dict[int, HeldRecord] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)  # source record id -> its child (minus its number if made)
    # NHS number or UPN -> the record this source gave it for (a held one's id, or a made record).
    owners: dict[str, int | HeldRecord] = field(default_factory=dict)


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
