"""Search criteria: the purposes a practitioner can state, and parsing of each field.

One parser per field, shared by the web form and the API schema, so both accept and refuse
exactly the same things with the same messages.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TypedDict

from stdnum.exceptions import ValidationError
from stdnum.gb import nhs

from index_service.index_ids import IndexIdError, parse_index_id
from matching.identifiers import validate_upn
from matching.normalise import normalise_postcode
from matching.person import Person
from matching.search import Query


class SearchPurpose(StrEnum):
    SAFEGUARDING_CONCERN = "safeguarding_concern"
    NEW_REFERRAL = "new_referral"
    CASE_WORK = "case_work"
    ADMISSION = "admission"
    MULTI_AGENCY = "multi_agency"
    OTHER = "other"

    @property
    def label(self) -> str:
        return PURPOSE_LABELS[self]


PURPOSE_LABELS = {
    SearchPurpose.SAFEGUARDING_CONCERN: "Safeguarding concern",
    SearchPurpose.NEW_REFERRAL: "New referral",
    SearchPurpose.CASE_WORK: "Ongoing case work",
    SearchPurpose.ADMISSION: "Admission or registration",
    SearchPurpose.MULTI_AGENCY: "Multi-agency meeting or planning",
    SearchPurpose.OTHER: "Other (give details)",
}

GENDERS = ("male", "female", "other", "unknown")
NAME_MAX = 100


class CriterionError(ValueError):
    """A criterion that cannot be used; the message tells the user how to put it right."""


def parse_date_of_birth(text: str) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d %m %Y"):
        try:
            value = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if value > date.today():
            raise CriterionError("Date of birth must be today or in the past")
        if value.year < 1900:
            raise CriterionError("Date of birth must be after 1900")
        return value
    raise CriterionError("Enter the date of birth as day/month/year, like 27/03/2019")


def parse_nhs_number(text: str) -> str:
    try:
        return nhs.validate(text)
    except ValidationError as error:
        raise CriterionError("Enter a valid NHS number: 10 digits, like 943 476 5919") from error


def parse_upn(text: str) -> str:
    """A valid UPN; an unknown local-authority code is accepted when the check letter holds.

    python-stdnum does not know authorities created since 2011 (838, 839, 940-943, ...).
    """
    try:
        return validate_upn(text)
    except ValidationError as error:
        raise CriterionError("Enter a valid Unique Pupil Number: a letter and 12 more characters") from error


def parse_postcode(text: str) -> str:
    compact = normalise_postcode(text)
    if compact is None:
        raise CriterionError("Enter a full UK postcode, like LS1 4AP")
    return compact


def parse_index_id_criterion(text: str) -> str:
    try:
        return parse_index_id(text)
    except IndexIdError as error:
        raise CriterionError(str(error)) from error


def parse_name(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > NAME_MAX:
        raise CriterionError(f"A name can be at most {NAME_MAX} characters")
    if not any(char.isalpha() for char in text):
        raise CriterionError("A name must contain letters")
    return text


class Criteria(TypedDict, total=False):
    """Cleaned search criteria; a field left blank is absent."""

    family_name: str
    given_name: str
    date_of_birth: date
    postcode: str
    gender: str
    nhs_number: str
    upn: str
    index_id: str


CRITERIA_FIELDS = tuple(Criteria.__annotations__)


def query_from(criteria: Criteria) -> Query:
    person = Person(
        given_name=criteria.get("given_name"),
        family_name=criteria.get("family_name"),
        date_of_birth=criteria.get("date_of_birth"),
        gender=criteria.get("gender"),
        postcode=criteria.get("postcode"),
    )
    return Query(
        person=person,
        nhs_number=criteria.get("nhs_number"),
        upn=criteria.get("upn"),
        index_id=criteria.get("index_id"),
    )


def audit_criteria(criteria: Criteria) -> dict[str, str]:
    """The criteria as the audit trail keeps them (auditors need to see what was asked)."""
    return {key: value.isoformat() if isinstance(value, date) else str(value) for key, value in criteria.items()}
