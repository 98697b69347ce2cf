"""The records a load's batch has made or changed, as the index will hold them once it is written.

A batch decides its rows in file order, each against the index as the rows before it left
it, so that a row's outcome does not depend on where the file was cut into batches. The
blocking keys and identifiers in the database are those of the batch's start: a record that
a row of the batch made or changed is found instead through the keys it will have once
written (`Writes.keys_of`, the very keys `Writes` stores for it) and the identifiers it now
holds, and compared as it now stands.
"""

from __future__ import annotations

from collections.abc import Iterable

from index_service.children.held import HeldRecord
from matching.person import Person

Key = int | tuple[str, str]  # a blocking key, or an identifier (kind, value)


class Changed:
    """Records made (under minus their number in the batch, until written) or changed by a batch.

    Each key's records are a tuple, and each record's keys too: nearly every key finds one record,
    and a dry run carries tens of thousands of records (sources.loading.dry_run), where a set for each of
    their dozens of keys cost more than the record itself.
    """

    def __init__(self) -> None:
        self.records: dict[int, HeldRecord] = {}
        self.people: dict[int, Person] = {}
        self._keys: dict[int, tuple[Key, ...]] = {}
        self._by_key: dict[Key, tuple[int, ...]] = {}

    def __contains__(self, child_id: object) -> bool:
        return child_id in self.records

    def note(self, child_id: int, record: HeldRecord, person: Person, blocking_keys: set[int]) -> None:
        """The record was made, or a row changed who it is, where it lives or whether it is
        shielded: person is the record as matching now sees it, blocking_keys those it will be
        stored with."""
        self.put(child_id, record, person, (*blocking_keys, *person.identifiers))

    def put(self, child_id: int, record: HeldRecord, person: Person, keys: Iterable[Key]) -> None:
        """Find the record through these keys and identifiers: as noted, or as it was found when
        a dry run spilled it (see sources.loading.dry_run)."""
        found_by = frozenset(keys)
        self.records[child_id] = record
        self.people[child_id] = person
        if frozenset(self._keys.get(child_id, ())) == found_by:
            return
        self._unfind(child_id)
        for key in found_by:
            self._by_key[key] = (*self._by_key.get(key, ()), child_id)
        self._keys[child_id] = tuple(found_by)

    def take(self, child_id: int) -> tuple[Person, tuple[Key, ...]] | None:
        """No longer find the record (a dry run spills it: see sources.loading.dry_run); how it was found,
        if it was."""
        if child_id not in self.records:
            return None
        del self.records[child_id]
        self._unfind(child_id)
        return self.people.pop(child_id), self._keys.pop(child_id)

    def _unfind(self, child_id: int) -> None:
        for key in self._keys.get(child_id, ()):
            rest = tuple(i for i in self._by_key[key] if i != child_id)
            if rest:
                self._by_key[key] = rest
            else:
                del self._by_key[key]

    def found(self, keys: Iterable[Key]) -> set[int]:
        """The records holding any of these keys or identifiers now."""
        return {child_id for key in keys for child_id in self._by_key.get(key, ())}
