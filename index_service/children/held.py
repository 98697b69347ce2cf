"""A child record as plain data, read in a few queries for many children at once.

Bulk loads change thousands of records a minute; building ORM objects for each, and letting the
unit of work discover what changed, cost more than the matching. A held record is what the
rules that change a record need to read; what they change is collected in `writes.Writes` and
written with a handful of statements per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select

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
from index_service.sql_helpers import one_of
from matching.person import OtherName, Person


@dataclass
class HeldName:
    kind: NameKind
    given_name: str | None
    family_name: str | None
    source_id: int | None
    id: int | None = None
    supplied_at: datetime | None = None


@dataclass
class HeldAddress:
    line1: str | None
    line2: str | None
    town: str | None
    postcode: str | None
    postcode_key: str | None
    is_current: bool
    source_id: int | None
    id: int | None = None
    supplied_at: datetime | None = None


@dataclass
class HeldCarer:
    name: str
    relationship_to_child: str | None
    phone: str | None
    source_id: int | None
    id: int | None = None
    supplied_at: datetime | None = None


@dataclass
class HeldIdentifier:
    kind: IdentifierKind
    value: str
    source_id: int | None
    id: int | None = None
    supplied_at: datetime | None = None


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
    id: int | None = None
    supplied_at: datetime | None = None


@dataclass
class HeldProvenance:
    source_id: int | None
    supplied_at: datetime | None
    stored: bool = True


@dataclass
class HeldRecord:
    """One child and what it holds; `id` is None until a new child is written.

    `involvements` holds only those of the sources that were asked for when it was read. The
    `supplied_at` of what it holds is None until a change sets it: `read_held` leaves it unread.
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


Row = TypeVar("Row", HeldName, HeldAddress, HeldCarer, HeldIdentifier, HeldInvolvement)


def _held_rows(model: type, kind: type[Row], ids: list[int], *criteria: Any) -> Iterator[tuple[int, Row]]:
    """Every row of the model's table for these children, oldest first, as held rows.

    Each column is read into the field of its name, in the fields' order, except `supplied_at`:
    no rule reads when a value was supplied (a change sets it anew), and reading it was a sixth
    of reading a record, each value a date and time parsed from text on SQLite.
    """
    names = [field.name for field in fields(kind)]
    assert names[-1] == "supplied_at"  # the fields before it are given in order
    table = model.__table__  # type: ignore[attr-defined]
    for child_id, *values in db.session.execute(
        select(table.c.child_id, *(table.c[name] for name in names[:-1]))
        .where(one_of(table.c.child_id, ids), *criteria)
        .order_by(*table.primary_key.columns)
    ):
        yield child_id, kind(*values)


def read_held(ids: Iterable[int], source_ids: Iterable[int] = ()) -> dict[int, HeldRecord]:
    """The records with these ids, with the involvements the given sources supplied, in eight
    queries; rows' and provenance's `supplied_at` are left unread (see _held_rows)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    sources = list(source_ids)
    child, provenance, keys = (model.__table__.c for model in (Child, FieldProvenance, BlockingKey))
    held = {
        child_id: HeldRecord(
            id=child_id,
            index_id=index_id,
            given_name=given,
            middle_names=middle,
            family_name=family,
            date_of_birth=born,
            gender=gender,
            status=status,
            is_shielded=shielded,
            merged_into_id=merged_into_id,
        )
        # Rows unpacked as tuples: reading each value by its name cost more than the query.
        for child_id, index_id, given, middle, family, born, gender, status, shielded, merged_into_id in (
            db.session.execute(
                select(
                    child.id,
                    child.index_id,
                    child.given_name,
                    child.middle_names,
                    child.family_name,
                    child.date_of_birth,
                    child.gender,
                    child.status,
                    child.is_shielded,
                    child.merged_into_id,
                ).where(one_of(child.id, ids))
            )
        )
    }
    for child_id, name, source_id in db.session.execute(
        select(provenance.child_id, provenance.field, provenance.source_id)
        .where(one_of(provenance.child_id, ids))
        .order_by(provenance.child_id, provenance.field)
    ):
        held[child_id].provenance[name] = HeldProvenance(source_id, None)
    for child_id, other_name in _held_rows(ChildName, HeldName, ids):
        held[child_id].other_names.append(other_name)
    for child_id, address in _held_rows(Address, HeldAddress, ids):
        held[child_id].addresses.append(address)
    for child_id, carer in _held_rows(CarerContact, HeldCarer, ids):
        held[child_id].carers.append(carer)
    for child_id, identifier in _held_rows(SourceIdentifier, HeldIdentifier, ids):
        held[child_id].identifiers.append(identifier)
    for child_id, involvement in (
        _held_rows(Involvement, HeldInvolvement, ids, one_of(Involvement.__table__.c.source_id, sources))
        if sources
        else ()
    ):
        held[child_id].involvements.append(involvement)
    for child_id, key in db.session.execute(select(keys.child_id, keys.key).where(one_of(keys.child_id, ids))):
        held[child_id].blocking_keys.add(key)
    return held
