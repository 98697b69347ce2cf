"""Writing one validated row into the index: a new child, or what a source says of a known one.

The rules that keep data safe live here. A blank value is "not supplied" and never erases.
A source may correct the fields it supplied itself; a name another source supplied is kept,
and the new one becomes an other name, so that two sources cannot flip a child's identity
back and forth. A move keeps the old address as a previous one, for matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from index_service.children.held import (
    HeldCarer,
    HeldIdentifier,
    HeldInvolvement,
    HeldName,
    HeldRecord,
)
from index_service.children.models import ChildStatus, Gender, IdentifierKind, NameKind
from index_service.children.records import (
    AddressSpec,
    ChildSpec,
    InvolvementSpec,
    held_address,
    new_record,
)
from index_service.children.writes import Writes
from index_service.sources.models import DataSource
from index_service.sources.validation import ValidRow
from matching.normalise import name_key, normalise_postcode
from matching.person import Person


@dataclass
class Applied:
    """What applying a row did: whether anything changed, the names of the fields it changed (for
    the child's audit trail: names only, never values), and notes for the report."""

    changed: bool = False
    new_link: bool = False
    notes: list[str] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)

    def change(self, name: str) -> None:
        self.changed = True
        self.fields.add(name)


IDENTIFIER_FIELDS = {
    IdentifierKind.NHS_NUMBER: "nhs_number",
    IdentifierKind.UPN: "upn",
    IdentifierKind.SOURCE_RECORD: "source_record_id",
}
# What a new child is made with, by the row's fields that supply it (for its audit trail).
MADE_WITH = (
    ("middle_names", "middle_names"),
    ("nhs_number", "nhs_number"),
    ("upn", "upn"),
    ("address_line1", "address"),
    ("town", "address"),
    ("postcode", "address"),
    ("parent_carer_name", "carer"),
)


def made_with(row: ValidRow) -> list[str]:
    """The names of the fields a child made from the row holds (names only, never values)."""
    supplied = {name for attribute, name in MADE_WITH if getattr(row, attribute)}
    return sorted(
        {
            "given_name",
            "family_name",
            "date_of_birth",
            "gender",
            "source_record_id",
            "involvement",
            *supplied,
            *(("status",) if row.over_age else ()),
        }
    )


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


def create_from_row(row: ValidRow, source: DataSource, writes: Writes) -> HeldRecord:
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
    organisation = source.involvement_organisation
    record = new_record(spec, source.id, {organisation.name: organisation.id}, writes)
    if row.over_age:
        record.status = ChildStatus.ARCHIVED
    return record


class _Update:
    """Applies one row to one held record, noting every change."""

    def __init__(self, record: HeldRecord, row: ValidRow, source: DataSource, writes: Writes) -> None:
        self.record, self.row, self.source, self.writes = record, row, source, writes
        self.applied = Applied()

    def _supplied_by_source(self, name: str) -> bool:
        held = self.record.provenance.get(name)
        return held is not None and held.source_id == self.source.id

    def _set(self, name: str, value: object) -> None:
        self.writes.change_child(self.record, **{name: value})
        self.writes.supplied(self.record, name, self.source.id)
        self.writes.keys_changed(self.record)
        self.applied.change(name)

    def _add_other_name(self, kind: NameKind, given: str | None, family: str | None) -> None:
        wanted = (name_key(given), name_key(family))
        if any((name_key(o.given_name), name_key(o.family_name)) == wanted for o in self.record.other_names):
            return
        self.writes.add(self.record, HeldName(kind, given, family, self.source.id))
        self.writes.keys_changed(self.record)
        self.applied.change("other_names")

    def names(self) -> None:
        row, record = self.row, self.record
        if name_key(row.given_name) != name_key(record.given_name):
            if self._supplied_by_source("given_name"):
                self._set("given_name", row.given_name)
            else:
                self._add_other_name(NameKind.ALIAS, row.given_name, None)
        if name_key(row.family_name) != name_key(record.family_name):
            if self._supplied_by_source("family_name"):
                self._add_other_name(NameKind.FORMER, None, record.family_name)
                self._set("family_name", row.family_name)
            else:
                self._add_other_name(NameKind.ALIAS, None, row.family_name)
        differs = row.middle_names and name_key(row.middle_names) != name_key(record.middle_names)
        if differs and (record.middle_names is None or self._supplied_by_source("middle_names")):
            self._set("middle_names", row.middle_names)

    def date_of_birth_and_gender(self) -> None:
        row, record = self.row, self.record
        if row.date_of_birth != record.date_of_birth:
            if self._supplied_by_source("date_of_birth"):
                self._set("date_of_birth", row.date_of_birth)
            else:
                self.applied.notes.append("date of birth differs from the index's; the index's is kept")
        if (
            row.gender != Gender.UNKNOWN
            and row.gender != record.gender.value
            and (record.gender is Gender.UNKNOWN or self._supplied_by_source("gender"))
        ):
            self._set("gender", Gender(row.gender))

    def identifiers(self) -> None:
        held = {(i.kind, i.value, i.source_id) for i in self.record.identifiers}
        wanted = [
            (IdentifierKind.NHS_NUMBER, self.row.nhs_number),
            (IdentifierKind.UPN, self.row.upn),
            (IdentifierKind.SOURCE_RECORD, self.row.source_record_id),
        ]
        for kind, value in wanted:
            if value and (kind, value, self.source.id) not in held:
                self.writes.add(self.record, HeldIdentifier(kind, value, self.source.id))
                self.applied.change(IDENTIFIER_FIELDS[kind])
                if kind is IdentifierKind.SOURCE_RECORD:
                    self.applied.new_link = True

    def address(self) -> None:
        spec = _address_spec(self.row)
        if spec is None:
            return
        current = self.record.current_address
        postcode = normalise_postcode(spec.postcode)
        if (
            current is not None
            and (postcode is None or postcode == current.postcode_key)
            and (spec.line1 is None or name_key(spec.line1) == name_key(current.line1))
        ):
            for name in ("line2", "town"):
                value = getattr(spec, name)
                if value and getattr(current, name) is None:
                    self.writes.change(current, **{name: value})
                    self.applied.change(f"address_{name}")
            return
        if current is not None:
            self.writes.change(current, is_current=False)
        self.writes.add(self.record, held_address(spec, True, self.source.id))
        self.writes.keys_changed(self.record)
        self.applied.change("address")

    def carer(self) -> None:
        name, phone = self.row.parent_carer_name, self.row.parent_carer_phone
        if not name:
            return
        for carer in self.record.carers:
            if name_key(carer.name) == name_key(name):
                if phone and carer.phone != phone and (carer.phone is None or carer.source_id == self.source.id):
                    self.writes.change(carer, phone=phone, source_id=self.source.id, supplied_at=self.writes.now)
                    self.applied.change("carer_phone")
                return
        self.writes.add(self.record, HeldCarer(name, None, phone, self.source.id))
        self.applied.change("carer")

    def involvement(self) -> None:
        spec = _involvement_spec(self.row, self.source)
        held = next(
            (i for i in self.record.involvements if i.source_id == self.source.id and i.service == spec.service),
            None,
        )
        if held is None:
            self.writes.add(
                self.record,
                HeldInvolvement(
                    spec.service,
                    self.source.involvement_organisation_id,
                    spec.role,
                    spec.practitioner_name,
                    spec.practitioner_phone,
                    spec.practitioner_email,
                    spec.start_date,
                    spec.end_date,
                    spec.is_lead_professional,
                    spec.has_early_help_assessment,
                    self.source.id,
                ),
            )
            self.applied.change("involvement")
            return
        supplied: dict[str, object] = {
            "role": self.row.involvement_role,
            "practitioner_name": self.row.practitioner_name,
            "practitioner_phone": self.row.practitioner_phone,
            "practitioner_email": self.row.practitioner_email,
            "start_date": self.row.involvement_start_date,
            "is_lead_professional": self.row.lead_professional,
            "has_early_help_assessment": self.row.early_help_assessment,
        }
        updates = {
            name: value for name, value in supplied.items() if value is not None and getattr(held, name) != value
        }
        if held.end_date != self.row.involvement_end_date:
            # Supplied again without an end date: the involvement is open (again).
            updates["end_date"] = self.row.involvement_end_date
        if updates:
            self.writes.change(held, **updates, supplied_at=self.writes.now)
            self.applied.change("involvement")

    def status(self) -> None:
        if self.row.over_age and self.record.status is ChildStatus.ACTIVE:
            self.writes.change_child(self.record, status=ChildStatus.ARCHIVED)
            self.applied.change("status")
            self.applied.notes.append("archived: the child is 18 or over")


def apply_to_record(record: HeldRecord, row: ValidRow, source: DataSource, writes: Writes) -> Applied:
    """Apply what the row says to a child it was linked to; blanks leave values alone."""
    update = _Update(record, row, source, writes)
    update.names()
    update.date_of_birth_and_gender()
    update.identifiers()
    update.address()
    update.carer()
    update.involvement()
    update.status()
    return update.applied
