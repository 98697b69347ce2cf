"""Changes to held records, collected and then written with a few statements for a whole batch.

The rules that change a record (sources.applying, records.new_record) say what changes through
a `Writes`; it changes the held record at once, so later rows of the same batch see the change,
and remembers what to write. `flush` writes new children first (their ids are needed by
everything else), then their rows, the changed rows, provenance and blocking keys.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, select, update

from index_service.children.held import (
    HeldAddress,
    HeldCarer,
    HeldIdentifier,
    HeldInvolvement,
    HeldName,
    HeldProvenance,
    HeldRecord,
    one_of,
)
from index_service.children.models import (
    Address,
    BlockingKey,
    CarerContact,
    Child,
    ChildName,
    FieldProvenance,
    Involvement,
    SourceIdentifier,
)
from index_service.database import insert_rows
from index_service.extensions import db
from index_service.index_ids import new_index_id
from matching.blocking import record_keys
from matching.person import Person

HeldRow = HeldName | HeldAddress | HeldCarer | HeldIdentifier | HeldInvolvement

TABLE_OF: dict[type, Table] = {
    HeldName: ChildName.__table__,  # type: ignore[dict-item]
    HeldAddress: Address.__table__,  # type: ignore[dict-item]
    HeldCarer: CarerContact.__table__,  # type: ignore[dict-item]
    HeldIdentifier: SourceIdentifier.__table__,  # type: ignore[dict-item]
    HeldInvolvement: Involvement.__table__,  # type: ignore[dict-item]
}
LIST_OF: dict[type, str] = {
    HeldName: "other_names",
    HeldAddress: "addresses",
    HeldCarer: "carers",
    HeldIdentifier: "identifiers",
    HeldInvolvement: "involvements",
}
CHILD_COLUMNS = (
    "index_id",
    "given_name",
    "middle_names",
    "family_name",
    "date_of_birth",
    "gender",
    "status",
    "is_shielded",
)
CHILDREN: Table = Child.__table__  # type: ignore[assignment]
PROVENANCE: Table = FieldProvenance.__table__  # type: ignore[assignment]
KEYS: Table = BlockingKey.__table__  # type: ignore[assignment]


COLUMNS_OF = {kind: tuple(f.name for f in fields(kind) if f.name != "id") for kind in TABLE_OF}


def _values(item: HeldRow) -> dict[str, Any]:
    return {name: getattr(item, name) for name in COLUMNS_OF[type(item)]}


class Writes:
    """What a batch changes, applied to the held records now and written to the database at `flush`.

    New rows are written without reading their ids back, so a batch's records are done with once
    flushed: the next batch reads its records afresh.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.index_ids: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self.new_children: list[HeldRecord] = []
        self.new_rows: list[tuple[HeldRecord, HeldRow]] = []
        self.changed_rows: dict[int, tuple[HeldRow, set[str]]] = {}
        self.changed_children: dict[int, tuple[HeldRecord, set[str]]] = {}
        self.provenance: dict[tuple[int, str], tuple[HeldRecord, str]] = {}
        self.stale_keys: dict[int, HeldRecord] = {}
        self._keys: dict[int, tuple[Person, set[int]]] = {}  # id of a record -> the keys last worked out for it

    def reserve_index_ids(self, count: int) -> None:
        """Check enough unused index ids for the new children to come in one query, not one each."""
        self.index_ids += unused_index_ids(count - len(self.index_ids))

    def new_child(self, record: HeldRecord) -> None:
        """A child not yet in the index: given an unused index id now, written whole at flush."""
        if not self.index_ids:
            self.reserve_index_ids(1)
        record.index_id = self.index_ids.pop()
        self.new_children.append(record)

    def add(self, record: HeldRecord, item: HeldRow) -> None:
        if item.supplied_at is None:
            item.supplied_at = self.now
        getattr(record, LIST_OF[type(item)]).append(item)
        self.new_rows.append((record, item))

    def change(self, item: HeldRow, **values: Any) -> None:
        for name, value in values.items():
            setattr(item, name, value)
        if item.id is not None:
            self.changed_rows.setdefault(id(item), (item, set()))[1].update(values)

    def change_child(self, record: HeldRecord, **values: Any) -> None:
        for name, value in values.items():
            setattr(record, name, value)
        if record.id is not None:
            self.changed_children.setdefault(id(record), (record, set()))[1].update(values)

    def supplied(self, record: HeldRecord, name: str, source_id: int | None) -> None:
        """The source is now the one that supplied this field of the child."""
        held = record.provenance.get(name)
        if held is None:
            record.provenance[name] = HeldProvenance(source_id, self.now, stored=False)
        else:
            held.source_id, held.supplied_at = source_id, self.now
        self.provenance[(id(record), name)] = (record, name)

    def keys_changed(self, record: HeldRecord) -> None:
        """The record's names, date of birth or postcodes changed: its blocking keys are refreshed at flush."""
        self.stale_keys[id(record)] = record

    def keys_of(self, record: HeldRecord, person: Person) -> set[int]:
        """The blocking keys the record (as matching sees it now: person) has once flushed: its
        details' keys if it is new or they changed, else those stored (which an index not
        refreshed since keys were last redefined may hold otherwise)."""
        if record.id is not None and id(record) not in self.stale_keys:
            return record.blocking_keys
        known = self._keys.get(id(record))
        if known is None or known[0] != person:
            known = self._keys[id(record)] = person, record_keys(person)
        return known[1]

    def flush(self) -> None:
        """Write everything collected, in an order that satisfies the foreign keys, and start again."""
        db.session.flush()
        self._insert_children()
        self._insert_rows()
        self._update_rows()
        self._update_children()
        self._write_provenance()
        self._write_keys()
        self._reset()

    def _insert_children(self) -> None:
        if not self.new_children:
            return
        rows = [{name: getattr(record, name) for name in CHILD_COLUMNS} for record in self.new_children]
        insert_rows(db.session.connection(), CHILDREN, rows)
        # One bulk insert and one query for the ids: INSERT ... RETURNING goes a row at a time on SQLite.
        ids = dict(
            db.session.execute(
                select(CHILDREN.c.index_id, CHILDREN.c.id).where(
                    one_of(CHILDREN.c.index_id, [record.index_id for record in self.new_children])
                )
            ).all()
        )
        for record in self.new_children:
            record.id = ids[record.index_id]
            for name in record.provenance:
                self.provenance[(id(record), name)] = (record, name)
            self.stale_keys[id(record)] = record

    def _insert_rows(self) -> None:
        by_table: dict[type, list[tuple[HeldRecord, HeldRow]]] = defaultdict(list)
        for record, item in self.new_rows:
            by_table[type(item)].append((record, item))
        for kind, pending in by_table.items():
            rows = [{**_values(item), "child_id": record.id} for record, item in pending]
            insert_rows(db.session.connection(), TABLE_OF[kind], rows)

    def _update_rows(self) -> None:
        groups: dict[tuple[type, frozenset[str]], list[dict[str, Any]]] = defaultdict(list)
        for item, names in self.changed_rows.values():
            groups[(type(item), frozenset(names))].append(
                {"row_id": item.id, **{f"new_{name}": getattr(item, name) for name in names}}
            )
        for (kind, names), rows in groups.items():
            table = TABLE_OF[kind]
            statement = (
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values({name: bindparam(f"new_{name}") for name in names})
            )
            db.session.execute(statement, rows)

    def _update_children(self) -> None:
        groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
        for record, names in self.changed_children.values():
            groups[frozenset(names)].append(
                {"row_id": record.id, **{f"new_{name}": getattr(record, name) for name in names}}
            )
        for names, rows in groups.items():
            statement = (
                update(CHILDREN)
                .where(CHILDREN.c.id == bindparam("row_id"))
                .values({name: bindparam(f"new_{name}") for name in names})
            )
            db.session.execute(statement, rows)

    def _write_provenance(self) -> None:
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for record, name in self.provenance.values():
            held = record.provenance[name]
            if held.stored:
                changed.append(
                    {
                        "row_child": record.id,
                        "row_field": name,
                        "new_source_id": held.source_id,
                        "new_supplied_at": held.supplied_at,
                    }
                )
            else:
                new.append(
                    {"child_id": record.id, "field": name, "source_id": held.source_id, "supplied_at": held.supplied_at}
                )
                held.stored = True
        insert_rows(db.session.connection(), PROVENANCE, new)
        if changed:
            same = and_(PROVENANCE.c.child_id == bindparam("row_child"), PROVENANCE.c.field == bindparam("row_field"))
            db.session.execute(
                update(PROVENANCE)
                .where(same)
                .values(source_id=bindparam("new_source_id"), supplied_at=bindparam("new_supplied_at")),
                changed,
            )

    def _write_keys(self) -> None:
        added: list[dict[str, int]] = []
        removed: list[dict[str, int]] = []
        for record in self.stale_keys.values():
            wanted = self.keys_of(record, record.person())
            removed += [{"row_child": record.id, "row_key": key} for key in record.blocking_keys - wanted]
            added += [{"child_id": record.id, "key": key} for key in wanted - record.blocking_keys]
            record.blocking_keys = wanted
        if removed:
            db.session.execute(
                delete(KEYS).where(and_(KEYS.c.child_id == bindparam("row_child"), KEYS.c.key == bindparam("row_key"))),
                removed,
            )
        insert_rows(db.session.connection(), KEYS, added)


def unused_index_ids(count: int) -> list[str]:
    """Index ids that no record holds, all different: one in a million clashes at a million children."""
    chosen: set[str] = set()
    while len(chosen) < count:
        wanted = {new_index_id() for _ in range(count - len(chosen))} - chosen
        chosen |= wanted - set(db.session.scalars(select(Child.index_id).where(one_of(Child.index_id, wanted))))
    return sorted(chosen)
