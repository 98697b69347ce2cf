"""The load report: one line per input row, and the summary a data administrator reads first."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import selectinload

from index_service.children.models import Child
from index_service.extensions import db
from index_service.load_models import Load, LoadRow, QuarantinedRow, RowOutcome
from index_service.paging import page_count
from index_service.spreadsheets import paged_csv, spreadsheet_safe

REPORT_PAGE = 1000
REPORT_COLUMNS = ("row_number", "source_record_id", "outcome", "index_id", "score", "reasons")
OUTCOME_ORDER = (
    RowOutcome.LINKED,
    RowOutcome.CREATED,
    RowOutcome.UPDATED,
    RowOutcome.UNCHANGED,
    RowOutcome.SHIELDED,
    RowOutcome.REVIEW,
    RowOutcome.REJECTED,
)
PREDICTED = {
    RowOutcome.LINKED: "would link",
    RowOutcome.CREATED: "would create",
    RowOutcome.UPDATED: "would update",
    RowOutcome.UNCHANGED: "would leave unchanged",
    RowOutcome.SHIELDED: "would apply to a shielded record",
    RowOutcome.REVIEW: "would go to review",
    RowOutcome.REJECTED: "rejected",
}


def report_line(row: Row[Any]) -> tuple[object, ...]:
    return (
        row.row_number,
        spreadsheet_safe(row.source_record_id or ""),
        row.outcome.value,
        row.index_id or "",
        "" if row.score is None else f"{row.score:.1f}",
        spreadsheet_safe("; ".join(row.reasons)),
    )


APPLIED = {RowOutcome.SHIELDED: "applied to a shielded record"}


def outcome_label(load: Load, outcome: RowOutcome) -> str:
    return PREDICTED[outcome] if load.is_dry_run else APPLIED.get(outcome, outcome.value)


def summary_lines(load: Load) -> list[str]:
    """What happened, in the words a data administrator needs: counts, reasons, gaps."""
    counts = load.counts or {}
    summary = load.summary or {}
    rows = sum(counts.values())
    rejected = counts.get(RowOutcome.REJECTED.value, 0)
    title = "Dry run (nothing changed)" if load.is_dry_run else f"Load {load.id}"
    lines = [
        f"{title}: {load.file_name} for {load.source.name}, {load.kind.value} load, {load.status.value}",
        f"  rows {rows:,}; valid {rows - rejected:,}; rejected {rejected:,}",
    ]
    # Rows on shielded records are rare: their line is left out when there are none.
    lines += [
        f"  {outcome_label(load, o)}: {counts.get(o.value, 0):,}"
        for o in OUTCOME_ORDER
        if o is not RowOutcome.SHIELDED or counts.get(o.value)
    ]
    if summary.get("rejected_by_field"):
        lines.append(
            "  rejected rows by field: "
            + ", ".join(f"{name} {count:,}" for name, count in summary["rejected_by_field"].items())
        )
    if summary.get("missing"):
        lines.append(
            "  fields most often missing: "
            + ", ".join(f"{name} {count:,}" for name, count in list(summary["missing"].items())[:5])
        )
    if summary.get("unknown_columns"):
        lines.append("  columns ignored (not in the format): " + ", ".join(summary["unknown_columns"]))
    if summary.get("involvements_ended"):
        ended = "involvements that would end" if load.is_dry_run else "involvements ended"
        lines.append(f"  {ended} (not in this full load): {summary['involvements_ended']:,}")
    if summary.get("nothing_changed"):
        earlier = summary.get("same_file_as_load")
        lines.append("  Nothing changed" + (f": this file was loaded before (load {earlier})" if earlier else ""))
    return lines


def report_csv(load_id: int) -> Iterator[str]:
    """The report as CSV text, a page of rows at a time, each page read in a short transaction of its own."""

    def read_page(after: int) -> Sequence[Row[Any]]:
        # Plain rows with the index id joined in: no ORM objects, nor the records they would load.
        return db.session.execute(
            select(
                LoadRow.row_number,
                LoadRow.source_record_id,
                LoadRow.outcome,
                Child.index_id,
                LoadRow.score,
                LoadRow.reasons,
            )
            .outerjoin(Child, Child.id == LoadRow.child_id)
            .where(LoadRow.load_id == load_id, LoadRow.row_number > after)
            .order_by(LoadRow.row_number)
            .limit(REPORT_PAGE)
        ).all()

    return paged_csv(REPORT_COLUMNS, read_page, lambda row: row.row_number, report_line, REPORT_PAGE)


@dataclass(frozen=True)
class ReportPage:
    rows: list[LoadRow]
    quarantined: dict[int, QuarantinedRow]  # the raw values and reasons of the page's rejected rows, by row number
    total: int  # rows of the report (of that outcome, if one is asked)
    page: int  # the page shown: the one asked, or the last there is
    pages: int


def report_page(load: Load, outcome: RowOutcome | None, asked: int, per_page: int) -> ReportPage:
    """One page of the load's report in row order, of one outcome or all."""
    where = [LoadRow.load_id == load.id] + ([LoadRow.outcome == outcome] if outcome else [])
    total = db.session.scalar(select(func.count()).select_from(LoadRow).where(*where)) or 0
    pages = page_count(total, per_page)
    page = min(asked, pages)
    rows = list(
        db.session.scalars(
            select(LoadRow)
            .where(*where)
            .options(selectinload(LoadRow.child))
            .order_by(LoadRow.row_number)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    quarantined = {
        q.row_number: q
        for q in db.session.scalars(
            select(QuarantinedRow).where(
                QuarantinedRow.load_id == load.id, QuarantinedRow.row_number.in_([r.row_number for r in rows])
            )
        )
    }
    return ReportPage(rows, quarantined, total, page, pages)
