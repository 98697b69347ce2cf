from __future__ import annotations

import gc
import io
import itertools
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from index_service.sources.extract import (
    COLUMNS,
    REQUIRED,
    ExtractError,
    ExtractHeader,
    RawRow,
    count_rows,
    format_for,
    open_extract,
)

HEADER = "source_record_id,given_name,family_name,date_of_birth,gender"


def read(data: bytes | str, fmt: str = "csv") -> tuple[ExtractHeader, list[RawRow]]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    header, rows = open_extract(io.BytesIO(raw), fmt)
    return header, list(rows)


def test_known_columns_are_the_design_columns_the_involvement_columns_and_shield() -> None:
    assert REQUIRED == ("source_record_id", "given_name", "family_name", "date_of_birth", "gender")
    assert COLUMNS[:5] == REQUIRED
    assert set(COLUMNS) == set(REQUIRED) | {
        "middle_names",
        "nhs_number",
        "upn",
        "address_line1",
        "address_line2",
        "town",
        "postcode",
        "parent_carer_name",
        "parent_carer_phone",
        "practitioner_name",
        "practitioner_phone",
        "practitioner_email",
        "involvement_role",
        "involvement_start_date",
        "involvement_end_date",
        "lead_professional",
        "early_help_assessment",
        "shield",
    }
    assert len(COLUMNS) == len(set(COLUMNS)) == 23


# CSV


def test_csv_rows_come_back_as_read_and_numbered_from_one() -> None:
    header, rows = read(HEADER + ",postcode\nR1,Amy, Smith ,2015-03-01,F,ls1 4ap\nR2,Bo,Li,01/02/2016,,\n")
    assert header == ExtractHeader(columns=(*REQUIRED, "postcode"), unknown=())
    assert rows == [
        RawRow(
            1,
            {
                "source_record_id": "R1",
                "given_name": "Amy",
                "family_name": " Smith ",
                "date_of_birth": "2015-03-01",
                "gender": "F",
                "postcode": "ls1 4ap",
            },
            (),
        ),
        RawRow(
            2,
            {
                "source_record_id": "R2",
                "given_name": "Bo",
                "family_name": "Li",
                "date_of_birth": "01/02/2016",
                "gender": "",
                "postcode": "",
            },
            (),
        ),
    ]


def test_a_byte_order_mark_is_allowed() -> None:
    header, rows = read(b"\xef\xbb\xbf" + (HEADER + "\nR1,Amy,Smith,2015-03-01,F\n").encode())
    assert header.columns == REQUIRED
    assert rows[0].values["source_record_id"] == "R1"
    assert rows[0].problems == ()


def test_header_names_ignore_case_and_surrounding_whitespace() -> None:
    header, rows = read(
        " Source_Record_ID ,GIVEN_NAME,\tFamily_Name,Date_Of_Birth , gender\nR1,Amy,Smith,2015-03-01,F\n"
    )
    assert header.columns == REQUIRED
    assert rows[0].values["family_name"] == "Smith"


def test_columns_may_come_in_any_order() -> None:
    _, rows = read("gender,date_of_birth,family_name,given_name,source_record_id\nF,2015-03-01,Smith,Amy,R1\n")
    assert rows[0].values == {
        "gender": "F",
        "date_of_birth": "2015-03-01",
        "family_name": "Smith",
        "given_name": "Amy",
        "source_record_id": "R1",
    }


def test_unknown_columns_are_reported_and_their_values_ignored() -> None:
    header, rows = read("School Name," + HEADER + ",,Notes\nOakfield,R1,Amy,Smith,2015-03-01,F,,private\n")
    assert header.unknown == ("School Name", "(unnamed column 7)", "Notes")
    assert set(rows[0].values) == set(REQUIRED)


def test_missing_required_header_columns_are_named() -> None:
    with pytest.raises(ExtractError) as error:
        read("source_record_id,given_name,surname,dob,gender\nR1,Amy,Smith,2015-03-01,F\n")
    assert "family_name" in str(error.value) and "date_of_birth" in str(error.value)
    assert "given_name" not in str(error.value)


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n"])
def test_an_empty_file_or_blank_first_line_is_refused(data: bytes) -> None:
    with pytest.raises(ExtractError, match="empty|blank"):
        read(data)


def test_a_column_named_twice_is_refused() -> None:
    with pytest.raises(ExtractError, match="more than once: given_name"):
        read(HEADER + ",Given_Name\nR1,Amy,Smith,2015-03-01,F,Amelia\n")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ExtractError, match="Unknown extract format"):
        open_extract(io.BytesIO(b"x"), "xlsx")


def test_invalid_utf8_is_reported_in_its_row_and_the_rows_around_it_come_through() -> None:
    data = (
        (HEADER + "\nR1,Amy,Smith,2015-03-01,F\n").encode()
        + b"R2,Zo\xeb,Br\xffwn,2015-03-01,F\n"
        + b"R3,Bo,Li,2016-01-01,m\n"
    )
    _, rows = read(data)
    assert [row.row_number for row in rows] == [1, 2, 3]
    assert rows[0].problems == () and rows[2].problems == ()
    assert rows[2].values["given_name"] == "Bo"
    assert rows[1].problems == (
        "given_name: invalid UTF-8 (bytes that are not UTF-8 were replaced)",
        "family_name: invalid UTF-8 (bytes that are not UTF-8 were replaced)",
    )
    assert rows[1].values["given_name"] == "Zo\ufffd"
    assert rows[1].values["family_name"].encode("utf-8") == "Br\ufffdwn".encode()


def test_a_genuine_replacement_character_is_not_invalid_utf8() -> None:
    _, rows = read(HEADER + "\nR1,Amy\ufffd,Smith,2015-03-01,F\n")
    assert rows[0].problems == ()


def test_a_header_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ExtractError, match="not valid UTF-8"):
        read(b"source_record_id,given_name,family_name,date_of_birth,gender,t\xf6wn\nR1,Amy,Smith,2015-03-01,F,x\n")


def test_a_quoted_field_may_hold_commas_quotes_and_a_newline() -> None:
    data = (
        HEADER
        + ',address_line1\nR1,Amy,"Smith, ""Jr""",2015-03-01,F,"Flat 2\r\n1 High Street"\nR2,Bo,Li,2016-01-01,M,\n'
    )
    _, rows = read(data)
    assert rows[0].values["family_name"] == 'Smith, "Jr"'
    assert rows[0].values["address_line1"] == "Flat 2\r\n1 High Street"
    assert [row.row_number for row in rows] == [1, 2]


def test_windows_line_endings_are_read() -> None:
    _, rows = read(HEADER + "\r\nR1,Amy,Smith,2015-03-01,F\r\nR2,Bo,Li,2016-01-01,M\r\n")
    assert [row.values["gender"] for row in rows] == ["F", "M"]


def test_a_row_with_the_wrong_number_of_fields_is_kept_with_a_problem() -> None:
    _, rows = read(HEADER + "\nR1,Amy,Smith\nR2,Bo,Li,2016-01-01,M,extra\nR3,Cy,Ng,2016-01-01,M\n")
    assert rows[0].problems == ("row has 3 fields but the header has 5",)
    assert rows[0].values == {"source_record_id": "R1", "given_name": "Amy", "family_name": "Smith"}
    assert rows[1].problems == ("row has 6 fields but the header has 5",)
    assert rows[1].values["gender"] == "M"
    assert rows[2].problems == ()


def test_a_nul_byte_is_a_problem() -> None:
    _, rows = read(HEADER + "\nR1,Amy,Sm\x00ith,2015-03-01,F\n")
    assert rows[0].problems == ("family_name: contains a NUL byte",)


def test_a_row_that_is_not_csv_is_kept_with_a_problem_and_reading_goes_on() -> None:
    _, rows = read(HEADER + '\nR1,"Amy"x,Smith,2015-03-01,F\nR2,Bo,Li,2016-01-01,M\n')
    assert rows[0].row_number == 1
    assert rows[0].values == {}
    assert rows[0].problems[0].startswith("row cannot be read as CSV")
    assert rows[1] == RawRow(2, rows[1].values, ())
    assert rows[1].values["source_record_id"] == "R2"


def test_an_unclosed_quote_at_the_end_is_a_problem_row_not_a_crash() -> None:
    _, rows = read(HEADER + '\nR1,Amy,Smith,2015-03-01,F\nR2,"Bo,Li,2016-01-01,M\nR3,Cy,Ng,2016-01-01,M\n')
    assert rows[0].problems == ()
    assert rows[1] == RawRow(2, {}, ("row cannot be read as CSV: unexpected end of data",))
    assert len(rows) == 2


def test_blank_lines_are_not_rows() -> None:
    _, rows = read(HEADER + "\n\nR1,Amy,Smith,2015-03-01,F\n\n\nR2,Bo,Li,2016-01-01,M\n")
    assert [(row.row_number, row.values["source_record_id"]) for row in rows] == [(1, "R1"), (2, "R2")]


def test_the_callers_stream_is_left_open() -> None:
    stream = io.BytesIO((HEADER + "\nR1,Amy,Smith,2015-03-01,F\n").encode())
    _, rows = open_extract(stream, "csv")
    list(rows)
    assert not stream.closed


def test_rows_left_unread_leave_the_stream_open() -> None:
    data = (HEADER + "\nR1,Amy,Smith,2015-03-01,F\nR2,Bo,Li,2016-01-01,M\n").encode()
    unstarted, partly_read = io.BytesIO(data), io.BytesIO(data)
    _, rows = open_extract(unstarted, "csv")
    del rows
    _, rows = open_extract(partly_read, "csv")
    next(rows)
    rows.close()  # type: ignore[attr-defined]
    gc.collect()
    assert not unstarted.closed and not partly_read.closed


def test_the_caller_may_close_the_stream_before_the_rows_run_out() -> None:
    stream = io.BytesIO((HEADER + "\nR1,Amy,Smith,2015-03-01,F\nR2,Bo,Li,2016-01-01,M\n").encode())
    _, rows = open_extract(stream, "csv")
    next(rows)
    stream.close()
    rows.close()  # type: ignore[attr-defined]
    gc.collect()


def test_a_refused_file_leaves_the_stream_open() -> None:
    stream = io.BytesIO(b"a,b\n1,2\n")
    with pytest.raises(ExtractError):
        open_extract(stream, "csv")
    assert not stream.closed


# JSON lines


def jsonl(*documents: object) -> str:
    return "".join(json.dumps(document) + "\n" for document in documents)


BASE = {
    "source_record_id": "R1",
    "given_name": "Amy",
    "family_name": "Smith",
    "date_of_birth": "2015-03-01",
    "gender": "F",
}


def test_jsonl_header_comes_from_the_first_object() -> None:
    header, rows = read(jsonl({**BASE, "Postcode": "LS1 4AP", "school": "Oakfield"}, BASE), "jsonl")
    assert header == ExtractHeader(columns=(*REQUIRED, "postcode"), unknown=("school",))
    assert rows[0].values == {**BASE, "postcode": "LS1 4AP"}
    assert [row.row_number for row in rows] == [1, 2]


def test_jsonl_values_become_strings_and_null_becomes_blank() -> None:
    _, rows = read(jsonl({**BASE, "nhs_number": 9434765919, "middle_names": None, "lead_professional": True}), "jsonl")
    assert rows[0].values["nhs_number"] == "9434765919"
    assert rows[0].values["middle_names"] == ""
    assert rows[0].values["lead_professional"] == "true"
    assert rows[0].problems == ()


def test_jsonl_list_or_object_value_is_a_problem() -> None:
    _, rows = read(jsonl({**BASE, "given_name": ["Amy", "Jo"]}), "jsonl")
    assert rows[0].problems == ("given_name: is a list or object, not a single value",)


def test_jsonl_missing_keys_are_left_to_validation() -> None:
    without_gender = {key: value for key, value in BASE.items() if key != "gender"}
    header, rows = read(jsonl(BASE, without_gender), "jsonl")
    assert header.columns == REQUIRED
    assert "gender" not in rows[1].values
    assert rows[1].problems == ()


def test_jsonl_bad_lines_are_kept_with_problems_and_blank_lines_are_not_counted() -> None:
    data = jsonl(BASE) + "\n[1, 2]\n  \n{not json\n" + jsonl({**BASE, "source_record_id": "R5"})
    _, rows = read(data, "jsonl")
    assert [row.row_number for row in rows] == [1, 2, 3, 4]
    assert rows[1].problems == ("line is not a JSON object",)
    assert rows[2].problems[0].startswith("line is not valid JSON")
    assert rows[3].values["source_record_id"] == "R5" and rows[3].problems == ()


def test_jsonl_repeated_key_is_a_problem() -> None:
    _, rows = read('{"source_record_id": "R1", "Given_Name": "Amy", "given_name": "Bo"}\n', "jsonl")
    assert rows[0].problems == ("given_name: the key appears more than once in this line",)


def test_jsonl_invalid_utf8_and_bom() -> None:
    data = (
        b"\xef\xbb\xbf"
        + jsonl(BASE).encode()
        + b'{"source_record_id": "R2", "given_name": "Zo\xeb"}\n'
        + jsonl(BASE).encode()
    )
    _, rows = read(data, "jsonl")
    assert rows[0].problems == () and rows[2].problems == ()
    assert rows[1].problems == ("given_name: invalid UTF-8 (bytes that are not UTF-8 were replaced)",)
    assert rows[1].values["given_name"] == "Zo\ufffd"


def test_jsonl_nul_in_a_string_is_a_problem() -> None:
    _, rows = read(jsonl({**BASE, "family_name": "Sm\x00ith"}), "jsonl")
    assert rows[0].problems == ("family_name: contains a NUL byte",)


@pytest.mark.parametrize("data", ["", "\n  \n", "[1]\n" + jsonl(BASE), "{oops\n"])
def test_jsonl_without_a_first_object_is_refused(data: str) -> None:
    with pytest.raises(ExtractError):
        read(data, "jsonl")


# File names and counting


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.txt", "csv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("x/a.json", "jsonl"),
    ],
)
def test_format_for_file_names(name: str, fmt: str) -> None:
    assert format_for(name) == fmt


@pytest.mark.parametrize("name", ["a.xlsx", "a", "csv"])
def test_format_for_refuses_other_names(name: str) -> None:
    with pytest.raises(ExtractError):
        format_for(name)


def test_count_rows(tmp_path: Path) -> None:
    csv_file = tmp_path / "a.csv"
    csv_file.write_text(HEADER + "\nR1,Amy,Smith,2015-03-01,F\nR2,Bo,Li,2016-01-01,M\n")
    assert count_rows(csv_file) == 2
    csv_file.write_text(HEADER + "\nR1,Amy,Smith,2015-03-01,F\nR2,Bo,Li,2016-01-01,M")
    assert count_rows(csv_file) == 2
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert count_rows(empty) == 0
    lines = tmp_path / "a.jsonl"
    lines.write_text(jsonl(BASE, BASE, BASE))
    assert count_rows(lines) == 3
    assert count_rows(str(lines), "csv") == 2


# Streaming


class GeneratedStream(io.RawIOBase):
    """A file made on the fly, a row at a time, that says how far it has been read."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.produced = 0
        self._chunks = self._generate()
        self._pending = b""
        self.exhausted = False

    def _generate(self) -> Iterator[bytes]:
        yield (HEADER + "\n").encode()
        for number in range(1, self.rows + 1):
            self.produced = number
            yield f"R{number},Amy,Smith,2015-03-01,F\n".encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer):
            try:
                self._pending += next(self._chunks)
            except StopIteration:
                self.exhausted = True
                break
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def test_reading_is_lazy_and_memory_stays_flat() -> None:
    source = GeneratedStream(200_000)
    _, rows = open_extract(io.BufferedReader(source), "csv")
    assert next(rows).values["source_record_id"] == "R1"
    assert not source.exhausted
    assert source.produced < 5_000

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in itertools.islice(rows, 50_000):
            pass
        growth = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert growth < 1_000_000  # a leak of even 20 bytes a row would show

    last = None
    for last in rows:  # noqa: B007
        pass
    assert last is not None and last.row_number == 200_000
    assert last.values["source_record_id"] == "R200000"
    assert source.exhausted
