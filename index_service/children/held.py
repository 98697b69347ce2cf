"""A child record as plain data, read in a few queries for many children at once.

Bulk loads change thousands of records a minute; building ORM objects for each, and letting the
unit of work discover what changed, cost more than the matching. A held record is what the
rules that change a record need to read; what they change is collected in `writes.Writes` and
written with a handful of statements per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam, func, select

from index_service.children.models import (
    Address,
    BlockingKey,
    CarerContact,
    Child,
    ChildName,
    ChildStatus,
    FieldProvenance,
    Gender,
    IdentifierKind,
    Involvement,
    NameKind,
    Service,
    SourceIdentifier,
)
from index_service.extensions import db
from matching.person import OtherName, Person


@dataclass
class HeldName:
    kind: NameKind
    given_name: str | None
    family_name: str | None
    source_id: int | None
    supplied_at: datetime | None = None
    id: int | None = None


@dataclass
class HeldAddress:
    line1: str | None
    line2: str | None
    town: str | None
    postcode: str | None
    postcode_key: str | None
    is_current: bool
    source_id: int | None
    supplied_at: datetime | None = None
    id: int | None = None


@dataclass
class HeldCarer:
    name: str
    relationship_to_child: str | None
    phone: str | None
    source_id: int | None
    supplied_at: datetime | None = None
    id: int | None = None


@dataclass
class HeldIdentifier:
    kind: IdentifierKind
    value: str
    source_id: int | None
    supplied_at: datetime | None = None
    id: int | None = None


@dataclass
class HeldInvolvement:
    service: Service
    organisation_id: int
    role: str | None
    practitioner_name: str | None
    practitioner_phone: str | None
    practitioner_email: str | None
    start_date: date | None
    end_date: date | None
    is_lead_professional: bool
    has_early_help_assessment: bool
    source_id: int | None
    supplied_at: datetime | None = None
    id: int | None = None


@dataclass
class HeldProvenance:
    source_id: int | None
    supplied_at: datetime | None
    stored: bool = True


@dataclass
class HeldRecord:
    """One child and what it holds; `id` is None until a new child is written.

    `involvements` holds only those of the sources that were asked for when it was read.
    """

    index_id: str
    given_name: str
    middle_names: str | None
    family_name: str
    date_of_birth: date
    gender: Gender
    status: ChildStatus = ChildStatus.ACTIVE
    is_shielded: bool = False
    merged_into_id: int | None = None
    id: int | None = None
    provenance: dict[str, HeldProvenance] = field(default_factory=dict)
    other_names: list[HeldName] = field(default_factory=list)
    addresses: list[HeldAddress] = field(default_factory=list)
    carers: list[HeldCarer] = field(default_factory=list)
    identifiers: list[HeldIdentifier] = field(default_factory=list)
    involvements: list[HeldInvolvement] = field(default_factory=list)
    blocking_keys: set[int] = field(default_factory=set)

    @property
    def current_address(self) -> HeldAddress | None:
        return next((address for address in self.addresses if address.is_current), None)

    def person(self) -> Person:
        """The record as matching sees it, household (address line and carers) included."""
        return person_of(self, household=True)


def person_of(record: Child | HeldRecord, *, household: bool = False) -> Person:
    """A record, stored or held (they have the same shape), as matching sees it.

    The household (address line, carers) is for linkage; search never reads it, so it is left
    out there rather than loading every candidate's carers.
    """
    current = next((address for address in record.addresses if address.is_current), None)
    return Person(
        given_name=record.given_name,
        family_name=record.family_name,
        middle_names=record.middle_names,
        other_names=tuple(OtherName(n.given_name, n.family_name) for n in record.other_names),
        date_of_birth=record.date_of_birth,
        gender=record.gender.value,
        postcode=current.postcode_key if current else None,
        previous_postcodes=tuple(a.postcode_key for a in record.addresses if not a.is_current and a.postcode_key),
        identifiers=frozenset(
            (i.kind.value, i.value) for i in record.identifiers if i.kind is not IdentifierKind.SOURCE_RECORD
        ),
        address_line=current.line1 if household and current else None,
        carer_names=tuple(carer.name for carer in record.carers) if household else (),
    )


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, for the thousands of values a load asks about at once.

    The values go as one parameter: an array on PostgreSQL (`= ANY(...)`), a JSON list read by
    `json_each` on SQLite. With a parameter each, every query was new text to render and parse,
    and that cost more than the query.
    """
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    listed = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")
    return column.in_(select(listed.c.value))


def _table_rows(model: type, ids: list[int], *criteria: Any) -> Iterable[Any]:
    """Every row of the model's table for these children, oldest first."""
    table = model.__table__  # type: ignore[attr-defined]
    return db.session.execute(
        select(table).where(one_of(table.c.child_id, ids), *criteria).order_by(*table.primary_key.columns))


def read_held(ids: Iterable[int], source_ids: Iterable[int] = ()) -> dict[int, HeldRecord]:
    """The records with these ids, with the involvements the given sources supplied, in eight queries."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    sources = list(source_ids)
    held = {
        row.id: HeldRecord(
            id=row.id, index_id=row.index_id, given_name=row.given_name, middle_names=row.middle_names,
            family_name=row.family_name, date_of_birth=row.date_of_birth, gender=row.gender, status=row.status,
            is_shielded=row.is_shielded, merged_into_id=row.merged_into_id,
        )
        for row in db.session.execute(select(Child.__table__).where(one_of(Child.__table__.c.id, ids)))
    }
    for row in _table_rows(FieldProvenance, ids):
        held[row.child_id].provenance[row.field] = HeldProvenance(row.source_id, row.supplied_at)
    for row in _table_rows(ChildName, ids):
        held[row.child_id].other_names.append(HeldName(
            NameKind(row.kind), row.given_name, row.family_name, row.source_id, row.supplied_at, row.id))
    for row in _table_rows(Address, ids):
        held[row.child_id].addresses.append(HeldAddress(
            row.line1, row.line2, row.town, row.postcode, row.postcode_key, row.is_current, row.source_id,
            row.supplied_at, row.id))
    for row in _table_rows(CarerContact, ids):
        held[row.child_id].carers.append(HeldCarer(
            row.name, row.relationship_to_child, row.phone, row.source_id, row.supplied_at, row.id))
    for row in _table_rows(SourceIdentifier, ids):
        held[row.child_id].identifiers.append(HeldIdentifier(
            IdentifierKind(row.kind), row.value, row.source_id, row.supplied_at, row.id))
    for row in _table_rows(Involvement, ids, one_of(Involvement.__table__.c.source_id, sources)) if sources else ():
        held[row.child_id].involvements.append(HeldInvolvement(
            Service(row.service), row.organisation_id, row.role, row.practitioner_name, row.practitioner_phone,
            row.practitioner_email, row.start_date, row.end_date, row.is_lead_professional,
            row.has_early_help_assessment, row.source_id, row.supplied_at, row.id))
    for row in _table_rows(BlockingKey, ids):
        held[row.child_id].blocking_keys.add(row.key)
    return held
