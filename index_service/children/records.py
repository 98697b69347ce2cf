"""Creating child records with their provenance and blocking keys (demo data and tests now;
the bulk loads of a later issue write through the same function)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import exists, select

from index_service.children.index_ids import new_index_id
from index_service.children.lookup import refresh_blocking_keys
from index_service.children.models import (
    Address,
    CarerContact,
    Child,
    ChildName,
    DataSource,
    FieldProvenance,
    Gender,
    IdentifierKind,
    Involvement,
    NameKind,
    Service,
    SourceIdentifier,
)
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisations.models import Organisation
from matching.normalise import format_postcode, normalise_postcode


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


def _address(spec: AddressSpec, is_current: bool, source: DataSource | None) -> Address:
    compact = normalise_postcode(spec.postcode)
    return Address(
        line1=spec.line1,
        line2=spec.line2,
        town=spec.town,
        postcode=format_postcode(compact) if compact else spec.postcode,
        postcode_key=compact,
        is_current=is_current,
        source=source,
    )


def unused_index_id() -> str:
    """A new index id that no record holds: one in a million clashes at a million children, so check."""
    while True:
        candidate = new_index_id()
        if not db.session.scalar(select(exists().where(Child.index_id == candidate))):
            return candidate


def create_child(spec: ChildSpec, source: DataSource | None, organisations: dict[str, Organisation]) -> Child:
    """Add a new child, everything it holds, its provenance and its blocking keys."""
    now = utcnow()
    child = Child(
        index_id=unused_index_id(),
        given_name=spec.given_name,
        middle_names=spec.middle_names,
        family_name=spec.family_name,
        date_of_birth=spec.date_of_birth,
        gender=spec.gender,
        is_shielded=spec.is_shielded,
    )
    child.other_names = [ChildName(kind=k, given_name=g, family_name=f, source=source) for k, g, f in spec.other_names]
    child.addresses = ([_address(spec.address, True, source)] if spec.address else []) + [
        _address(previous, False, source) for previous in spec.previous_addresses
    ]
    child.carers = [
        CarerContact(name=name, relationship_to_child=relation, phone=phone, source=source)
        for name, relation, phone in spec.carers
    ]
    identifiers = [
        (IdentifierKind.NHS_NUMBER, spec.nhs_number),
        (IdentifierKind.UPN, spec.upn),
        (IdentifierKind.SOURCE_RECORD, spec.source_record_id),
    ]
    child.identifiers = [SourceIdentifier(kind=k, value=v, source=source) for k, v in identifiers if v]
    child.involvements = [
        Involvement(
            service=item.service,
            organisation=organisations[item.organisation],
            role=item.role,
            practitioner_name=item.practitioner_name,
            practitioner_phone=item.practitioner_phone,
            practitioner_email=item.practitioner_email,
            start_date=item.start_date,
            end_date=item.end_date,
            is_lead_professional=item.is_lead_professional,
            has_early_help_assessment=item.has_early_help_assessment,
            source=source,
        )
        for item in spec.involvements
    ]
    child.provenance = [
        FieldProvenance(field=name, source=source, supplied_at=now)
        for name in ("given_name", "middle_names", "family_name", "date_of_birth", "gender")
        if getattr(spec, name) is not None
    ]
    db.session.add(child)
    refresh_blocking_keys(child)
    return child
