"""Writing one validated row into the index: a new child, or what a source says of a known one.

The rules that keep data safe live here. A blank value is "not supplied" and never erases.
A source may correct the fields it supplied itself; a name another source supplied is kept,
and the new one becomes an other name, so that two sources cannot flip a child's identity
back and forth. A move keeps the old address as a previous one, for matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from index_service.children.lookup import person_of, refresh_blocking_keys
from index_service.children.models import (
    Address,
    CarerContact,
    Child,
    ChildName,
    ChildStatus,
    DataSource,
    FieldProvenance,
    Gender,
    IdentifierKind,
    Involvement,
    NameKind,
    SourceIdentifier,
)
from index_service.children.records import AddressSpec, ChildSpec, InvolvementSpec, create_child
from index_service.sources.validation import ValidRow
from matching.normalise import name_key, normalise_postcode
from matching.person import Person

IDENTITY_FIELDS = ("given_name", "middle_names", "family_name", "date_of_birth", "gender")


@dataclass
class Applied:
    """What applying a row did: whether anything changed, and notes for the report."""

    changed: bool = False
    new_link: bool = False
    notes: list[str] = field(default_factory=list)


def person_of_row(row: ValidRow) -> Person:
    """The row as matching sees it, household included."""
    identifiers = {("nhs_number", row.nhs_number), ("upn", row.upn)}
    return Person(
        given_name=row.given_name,
        family_name=row.family_name,
        middle_names=row.middle_names,
        date_of_birth=row.date_of_birth,
        gender=row.gender,
        postcode=normalise_postcode(row.postcode),
        identifiers=frozenset((kind, value) for kind, value in identifiers if value),
        address_line=row.address_line1,
        carer_names=(row.parent_carer_name,) if row.parent_carer_name else (),
    )


def person_for_linkage(child: Child) -> Person:
    """A child as linkage sees it: search's view plus the household (address line, carers)."""
    current = child.current_address
    return replace(
        person_of(child),
        address_line=current.line1 if current else None,
        carer_names=tuple(carer.name for carer in child.carers),
    )


def _address_spec(row: ValidRow) -> AddressSpec | None:
    if not (row.address_line1 or row.postcode or row.town):
        return None
    return AddressSpec(line1=row.address_line1, line2=row.address_line2, town=row.town, postcode=row.postcode)


def _involvement_spec(row: ValidRow, source: DataSource) -> InvolvementSpec:
    return InvolvementSpec(
        service=source.service,
        organisation=source.involvement_organisation.name,
        role=row.involvement_role or source.involvement_role,
        practitioner_name=row.practitioner_name,
        practitioner_phone=row.practitioner_phone or source.involvement_organisation.phone,
        practitioner_email=row.practitioner_email,
        start_date=row.involvement_start_date,
        end_date=row.involvement_end_date,
        is_lead_professional=bool(row.lead_professional),
        has_early_help_assessment=bool(row.early_help_assessment),
    )


def create_from_row(row: ValidRow, source: DataSource) -> Child:
    """A new child from a row that matched nobody (or that a data administrator said is new)."""
    spec = ChildSpec(
        given_name=row.given_name,
        family_name=row.family_name,
        middle_names=row.middle_names,
        date_of_birth=row.date_of_birth,
        gender=Gender(row.gender),
        address=_address_spec(row),
        carers=((row.parent_carer_name, None, row.parent_carer_phone),) if row.parent_carer_name else (),
        nhs_number=row.nhs_number,
        upn=row.upn,
        source_record_id=row.source_record_id,
        involvements=(_involvement_spec(row, source),),
    )
    child = create_child(spec, source, {source.involvement_organisation.name: source.involvement_organisation})
    if row.over_age:
        child.status = ChildStatus.ARCHIVED
    return child


class _Update:
    """Applies one row to one child, noting every change."""

    def __init__(self, child: Child, row: ValidRow, source: DataSource, now: datetime) -> None:
        self.child, self.row, self.source, self.now = child, row, source, now
        self.applied = Applied()
        self.keys_stale = False
        self.provenance = {item.field: item for item in child.provenance}

    def _supplied_by_source(self, name: str) -> bool:
        held = self.provenance.get(name)
        return held is not None and held.source_id == self.source.id

    def _set(self, name: str, value: object) -> None:
        setattr(self.child, name, value)
        held = self.provenance.get(name)
        if held is None:
            held = FieldProvenance(field=name)
            self.child.provenance.append(held)
            self.provenance[name] = held
        held.source = self.source
        held.supplied_at = self.now
        self.applied.changed = True
        self.keys_stale = True

    def _add_other_name(self, kind: NameKind, given: str | None, family: str | None) -> None:
        wanted = (name_key(given), name_key(family))
        if any((name_key(o.given_name), name_key(o.family_name)) == wanted for o in self.child.other_names):
            return
        self.child.other_names.append(
            ChildName(kind=kind, given_name=given, family_name=family, source=self.source, supplied_at=self.now)
        )
        self.applied.changed = True
        self.keys_stale = True

    def names(self) -> None:
        row, child = self.row, self.child
        if name_key(row.given_name) != name_key(child.given_name):
            if self._supplied_by_source("given_name"):
                self._set("given_name", row.given_name)
            else:
                self._add_other_name(NameKind.ALIAS, row.given_name, None)
        if name_key(row.family_name) != name_key(child.family_name):
            if self._supplied_by_source("family_name"):
                self._add_other_name(NameKind.FORMER, None, child.family_name)
                self._set("family_name", row.family_name)
            else:
                self._add_other_name(NameKind.ALIAS, None, row.family_name)
        differs = row.middle_names and name_key(row.middle_names) != name_key(child.middle_names)
        if differs and (child.middle_names is None or self._supplied_by_source("middle_names")):
            self._set("middle_names", row.middle_names)

    def date_of_birth_and_gender(self) -> None:
        row, child = self.row, self.child
        if row.date_of_birth != child.date_of_birth:
            if self._supplied_by_source("date_of_birth"):
                self._set("date_of_birth", row.date_of_birth)
            else:
                self.applied.notes.append("date of birth differs from the index's; the index's is kept")
        if row.gender != Gender.UNKNOWN and row.gender != child.gender.value and (
            child.gender is Gender.UNKNOWN or self._supplied_by_source("gender")
        ):
            self._set("gender", Gender(row.gender))

    def identifiers(self) -> None:
        held = {(i.kind, i.value, i.source_id) for i in self.child.identifiers}
        wanted = [
            (IdentifierKind.NHS_NUMBER, self.row.nhs_number),
            (IdentifierKind.UPN, self.row.upn),
            (IdentifierKind.SOURCE_RECORD, self.row.source_record_id),
        ]
        for kind, value in wanted:
            if value and (kind, value, self.source.id) not in held:
                self.child.identifiers.append(
                    SourceIdentifier(kind=kind, value=value, source=self.source, supplied_at=self.now)
                )
                self.applied.changed = True
                if kind is IdentifierKind.SOURCE_RECORD:
                    self.applied.new_link = True

    def address(self) -> None:
        spec = _address_spec(self.row)
        if spec is None:
            return
        current = self.child.current_address
        postcode = normalise_postcode(spec.postcode)
        if current is not None and (postcode is None or postcode == current.postcode_key) and (
            spec.line1 is None or name_key(spec.line1) == name_key(current.line1)
        ):
            for name in ("line2", "town"):
                value = getattr(spec, name)
                if value and getattr(current, name) is None:
                    setattr(current, name, value)
                    self.applied.changed = True
            return
        if current is not None:
            current.is_current = False
        formatted = postcode[:-3] + " " + postcode[-3:] if postcode else None
        self.child.addresses.append(
            Address(line1=spec.line1, line2=spec.line2, town=spec.town, postcode=formatted, postcode_key=postcode,
                    is_current=True, source=self.source, supplied_at=self.now)
        )
        self.applied.changed = True
        self.keys_stale = True

    def carer(self) -> None:
        name, phone = self.row.parent_carer_name, self.row.parent_carer_phone
        if not name:
            return
        for carer in self.child.carers:
            if name_key(carer.name) == name_key(name):
                if phone and carer.phone != phone and (carer.phone is None or carer.source_id == self.source.id):
                    carer.phone = phone
                    carer.source = self.source
                    carer.supplied_at = self.now
                    self.applied.changed = True
                return
        self.child.carers.append(CarerContact(name=name, phone=phone, source=self.source, supplied_at=self.now))
        self.applied.changed = True

    def involvement(self) -> None:
        spec = _involvement_spec(self.row, self.source)
        held = next(
            (i for i in self.child.involvements if i.source_id == self.source.id and i.service == spec.service),
            None,
        )
        if held is None:
            self.child.involvements.append(
                Involvement(
                    service=spec.service, organisation=self.source.involvement_organisation, role=spec.role,
                    practitioner_name=spec.practitioner_name, practitioner_phone=spec.practitioner_phone,
                    practitioner_email=spec.practitioner_email, start_date=spec.start_date, end_date=spec.end_date,
                    is_lead_professional=spec.is_lead_professional,
                    has_early_help_assessment=spec.has_early_help_assessment,
                    source=self.source, supplied_at=self.now,
                )
            )
            self.applied.changed = True
            return
        updates: dict[str, object] = {
            "role": self.row.involvement_role,
            "practitioner_name": self.row.practitioner_name,
            "practitioner_phone": self.row.practitioner_phone,
            "practitioner_email": self.row.practitioner_email,
            "start_date": self.row.involvement_start_date,
            "is_lead_professional": self.row.lead_professional,
            "has_early_help_assessment": self.row.early_help_assessment,
        }
        changed = False
        for name, value in updates.items():
            if value is not None and getattr(held, name) != value:
                setattr(held, name, value)
                changed = True
        if held.end_date != self.row.involvement_end_date:
            # Supplied again without an end date: the involvement is open (again).
            held.end_date = self.row.involvement_end_date
            changed = True
        if changed:
            held.supplied_at = self.now
            self.applied.changed = True

    def status(self) -> None:
        if self.row.over_age and self.child.status is ChildStatus.ACTIVE:
            self.child.status = ChildStatus.ARCHIVED
            self.applied.changed = True
            self.applied.notes.append("archived: the child is 18 or over")


def apply_to_child(child: Child, row: ValidRow, source: DataSource, now: datetime) -> Applied:
    """Apply what the row says to a child it was linked to; blanks leave values alone."""
    update = _Update(child, row, source, now)
    update.names()
    update.date_of_birth_and_gender()
    update.identifiers()
    update.address()
    update.carer()
    update.involvement()
    update.status()
    if update.keys_stale:
        refresh_blocking_keys(child)
    return update.applied
