from __future__ import annotations

import dataclasses
import random
from datetime import date
from pathlib import Path

import pytest

from index_service.sources.extract import COLUMNS, ExtractHeader, RawRow, open_extract
from index_service.sources.validation import FirstRows, RejectedRow, RowValidator, ValidRow

TODAY = date(2026, 6, 15)
BASE = {
    "source_record_id": "R1",
    "given_name": "Amy",
    "family_name": "Smith",
    "date_of_birth": "2015-03-01",
    "gender": "F",
}
FULL = {
    **BASE,
    "middle_names": " Jo Ann ",
    "nhs_number": "996 030 8243",
    "upn": "r373 4123 15021",
    "address_line1": "Flat 2",
    "address_line2": "1 High Street",
    "town": "Leeds",
    "postcode": "ls14ap",
    "parent_carer_name": "Sam Smith",
    "parent_carer_phone": "+44 (0)113 496-0000",
    "practitioner_name": "Dr Priya Patel",
    "practitioner_phone": "0113 496 0001",
    "practitioner_email": "priya.patel@school.example.org.uk",
    "involvement_role": "Class teacher",
    "involvement_start_date": "01/09/2024",
    "involvement_end_date": "2025-07-18",
    "lead_professional": "Yes",
    "early_help_assessment": "0",
}


def raw(row_number: int = 1, problems: tuple[str, ...] = (), **values: str) -> RawRow:
    return RawRow(row_number, {**BASE, **values}, problems)


def check(row_number: int = 1, today: date = TODAY, **values: str) -> ValidRow | RejectedRow:
    return RowValidator(today).validate(raw(row_number, **values))


def valid(**values: str) -> ValidRow:
    result = check(**values)
    assert isinstance(result, ValidRow), result
    return result


def reasons(**values: str) -> tuple[str, ...]:
    result = check(**values)
    assert isinstance(result, RejectedRow), result
    return result.reasons


def without(key: str) -> RawRow:
    return RawRow(1, {name: value for name, value in BASE.items() if name != key}, ())


def test_a_full_row_is_cleaned() -> None:
    row = valid(**FULL)
    assert row == ValidRow(
        row_number=1,
        source_record_id="R1",
        given_name="Amy",
        family_name="Smith",
        date_of_birth=date(2015, 3, 1),
        gender="female",
        middle_names="Jo Ann",
        nhs_number="9960308243",
        upn="R373412315021",
        address_line1="Flat 2",
        address_line2="1 High Street",
        town="Leeds",
        postcode="LS1 4AP",
        parent_carer_name="Sam Smith",
        parent_carer_phone="+44 (0)113 496-0000",
        practitioner_name="Dr Priya Patel",
        practitioner_phone="0113 496 0001",
        practitioner_email="priya.patel@school.example.org.uk",
        involvement_role="Class teacher",
        involvement_start_date=date(2024, 9, 1),
        involvement_end_date=date(2025, 7, 18),
        lead_professional=True,
        early_help_assessment=False,
        over_age=False,
        warnings=(),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.given_name = "Bo"  # type: ignore[misc]


def test_strings_are_stripped() -> None:
    row = valid(source_record_id="  R1 ", given_name="\tAmy  ", family_name=" Smith", town="  Leeds ")
    assert (row.source_record_id, row.given_name, row.family_name, row.town) == ("R1", "Amy", "Smith", "Leeds")


def test_optional_values_left_out_or_blank_are_not_supplied() -> None:
    blank = {key: " " for key in FULL if key not in BASE}
    blank["middle_names"] = ""
    for row in (valid(), valid(**blank)):
        assert all(getattr(row, key) is None for key in blank)


# Required fields


@pytest.mark.parametrize("field", ["source_record_id", "given_name", "family_name", "date_of_birth"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_required_fields_may_not_be_blank(field: str, blank: str) -> None:
    assert reasons(**{field: blank}) == (f"{field}: is blank but a value is required",)


@pytest.mark.parametrize("field", ["source_record_id", "given_name", "family_name", "date_of_birth", "gender"])
def test_required_fields_may_not_be_missing(field: str) -> None:
    result = RowValidator(TODAY).validate(without(field))
    assert isinstance(result, RejectedRow)
    assert result.reasons == (f"{field}: is missing from this row",)


def test_every_reason_is_reported_not_just_the_first() -> None:
    found = reasons(given_name="", date_of_birth="31/02/2015", gender="q", nhs_number="9960308244", postcode="XYZ")
    assert [reason.split(":")[0] for reason in found] == [
        "given_name",
        "date_of_birth",
        "gender",
        "nhs_number",
        "postcode",
    ]


def test_a_rejected_row_keeps_its_values_and_id() -> None:
    result = check(given_name="", town=" Leeds ")
    assert isinstance(result, RejectedRow)
    assert result.row_number == 1
    assert result.source_record_id == "R1"
    assert result.values == {**BASE, "given_name": "", "town": " Leeds "}
    assert check(source_record_id=" ").source_record_id is None  # type: ignore[union-attr]


def test_reading_problems_become_reasons() -> None:
    result = RowValidator(TODAY).validate(raw(problems=("row has 6 fields but the header has 5",)))
    assert isinstance(result, RejectedRow)
    assert result.reasons == ("row has 6 fields but the header has 5",)


# Dates


@pytest.mark.parametrize("text", ["2015-03-01", "01/03/2015", " 01/03/2015 "])
def test_dates_in_iso_or_uk_form(text: str) -> None:
    assert valid(date_of_birth=text, involvement_start_date=text).date_of_birth == date(2015, 3, 1)


@pytest.mark.parametrize(
    "text", ["2015/03/01", "01-03-2015", "1/3/2015", "2015-3-1", "1 March 2015", "20150301", "01/03/15"]
)
@pytest.mark.parametrize("field", ["date_of_birth", "involvement_start_date", "involvement_end_date"])
def test_other_date_forms_are_refused(field: str, text: str) -> None:
    assert reasons(**{field: text}) == (f"{field}: {text} is not a date in the form YYYY-MM-DD or DD/MM/YYYY",)


@pytest.mark.parametrize("field", ["date_of_birth", "involvement_start_date", "involvement_end_date"])
def test_dates_must_be_real(field: str) -> None:
    assert reasons(**{field: "31/02/2015"}) == (f"{field}: 31/02/2015 is not a real date",)
    assert reasons(**{field: "2015-13-01"}) == (f"{field}: 2015-13-01 is not a real date",)


def test_date_of_birth_not_in_the_future() -> None:
    assert valid(date_of_birth="2026-06-15").date_of_birth == TODAY
    assert reasons(date_of_birth="16/06/2026") == ("date_of_birth: 2026-06-16 is in the future",)


def test_date_of_birth_not_before_1900() -> None:
    assert valid(date_of_birth="1900-01-01").over_age
    assert reasons(date_of_birth="31/12/1899") == ("date_of_birth: 1899-12-31 is before 1900",)


def test_involvement_may_not_end_before_it_starts() -> None:
    assert reasons(involvement_start_date="2025-09-01", involvement_end_date="31/08/2025") == (
        "involvement_end_date: 2025-08-31 is before the start date 2025-09-01",
    )
    same_day = valid(involvement_start_date="2025-09-01", involvement_end_date="01/09/2025")
    assert same_day.involvement_end_date == date(2025, 9, 1)
    assert valid(involvement_end_date="2025-09-01").involvement_start_date is None


def test_involvement_order_is_checked_alongside_other_faults() -> None:
    found = reasons(gender="q", involvement_start_date="2025-09-01", involvement_end_date="2025-08-31")
    assert [reason.split(":")[0] for reason in found] == ["gender", "involvement_end_date"]


# Gender


@pytest.mark.parametrize(
    ("code", "gender"),
    [
        ("male", "male"),
        ("M", "male"),
        ("1", "male"),
        (" Male ", "male"),
        ("female", "female"),
        ("f", "female"),
        ("2", "female"),
        ("FEMALE", "female"),
        ("other", "other"),
        ("I", "other"),
        ("9", "other"),
        ("unknown", "unknown"),
        ("U", "unknown"),
        ("x", "unknown"),
        ("0", "unknown"),
        ("", "unknown"),
        ("  ", "unknown"),
    ],
)
def test_gender_codes(code: str, gender: str) -> None:
    assert valid(gender=code).gender == gender


@pytest.mark.parametrize("code", ["boy", "3", "mf", "n"])
def test_other_gender_codes_are_refused_with_the_accepted_codes(code: str) -> None:
    (reason,) = reasons(gender=code)
    assert reason.startswith(f"gender: {code} is not a recognised code")
    assert "male, m or 1" in reason and "female, f or 2" in reason and "other, i or 9" in reason
    assert "unknown, u, x or 0" in reason


# Identifiers


@pytest.mark.parametrize("text", ["9960308243", "996 030 8243", "996-030-8243", " 9960308243 "])
def test_nhs_number_with_spaces_or_hyphens(text: str) -> None:
    assert valid(nhs_number=text).nhs_number == "9960308243"


def test_nhs_number_check_digit() -> None:
    assert reasons(nhs_number="996 030 8244") == ("nhs_number: check digit is wrong",)


@pytest.mark.parametrize("text", ["996030824", "99603082431", "99603O8243", "996.030.8243"])
def test_nhs_number_must_be_ten_digits(text: str) -> None:
    assert reasons(nhs_number=text) == (f"nhs_number: {text} is not 10 digits (spaces and hyphens are allowed)",)


def test_upn_is_compacted_and_upper_cased() -> None:
    row = valid(upn=" b801 2000 05001 ")
    assert row.upn == "B801200005001"
    assert row.warnings == ()


def test_upn_check_letter() -> None:
    assert reasons(upn="A801200005001") == ("upn: check letter is wrong",)


@pytest.mark.parametrize("text", ["B80120000500", "B8012000050011", "B80120000A001", "1801200005001"])
def test_upn_shape(text: str) -> None:
    (reason,) = reasons(upn=text)
    assert reason.startswith("upn: ")
    assert "check letter" in reason


@pytest.mark.parametrize(("text", "code"), [("U940412315561", "940"), ("D838412315134", "838")])
def test_upn_with_a_new_local_authority_code_is_accepted_with_a_warning(text: str, code: str) -> None:
    row = valid(upn=text)
    assert row.upn == text
    assert row.warnings == (f"upn: local authority code {code} is not on the known list; accepted",)


def test_upn_with_a_new_local_authority_code_still_needs_its_check_letter() -> None:
    assert reasons(upn="A940412315561") == ("upn: check letter is wrong",)


# Postcode, phones, email


@pytest.mark.parametrize(
    ("text", "formatted"), [("ls14ap", "LS1 4AP"), (" SW1A 1AA ", "SW1A 1AA"), ("m1  1ae", "M1 1AE")]
)
def test_postcodes_are_formatted(text: str, formatted: str) -> None:
    assert valid(postcode=text).postcode == formatted


@pytest.mark.parametrize("text", ["LS1", "LS1 4A", "12345", "NOT A CODE"])
def test_postcodes_must_be_uk_shaped(text: str) -> None:
    assert reasons(postcode=text) == (f"postcode: {text} is not a full UK postcode, like LS1 4AP",)


@pytest.mark.parametrize("field", ["parent_carer_phone", "practitioner_phone"])
def test_phone_characters(field: str) -> None:
    assert getattr(valid(**{field: "+44 (0)113-496 0000"}), field) == "+44 (0)113-496 0000"
    for text in ("0113 496 0000 ext 5", "0113.496.0000", "call me"):
        assert reasons(**{field: text}) == (f"{field}: may contain only digits, spaces, +, (, ) and -",)


@pytest.mark.parametrize("text", ["a@b.uk", "first.last+tag@sub.example.org"])
def test_email_shape_accepted(text: str) -> None:
    assert valid(practitioner_email=text).practitioner_email == text


@pytest.mark.parametrize(
    "text", ["priya", "priya@", "@school.org", "priya@school", "pr iya@school.org", "a@b@c.org", "a@b."]
)
def test_email_shape_refused(text: str) -> None:
    assert reasons(practitioner_email=text) == (f"practitioner_email: {text} is not an email address",)


# Lengths, characters, names


def filler(field: str, size: int) -> str:
    if field.endswith("_phone"):
        return "0" * size
    if field == "practitioner_email":
        return "a" * (size - len("@school.org")) + "@school.org"
    return "A" * size


LIMITS = {
    "source_record_id": 64,
    "given_name": 100,
    "family_name": 100,
    "town": 100,
    "middle_names": 200,
    "address_line1": 200,
    "address_line2": 200,
    "parent_carer_name": 200,
    "practitioner_name": 200,
    "parent_carer_phone": 40,
    "practitioner_phone": 40,
    "practitioner_email": 254,
    "involvement_role": 100,
}


@pytest.mark.parametrize(("field", "limit"), LIMITS.items())
def test_maximum_lengths(field: str, limit: int) -> None:
    assert getattr(valid(**{field: filler(field, limit)}), field) == filler(field, limit)
    assert reasons(**{field: filler(field, limit + 1)}) == (
        f"{field}: is {limit + 1} characters long; at most {limit} are allowed",
    )


def test_length_is_counted_after_stripping() -> None:
    assert valid(source_record_id="  " + "R" * 64 + "  ").source_record_id == "R" * 64


@pytest.mark.parametrize(
    "field", [*LIMITS, "date_of_birth", "gender", "nhs_number", "upn", "postcode", "lead_professional"]
)
@pytest.mark.parametrize("char", ["\x07", "\x1b", "\x7f", "\u0085", "\u200b", "\u00ad", "\u202e", "\ufeff"])
def test_control_and_formatting_characters_are_refused_in_any_field(field: str, char: str) -> None:
    found = reasons(**{field: "A" + char + "1"})
    assert f"{field}: contains a control or invisible formatting character (U+{ord(char):04X})" in found


def test_letters_from_any_alphabet_and_non_breaking_spaces_are_fine() -> None:
    row = valid(given_name="Zoë\u00a0Anne", family_name="Ó Súilleabháin", middle_names="Мария")
    assert row.given_name == "Zoë\u00a0Anne"


@pytest.mark.parametrize(
    "field", ["given_name", "family_name", "middle_names", "parent_carer_name", "practitioner_name"]
)
@pytest.mark.parametrize("text", ["123", "-", "'.'"])
def test_names_need_a_letter(field: str, text: str) -> None:
    assert reasons(**{field: text}) == (f"{field}: {text} must contain at least one letter",)


# Yes/no


@pytest.mark.parametrize("field", ["lead_professional", "early_help_assessment"])
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("y", True),
        ("YES", True),
        ("True", True),
        ("1", True),
        ("n", False),
        ("No", False),
        ("FALSE", False),
        ("0", False),
        ("", None),
        (" ", None),
    ],
)
def test_yes_no_columns(field: str, text: str, answer: bool | None) -> None:
    assert getattr(valid(**{field: text}), field) is answer


@pytest.mark.parametrize("field", ["lead_professional", "early_help_assessment"])
@pytest.mark.parametrize("text", ["maybe", "2", "t", "yes please"])
def test_yes_no_columns_refuse_other_answers(field: str, text: str) -> None:
    assert reasons(**{field: text}) == (
        f"{field}: {text} is not yes or no; use y, yes, true or 1, or n, no, false or 0",
    )


# Age


@pytest.mark.parametrize(
    ("born", "today", "over"),
    [
        ("2008-06-15", date(2026, 6, 14), False),
        ("2008-06-15", date(2026, 6, 15), True),
        ("2008-02-29", date(2026, 2, 28), False),
        ("2008-02-29", date(2026, 3, 1), True),
        ("2007-12-31", date(2026, 1, 1), True),
        ("2020-01-01", date(2026, 1, 1), False),
    ],
)
def test_over_age_uses_the_real_birthday(born: str, today: date, over: bool) -> None:
    result = check(date_of_birth=born, today=today)
    assert isinstance(result, ValidRow)
    assert result.over_age is over


# Duplicate ids


def test_an_id_seen_earlier_in_the_file_is_refused() -> None:
    validator = RowValidator(TODAY)
    assert isinstance(validator.validate(raw(1, source_record_id="R9")), ValidRow)
    first = validator.validate(raw(3, source_record_id="R17"))
    assert isinstance(first, ValidRow)
    assert isinstance(validator.validate(raw(4, source_record_id="r17")), ValidRow)
    for row_number in (7, 12):
        again = validator.validate(raw(row_number, source_record_id=" R17 "))
        assert isinstance(again, RejectedRow)
        assert again.reasons == ("source_record_id: R17 appears more than once in this file (first at row 3)",)


def test_first_rows_tells_ids_in_one_bucket_apart() -> None:
    first_rows, bucket = FirstRows(), 5 << (64 - FirstRows.BUCKET_BITS)
    assert [first_rows.first(bucket + low, row) for low, row in ((1, 10), (2, 11), (1, 12), (2, 13), (3, 14))] == [
        10,
        11,
        10,
        11,
        14,
    ]
    # The same low bits in another bucket are another id.
    assert first_rows.first((6 << (64 - FirstRows.BUCKET_BITS)) + 1, 15) == 15


def test_first_rows_remembers_the_first_row_of_every_id_as_a_dict_would() -> None:
    rng = random.Random(3)
    digests = [rng.getrandbits(64) for _ in range(40_000)]
    first_rows, expected = FirstRows(), {}
    for row, digest in enumerate(digests + rng.sample(digests, 10_000), start=1):
        assert first_rows.first(digest, row) == expected.setdefault(digest, row)


def test_a_rejected_first_occurrence_still_counts() -> None:
    validator = RowValidator(TODAY)
    assert isinstance(validator.validate(raw(2, source_record_id="R5", given_name="")), RejectedRow)
    later = validator.validate(raw(5, source_record_id="R5"))
    assert isinstance(later, RejectedRow)
    assert later.reasons == ("source_record_id: R5 appears more than once in this file (first at row 2)",)


def test_each_file_has_its_own_validator() -> None:
    assert isinstance(RowValidator(TODAY).validate(raw(1)), ValidRow)
    assert isinstance(RowValidator(TODAY).validate(raw(2)), ValidRow)


def test_duplicate_reason_comes_with_the_others() -> None:
    validator = RowValidator(TODAY)
    validator.validate(raw(1))
    again = validator.validate(raw(2, gender="q"))
    assert isinstance(again, RejectedRow)
    assert [reason.split(":")[0] for reason in again.reasons] == ["source_record_id", "gender"]


def test_the_documented_example_file_loads_without_rejections() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "example-extract.csv"
    validator = RowValidator(date(2026, 11, 26))
    with path.open("rb") as stream:
        header, rows = open_extract(stream, "csv")
        results = [validator.validate(row) for row in rows]
    assert header == ExtractHeader(columns=COLUMNS, unknown=())
    assert all(isinstance(result, ValidRow) for result in results), results
    assert 8 <= len(results) <= 10
    full = results[0]
    assert isinstance(full, ValidRow)
    assert all(getattr(full, column) is not None for column in COLUMNS), full
    assert [result.warnings for result in results if result.warnings] == [  # type: ignore[union-attr]
        ("upn: local authority code 940 is not on the known list; accepted",)
    ]
