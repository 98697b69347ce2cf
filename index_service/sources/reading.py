"""An extract read, validated and made ready for matching in batches, in the load's process or
a few batches ahead in a process of its own.

Everything done here depends on the file alone (never on the index), so a reader process can
work ahead of the batches being applied: the load takes its batches in file order either way.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path

from index_service.helper_processes import end_with_parent
from index_service.sources.applying import person_of_row
from index_service.sources.extract import open_extract
from index_service.sources.validation import RejectedRow, RowValidator, ValidRow
from matching.blocking import load_query_keys
from matching.person import Person


@dataclass(frozen=True)
class ReadBatch:
    """A batch of rows in file order; each valid row as matching sees it, and the keys it looks up."""

    rows: list[ValidRow | RejectedRow]
    people: dict[int, Person]
    keys: dict[int, set[int]]


class ReaderFailed(RuntimeError):
    """The reader process stopped before the end of the extract."""


def unknown_columns(path: Path, fmt: str) -> list[str]:
    """The header's columns that are not loaded; raises ExtractError for a file that cannot load at all."""
    with path.open("rb") as stream:
        header, _ = open_extract(stream, fmt)
    return list(header.unknown)


def read_batches(path: Path, fmt: str, today: date, after: int, size: int) -> Iterator[ReadBatch]:
    """The rows after the last committed one, in batches of size. Every row is validated, the
    committed ones too: a later row repeating an earlier row's id is rejected either way."""
    validator = RowValidator(today)
    with path.open("rb") as stream:
        _, raw_rows = open_extract(stream, fmt)
        batch: list[ValidRow | RejectedRow] = []
        for raw in raw_rows:
            row = validator.validate(raw)
            if row.row_number <= after:
                continue
            batch.append(row)
            if len(batch) == size:
                yield _ready(batch)
                batch = []
        if batch:
            yield _ready(batch)


def _ready(rows: list[ValidRow | RejectedRow]) -> ReadBatch:
    people = {row.row_number: person_of_row(row) for row in rows if isinstance(row, ValidRow)}
    return ReadBatch(rows, people, {number: load_query_keys(person) for number, person in people.items()})


def _read_into(out: Connection, parent: int, path: Path, fmt: str, today: date, after: int, size: int) -> None:
    """The reader process: every batch, then None; or the error's name and message."""
    end_with_parent(parent)
    try:
        for batch in read_batches(path, fmt, today, after, size):
            out.send(batch)
        out.send(None)
    except Exception as error:  # noqa: BLE001 - handed to the load, which fails with it
        out.send(f"{type(error).__name__}: {error}")
    finally:
        out.close()


@contextmanager
def batches_read_ahead(path: Path, fmt: str, today: date, after: int, size: int) -> Iterator[Iterator[ReadBatch]]:
    """read_batches, run in a reader process of its own that works a batch ahead (spawned: it
    starts without the load's database connections).

    A pipe, not a queue: once the reader has the only sending end, a reader that dies (even in
    the middle of a batch) is an end of file here, never a wait for ever.
    """
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(target=_read_into, args=(sending, os.getpid(), path, fmt, today, after, size), daemon=True)
    reader.start()
    sending.close()

    def batches() -> Iterator[ReadBatch]:
        while True:
            try:
                item = receiving.recv()
            except (EOFError, OSError):  # at the end of a message, or in the middle of one
                reader.join()
                raise ReaderFailed(
                    f"the extract's reader process stopped (exit code {reader.exitcode}); run the load again to resume"
                ) from None
            if item is None:
                return
            if isinstance(item, str):
                raise ReaderFailed(f"reading the extract failed: {item}")
            yield item

    try:
        yield batches()
    finally:
        receiving.close()
        if reader.is_alive():
            reader.terminate()
        reader.join()
