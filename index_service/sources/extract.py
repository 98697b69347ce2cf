"""Reading an agency's extract as a stream of raw rows, CSV or JSON lines.

Nothing here judges the values: a row is read exactly as sent, with any reading problem attached,
and is never dropped, so the load report can account for every row of the file. Only a problem
with the whole file (no header, required columns missing) stops the read, before any row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

REQUIRED = ("source_record_id", "given_name", "family_name", "date_of_birth", "gender")
OPTIONAL = (
    "middle_names",
    "nhs_number",
    "upn",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "parent_carer_name",
    "parent_carer_phone",
)
INVOLVEMENT = (
    "practitioner_name",
    "practitioner_phone",
    "practitioner_email",
    "involvement_role",
    "involvement_start_date",
    "involvement_end_date",
    "lead_professional",
    "early_help_assessment",
    "shield",
)
COLUMNS = REQUIRED + OPTIONAL + INVOLVEMENT
_KNOWN = frozenset(COLUMNS)

# Bytes that are not UTF-8 are decoded with surrogateescape, so they can be told apart from a
# genuine U+FFFD, then replaced by U+FFFD so the values can always be stored.
_UNDECODABLE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
_CHUNK = 1 << 20


class ExtractError(ValueError):
    """A problem with the whole file; the message tells the agency what to put right."""


@dataclass(frozen=True)
class RawRow:
    """One data row as read: row_number counts data rows from 1, the header not counted."""

    row_number: int
    values: dict[str, str]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ExtractHeader:
    """The known columns the file supplies (in file order) and the unknown ones it ignores."""

    columns: tuple[str, ...]
    unknown: tuple[str, ...]


def format_for(filename: str) -> str:
    """The extract format a file's name announces."""
    suffix = os.path.splitext(filename)[1].lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise ExtractError(f"{os.path.basename(filename) or filename!r} is not a .csv, .txt, .jsonl, .ndjson or .json file")


def count_rows(path: str | os.PathLike[str], fmt: str | None = None) -> int:
    """Roughly how many data rows a file holds, for a progress bar (embedded newlines count twice).

    Lines are counted in binary chunks; for CSV the header line is taken off. The format comes
    from the file name when not given.
    """
    if fmt is None:
        try:
            fmt = format_for(os.fspath(path))
        except ExtractError:
            fmt = "csv"
    lines = 0
    last = b"\n"
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0) if fmt == "csv" else lines


class _BorrowedText(io.TextIOWrapper):
    """Text read from the caller's stream, which is never closed here: closing it is the caller's business."""

    def close(self) -> None:
        try:
            buffer = self.buffer
        except ValueError:
            return  # already handed back
        if not buffer.closed:
            self.detach()


def open_extract(stream: BinaryIO, fmt: str) -> tuple[ExtractHeader, Iterator[RawRow]]:
    """The file's header, and its rows as a lazy iterator that holds one row at a time.

    Raises ExtractError before any row for a file that cannot be loaded at all.
    """
    if fmt not in ("csv", "jsonl"):
        raise ExtractError(f"Unknown extract format {fmt!r}: use csv or jsonl")
    text = _BorrowedText(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        if fmt == "csv":
            return _open_csv(text)
        return _open_jsonl(text)
    except BaseException:
        text.close()
        raise


def _column_name(name: str) -> str:
    return name.strip().lower()


def _clean(column: str, value: str, problems: list[str]) -> str:
    """The value with undecodable bytes replaced, noting them and any NUL byte as problems."""
    if _UNDECODABLE.search(value):
        problems.append(f"{column}: invalid UTF-8 (bytes that are not UTF-8 were replaced)")
        value = _UNDECODABLE.sub(_REPLACEMENT, value)
    if "\x00" in value:
        problems.append(f"{column}: contains a NUL byte")
    return value


def _open_csv(text: io.TextIOWrapper) -> tuple[ExtractHeader, Iterator[RawRow]]:
    reader = csv.reader(text, strict=True)
    try:
        names = next(reader)
    except StopIteration:
        raise ExtractError("The file is empty: the first line must be the header row") from None
    except csv.Error as error:
        raise ExtractError(f"The header row cannot be read as CSV: {error}") from None
    if not any(name.strip() for name in names):
        raise ExtractError("The first line is blank: it must be the header row")
    if any(_UNDECODABLE.search(name) for name in names):
        raise ExtractError("The header row is not valid UTF-8")

    positions: dict[str, int] = {}
    unknown: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for position, name in enumerate(names):
        column = _column_name(name)
        if not column:
            unknown.append(f"(unnamed column {position + 1})")
            continue
        if column in seen:
            duplicates.append(column)
        elif column in _KNOWN:
            positions[column] = position
        else:
            unknown.append(name.strip())
        seen.add(column)
    if duplicates:
        raise ExtractError("The header names these columns more than once: " + ", ".join(sorted(set(duplicates))))
    missing = [column for column in REQUIRED if column not in positions]
    if missing:
        raise ExtractError("The header lacks required columns: " + ", ".join(missing))

    header = ExtractHeader(columns=tuple(positions), unknown=tuple(unknown))
    return header, _csv_rows(text, reader, positions, len(names))


def _csv_rows(text: io.TextIOWrapper, reader: Any, positions: dict[str, int], width: int) -> Iterator[RawRow]:
    row_number = 0
    try:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                row_number += 1
                yield RawRow(row_number, {}, (f"row cannot be read as CSV: {error}",))
                continue
            if not fields:
                continue  # a blank line is not a row
            row_number += 1
            problems: list[str] = []
            if len(fields) != width:
                problems.append(f"row has {len(fields)} fields but the header has {width}")
            values = {
                column: _clean(column, fields[position], problems)
                for column, position in positions.items()
                if position < len(fields)
            }
            yield RawRow(row_number, values, tuple(problems))
    finally:
        text.close()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object keeping every key, so a repeated key can be reported rather than lost."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


class _TooLarge(str):
    """A number too large for a float (1e400), kept as written rather than as inf, to be reported."""


def _json_float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else _TooLarge(text)


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_value(value: Any) -> tuple[str, bool]:
    """The value as text, and whether it was a single value (not a list or object)."""
    if value is None:
        return "", True
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, str):
        return value, True
    if isinstance(value, int | float):
        return str(value), True
    try:
        return json.dumps(value, ensure_ascii=False), False
    except RecursionError:  # a value nested almost as deep as the reader can go, kept as far as it can be written
        return "(a list or object nested too deeply to show)", False


def _json_row(row_number: int, line: str) -> tuple[RawRow, list[str] | None]:
    """The row from one JSON line, and the line's key names (None when not a JSON object)."""
    try:
        # Whole numbers are kept as written: int() would refuse thousands of digits, and they become text anyway.
        document = json.loads(
            line,
            object_pairs_hook=_pairs,
            strict=False,
            parse_int=str,
            parse_float=_json_float,
            parse_constant=_json_constant,
        )
    except RecursionError:
        return RawRow(row_number, {}, ("line is nested too deeply to read",)), None
    except ValueError as error:
        problem = "line is not valid JSON" if not _UNDECODABLE.search(line) else "line is not valid UTF-8 JSON"
        return RawRow(row_number, {}, (f"{problem}: {error}",)), None
    if not isinstance(document, dict):
        return RawRow(row_number, {}, ("line is not a JSON object",)), None
    problems: list[str] = []
    values: dict[str, str] = {}
    for key, found in document.items():
        column = _column_name(key)
        if column not in _KNOWN:
            continue
        if len(found) > 1 or column in values:
            problems.append(f"{column}: the key appears more than once in this line")
        text, single = _json_value(found[-1])
        if not single:
            problems.append(f"{column}: is a list or object, not a single value")
        elif isinstance(found[-1], _TooLarge):
            problems.append(f"{column}: is a number too large to read")
        values[column] = _clean(column, text, problems)
    return RawRow(row_number, values, tuple(problems)), list(document)


def _open_jsonl(text: io.TextIOWrapper) -> tuple[ExtractHeader, Iterator[RawRow]]:
    lines = (line for line in text if line.strip())
    try:
        first_line = next(lines)
    except StopIteration:
        raise ExtractError("The file is empty: it has no JSON lines") from None
    first, keys = _json_row(1, first_line)
    if keys is None:
        raise ExtractError(f"The first line cannot be read as a JSON object: {'; '.join(first.problems)}")
    columns: list[str] = []
    unknown: list[str] = []
    for key in keys:
        column = _column_name(key)
        if column in _KNOWN:
            if column not in columns:
                columns.append(column)
        else:
            unknown.append(_UNDECODABLE.sub(_REPLACEMENT, key.strip()))
    header = ExtractHeader(columns=tuple(columns), unknown=tuple(unknown))
    return header, _jsonl_rows(text, first, lines)


def _jsonl_rows(text: io.TextIOWrapper, first: RawRow, lines: Iterator[str]) -> Iterator[RawRow]:
    try:
        yield first
        for row_number, line in enumerate(lines, start=2):
            yield _json_row(row_number, line)[0]
    finally:
        text.close()
