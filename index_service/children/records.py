"""Creating child records with their provenance and blocking keys: one way for the demo data,
the tests, a review decision and a bulk load alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from index_service.children.held import (
    HeldAddress,
    HeldCarer,
    HeldIdentifier,
    HeldInvolvement,
    HeldName,
    HeldRecord,
)
from index_service.children.models import Child, Gender, IdentifierKind, NameKind, Service
from index_service.children.writes import Writes
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisation_models import Organisation
from matching.normalise import format_postcode, normalise_postcode


class Supplier(Protocol):
    """What a record needs of the source that supplies it (a sources.models.DataSource): its id."""

    id: int


IDENTITY_FIELDS = ("given_name", "middle_names", "family_name", "date_of_birth", "gender")


@dataclass(frozen=True)
class AddressSpec:
    line1: str | None
    town: str | None
    postcode: str | None
    line2: str | None = None


@dataclass(frozen=True)
class InvolvementSpec:
    service: Service
    organisation: str
    role: str | None = None
    practitioner_name: str | None = None
    practitioner_phone: str | None = None
    practitioner_email: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    is_lead_professional: bool = False
    has_early_help_assessment: bool = False


@dataclass(frozen=True)
class ChildSpec:
    given_name: str
    family_name: str
    date_of_birth: date
    gender: Gender
    middle_names: str | None = None
    other_names: tuple[tuple[NameKind, str | None, str | None], ...] = ()
    address: AddressSpec | None = None
    previous_addresses: tuple[AddressSpec, ...] = ()
    carers: tuple[tuple[str, str | None, str | None], ...] = ()
    nhs_number: str | None = None
    upn: str | None = None
    source_record_id: str | None = None
    involvements: tuple[InvolvementSpec, ...] = field(default_factory=tuple)
    is_shielded: bool = False


def held_address(spec: AddressSpec, is_current: bool, source_id: int | None) -> HeldAddress:
    compact = normalise_postcode(spec.postcode)
    return HeldAddress(
        line1=spec.line1,
        line2=spec.line2,
        town=spec.town,
        postcode=format_postcode(compact) if compact else spec.postcode,
        postcode_key=compact,
        is_current=is_current,
        source_id=source_id,
    )


def new_record(spec: ChildSpec, source_id: int | None, organisation_ids: dict[str, int], writes: Writes) -> HeldRecord:
    """A new child, everything it holds and its provenance, to be written at the writes' flush."""
    record = HeldRecord(
        index_id="",
        given_name=spec.given_name,
        middle_names=spec.middle_names,
        family_name=spec.family_name,
        date_of_birth=spec.date_of_birth,
        gender=spec.gender,
        is_shielded=spec.is_shielded,
    )
    writes.new_child(record)
    for kind, given, family in spec.other_names:
        writes.add(record, HeldName(kind, given, family, source_id))
    if spec.address:
        writes.add(record, held_address(spec.address, True, source_id))
    for previous in spec.previous_addresses:
        writes.add(record, held_address(previous, False, source_id))
    for name, relation, phone in spec.carers:
        writes.add(record, HeldCarer(name, relation, phone, source_id))
    for kind, value in (
        (IdentifierKind.NHS_NUMBER, spec.nhs_number),
        (IdentifierKind.UPN, spec.upn),
        (IdentifierKind.SOURCE_RECORD, spec.source_record_id),
    ):
        if value:
            writes.add(record, HeldIdentifier(kind, value, source_id))
    for item in spec.involvements:
        writes.add(
            record,
            HeldInvolvement(
                item.service,
                organisation_ids[item.organisation],
                item.role,
                item.practitioner_name,
                item.practitioner_phone,
                item.practitioner_email,
                item.start_date,
                item.end_date,
                item.is_lead_professional,
                item.has_early_help_assessment,
                source_id,
            ),
        )
    for name in IDENTITY_FIELDS:
        if getattr(spec, name) is not None:
            writes.supplied(record, name, source_id)
    return record


def create_child(spec: ChildSpec, source: Supplier | None, organisations: dict[str, Organisation]) -> Child:
    """Add a new child, everything it holds, its provenance and its blocking keys, now."""
    db.session.flush()
    writes = Writes(utcnow())
    record = new_record(spec, source.id if source else None, {name: o.id for name, o in organisations.items()}, writes)
    writes.flush()
    return db.session.get_one(Child, record.id)
