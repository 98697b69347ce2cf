"""Checking each raw extract row, giving a clean row or every reason it cannot be loaded.

Every reason is reported at once, so an agency can put a row right in one go rather than one
fault per load. Nothing here decides what a row does to the index: a child of 18 or over is
flagged, and the loader decides.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass
from datetime import date
from hashlib import blake2b
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as NumberError
from stdnum.gb import nhs

from index_service.sources.extract import COLUMNS, RawRow
from matching.identifiers import has_known_authority, validate_upn
from matching.normalise import format_postcode, normalise_postcode

GENDER_CODES = {
    **dict.fromkeys(("male", "m", "1"), "male"),
    **dict.fromkeys(("female", "f", "2"), "female"),
    **dict.fromkeys(("other", "i", "9"), "other"),
    **dict.fromkeys(("unknown", "u", "x", "0"), "unknown"),
}
YES = frozenset(("y", "yes", "true", "1"))
NO = frozenset(("n", "no", "false", "0"))
EARLIEST_BIRTH_YEAR = 1900
ADULT_AGE = 18

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UK_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_PHONE = re.compile(r"^[0-9 +()\-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_SHOWN = 40


@dataclass(frozen=True)
class ValidRow:
    """A row that can be loaded: values cleaned, blanks as None ("not supplied", never "erase")."""

    row_number: int
    source_record_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    gender: str
    middle_names: str | None
    nhs_number: str | None
    upn: str | None
    address_line1: str | None
    address_line2: str | None
    town: str | None
    postcode: str | None
    parent_carer_name: str | None
    parent_carer_phone: str | None
    practitioner_name: str | None
    practitioner_phone: str | None
    practitioner_email: str | None
    involvement_role: str | None
    involvement_start_date: date | None
    involvement_end_date: date | None
    lead_professional: bool | None
    early_help_assessment: bool | None
    over_age: bool
    warnings: tuple[str, ...]
    shield: bool = False


@dataclass(frozen=True)
class RejectedRow:
    """A row that cannot be loaded, its values as read, and every reason, each naming its field."""

    row_number: int
    source_record_id: str | None
    values: dict[str, str]
    reasons: tuple[str, ...]


def _shown(text: str) -> str:
    """A value quoted in a message, cut short so a runaway field cannot flood the report."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "\u2026"


def _hidden_character(text: str) -> str | None:
    """The first control (Cc) or invisible formatting (Cf) character in the text, if any."""
    if text.isprintable():
        return None
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf"):
            return char
    return None


class _Text(fields.String):
    """A stripped string with a length limit; subclasses turn it into the value kept."""

    def __init__(self, max_length: int | None = None, *, name: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.name_like = name

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        # Every extract value is text already (sources.extract makes JSON's numbers text): String's checks only cost.
        text = (value if isinstance(value, str) else super()._deserialize(value, attr, data, **kwargs)).strip()
        problems: list[str] = []
        if self.max_length is not None and len(text) > self.max_length:
            problems.append(f"is {len(text)} characters long; at most {self.max_length} are allowed")
        hidden = _hidden_character(text)
        if hidden is not None:
            problems.append(f"contains a control or invisible formatting character (U+{ord(hidden):04X})")
        if self.name_like and not any(char.isalpha() for char in text):
            problems.append(f"{_shown(text)} must contain at least one letter")
        result = self.parse(text, problems)
        if problems:
            raise ValidationError(problems)
        return result

    def parse(self, text: str, problems: list[str]) -> Any:
        return text

    def _validate(self, value: Any) -> None:
        # parse checks every value; marshmallow would build an empty And() of validators for each one.
        if self.validators:
            super()._validate(value)


class _Date(_Text):
    def parse(self, text: str, problems: list[str]) -> date | None:
        if match := _ISO_DATE.match(text):
            year, month, day = match.groups()
        elif match := _UK_DATE.match(text):
            day, month, year = match.groups()
        else:
            problems.append(f"{_shown(text)} is not a date in the form YYYY-MM-DD or DD/MM/YYYY")
            return None
        try:
            return date(int(year), int(month), int(day))
        except ValueError:
            problems.append(f"{text} is not a real date")
            return None


class _Gender(_Text):
    def parse(self, text: str, problems: list[str]) -> str | None:
        gender = GENDER_CODES.get(text.lower())
        if gender is None:
            problems.append(
                f"{_shown(text)} is not a recognised code; use male, m or 1; female, f or 2; "
                "other, i or 9; unknown, u, x or 0 (or leave it blank)"
            )
        return gender


class _YesNo(_Text):
    def parse(self, text: str, problems: list[str]) -> bool | None:
        answer = text.lower()
        if answer in YES:
            return True
        if answer in NO:
            return False
        problems.append(f"{_shown(text)} is not yes or no; use y, yes, true or 1, or n, no, false or 0")
        return None


class _NhsNumber(_Text):
    def parse(self, text: str, problems: list[str]) -> str | None:
        try:
            return nhs.validate(text)
        except InvalidChecksum:
            problems.append("check digit is wrong")
        except NumberError:
            problems.append(f"{_shown(text)} is not 10 digits (spaces and hyphens are allowed)")
        return None


class _Upn(_Text):
    """A UPN; an unknown local-authority code is accepted when the check letter holds.

    python-stdnum does not know authorities created since 2011 (838, 839, 940-943, ...); the
    validator warns about those.
    """

    def parse(self, text: str, problems: list[str]) -> str | None:
        try:
            return validate_upn(text)
        except InvalidChecksum:
            problems.append("check letter is wrong")
        except NumberError:
            problems.append(f"{_shown(text)} is not a UPN: a check letter, 11 digits, then a digit or letter")
        return None


class _Postcode(_Text):
    def parse(self, text: str, problems: list[str]) -> str | None:
        compact = normalise_postcode(text)
        if compact is None:
            problems.append(f"{_shown(text)} is not a full UK postcode, like LS1 4AP")
            return None
        return format_postcode(compact)


class _Phone(_Text):
    def parse(self, text: str, problems: list[str]) -> str:
        if not _PHONE.match(text):
            problems.append("may contain only digits, spaces, +, (, ) and -")
        return text


class _Email(_Text):
    def parse(self, text: str, problems: list[str]) -> str:
        if not _EMAIL.match(text):
            problems.append(f"{_shown(text)} is not an email address")
        return text


def _required(field: type[_Text], *args: Any, **kwargs: Any) -> _Text:
    return field(
        *args,
        required=True,
        error_messages={"required": "is missing from this row", "null": "is blank but a value is required"},
        **kwargs,
    )


def _optional(field: type[_Text], *args: Any, **kwargs: Any) -> _Text:
    return field(*args, allow_none=True, load_default=None, **kwargs)


class _ExtractRowArgs(Schema):
    """One extract row's values; blanks arrive as None."""

    class Meta:
        unknown = EXCLUDE

    source_record_id = _required(_Text, 64)
    given_name = _required(_Text, 100, name=True)
    family_name = _required(_Text, 100, name=True)
    date_of_birth = _required(_Date)
    gender = _Gender(required=True, allow_none=True, error_messages={"required": "is missing from this row"})
    middle_names = _optional(_Text, 200, name=True)
    nhs_number = _optional(_NhsNumber)
    upn = _optional(_Upn)
    address_line1 = _optional(_Text, 200)
    address_line2 = _optional(_Text, 200)
    town = _optional(_Text, 100)
    postcode = _optional(_Postcode)
    parent_carer_name = _optional(_Text, 200, name=True)
    parent_carer_phone = _optional(_Phone, 40)
    practitioner_name = _optional(_Text, 200, name=True)
    practitioner_phone = _optional(_Phone, 40)
    practitioner_email = _optional(_Email, 254)
    involvement_role = _optional(_Text, 100)
    involvement_start_date = _optional(_Date)
    involvement_end_date = _optional(_Date)
    lead_professional = _optional(_YesNo)
    early_help_assessment = _optional(_YesNo)
    shield = _optional(_YesNo)

    def __init__(self, today: date) -> None:
        super().__init__()
        self.today = today

    @pre_load
    def blanks_to_none(self, data: Any, **_kwargs: Any) -> Any:
        return {key: None if isinstance(value, str) and not value.strip() else value for key, value in data.items()}

    @validates_schema(skip_on_field_errors=False)
    def dates_in_order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        born = data.get("date_of_birth")
        if born is not None and born > self.today:
            errors["date_of_birth"] = [f"{born.isoformat()} is in the future"]
        elif born is not None and born.year < EARLIEST_BIRTH_YEAR:
            errors["date_of_birth"] = [f"{born.isoformat()} is before {EARLIEST_BIRTH_YEAR}"]
        start, end = data.get("involvement_start_date"), data.get("involvement_end_date")
        if start is not None and end is not None and end < start:
            errors["involvement_end_date"] = [f"{end.isoformat()} is before the start date {start.isoformat()}"]
        if errors:
            raise ValidationError(errors)


def _eighteenth_birthday(born: date) -> date:
    """The real calendar birthday: a child born on 29 February turns 18 on 1 March if need be."""
    try:
        return born.replace(year=born.year + ADULT_AGE)
    except ValueError:
        return date(born.year + ADULT_AGE, 3, 1)


def _id_key(source_record_id: str) -> int:
    """A 64-bit digest of an id, which FirstRows keeps in 8 bytes."""
    digest = blake2b(source_record_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class FirstRows:
    """The first row of each id digest seen in a file, in packed arrays rather than a dict.

    A file of millions of rows is read as a stream, but every id in it must be remembered to
    catch one sent twice. A dict spends a key object, a value object and a slot on each id; here
    each bucket (the digest's top BUCKET_BITS bits) is two arrays, its digests and their rows,
    searched in C, so an id costs its two machine words and a share of its bucket. The measured
    sizes are in docs/performance.md.
    """

    BUCKET_BITS = 16

    def __init__(self) -> None:
        self._digests: list[array[int] | None] = [None] * (1 << self.BUCKET_BITS)
        self._rows: list[array[int] | None] = [None] * (1 << self.BUCKET_BITS)

    def first(self, digest: int, row_number: int) -> int:
        """The first row with this digest: row_number itself if it is the first, now noted."""
        bucket = digest >> (64 - self.BUCKET_BITS)
        digests, rows = self._digests[bucket], self._rows[bucket]
        if digests is None or rows is None:
            self._digests[bucket], self._rows[bucket] = array("Q", [digest]), array("Q", [row_number])
            return row_number
        if digest in digests:
            return rows[digests.index(digest)]
        digests.append(digest)
        rows.append(row_number)
        return row_number


_ORDER = {column: position for position, column in enumerate(COLUMNS)}


class RowValidator:
    """Validates the rows of one file in order, remembering ids to catch one sent twice.

    The first row with an id is judged on its own merits; every later row with the same id is
    rejected, whether or not the first was valid.
    """

    def __init__(self, today: date) -> None:
        self.today = today
        self._schema = _ExtractRowArgs(today)
        self._first_rows = FirstRows()

    def validate(self, raw: RawRow) -> ValidRow | RejectedRow:
        messages: dict[str, list[str]] = {}
        data: dict[str, Any] = {}
        try:
            data = self._schema.load(raw.values)
        except ValidationError as error:
            messages = {key: list(value) for key, value in error.normalized_messages().items()}

        source_record_id = (raw.values.get("source_record_id") or "").strip() or None
        # An id refused as an id (too long, a NUL or other hidden character) is not reported as the row's id: the
        # report's column could not hold it. The reasons say what was wrong, and the quarantined values keep it.
        reported_id = None if "source_record_id" in messages else source_record_id
        if source_record_id is not None:
            first = self._first_rows.first(_id_key(source_record_id), raw.row_number)
            if first != raw.row_number:
                messages.setdefault("source_record_id", []).append(
                    f"{_shown(source_record_id)} appears more than once in this file (first at row {first})"
                )

        if raw.problems or messages:
            reasons = list(raw.problems)
            for field in sorted(messages, key=lambda name: _ORDER.get(name, len(_ORDER))):
                reasons.extend(f"{field}: {message}" for message in messages[field])
            return RejectedRow(raw.row_number, reported_id, dict(raw.values), tuple(reasons))

        warnings: list[str] = []
        if data["upn"] is not None and not has_known_authority(data["upn"]):
            warnings.append(f"upn: local authority code {data['upn'][1:4]} is not on the known list; accepted")
        return ValidRow(
            row_number=raw.row_number,
            **{**data, "gender": data["gender"] or "unknown", "shield": bool(data["shield"])},
            over_age=self.today >= _eighteenth_birthday(data["date_of_birth"]),
            warnings=tuple(warnings),
        )
