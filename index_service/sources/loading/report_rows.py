"""A load's report rows: each extract row's outcome, written in bulk with the batch that decided it.

A batch writes one report row for every row it read, and a quarantine row for every row that
could not load (its raw values and every reason), in the batch's transaction: the report holds a
line for a row exactly when the index holds what the row did. The report is read back for
people in sources.report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table

from index_service.children.held import HeldRecord
from index_service.database import insert_rows
from index_service.extensions import db
from index_service.load_models import Load, LoadRow, QuarantinedRow, RowOutcome
from index_service.sources.validation import RejectedRow, ValidRow

# Core tables for the batch's writes: the ORM's row handling cost more than these inserts.
LOAD_ROWS: Table = LoadRow.__table__  # type: ignore[assignment]
QUARANTINED_ROWS: Table = QuarantinedRow.__table__  # type: ignore[assignment]


@dataclass
class RowResult:
    """What a row came to: its outcome, the child it names (a record, or an id), its score and reasons."""

    outcome: RowOutcome
    child: HeldRecord | None = None
    child_id: int | None = None
    score: float | None = None
    reasons: tuple[str, ...] = ()


def row_as_json(row: ValidRow) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in vars(row).items():
        values[name] = (
            value.isoformat() if isinstance(value, date) else list(value) if isinstance(value, tuple) else value
        )
    return values


def write_batch(load: Load, batch: list[ValidRow | RejectedRow], results: list[RowResult]) -> None:
    """The batch's report and quarantine rows, written in bulk (nothing reads them back in this load).
    A dry run's children have no id in its report: they are not made."""
    report: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    for row, result in zip(batch, results, strict=True):
        report.append(
            {
                "load_id": load.id,
                "row_number": row.row_number,
                "source_record_id": row.source_record_id,
                "outcome": result.outcome,
                "child_id": result.child.id if result.child is not None else result.child_id,
                "score": result.score,
                "reasons": list(result.reasons),
            }
        )
        if isinstance(row, RejectedRow):
            quarantine.append(
                {
                    "load_id": load.id,
                    "row_number": row.row_number,
                    "raw_values": row.values,
                    "reasons": list(row.reasons),
                }
            )
        elif result.outcome is RowOutcome.REJECTED:
            quarantine.append(
                {
                    "load_id": load.id,
                    "row_number": row.row_number,
                    "raw_values": {k: str(v) for k, v in row_as_json(row).items() if v},
                    "reasons": list(result.reasons),
                }
            )
    # Core inserts with every column given: the ORM's bulk insert splits on missing keys.
    insert_rows(db.session.connection(), LOAD_ROWS, report)
    insert_rows(db.session.connection(), QUARANTINED_ROWS, quarantine)
