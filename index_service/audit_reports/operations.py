"""Running and exporting auditors' reports: each run and each export is itself an audit event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select

from index_service.audit import canonical
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag
from index_service.audit_reports.reports import EventLine, Filters, event_line
from index_service.extensions import db
from index_service.spreadsheets import paged_csv, spreadsheet_safe

CSV_PAGE = 1000
CSV_COLUMNS = (
    "position",
    "occurred_at_utc",
    "action",
    "outcome",
    "user",
    "user_email",
    "user_roles",
    "organisation",
    "reason",
    "target_ids",
    "client_address",
    "user_agent",
    "details",
)


def report_run(
    report: str, filters: Filters, channel: str, subject: dict[str, Any] | None = None, target_ids: tuple[str, ...] = ()
) -> None:
    record_event(
        AuditTag.AUDIT_REPORT,
        target_ids=target_ids,
        details={"report": report, "channel": channel, "filters": filters.as_details(), **(subject or {})},
    )


def report_export(
    report: str, filters: Filters, subject: dict[str, Any] | None = None, target_ids: tuple[str, ...] = ()
) -> None:
    record_event(
        AuditTag.AUDIT_EXPORT,
        target_ids=target_ids,
        details={"report": report, "format": "csv", "filters": filters.as_details(), **(subject or {})},
    )


def csv_line(line: EventLine) -> tuple[object, ...]:
    """One event as spreadsheet-safe cells: text a spreadsheet shows and never runs."""
    return (
        line.position,
        line.occurred_at.isoformat(),
        line.tag,
        line.outcome,
        spreadsheet_safe(line.user_name or ""),
        spreadsheet_safe(line.user_email or ""),
        line.actor_roles or "",
        spreadsheet_safe(line.organisation or ""),
        spreadsheet_safe(line.reason or ""),
        spreadsheet_safe(" ".join(line.target_ids)),
        spreadsheet_safe(line.client_address or ""),
        spreadsheet_safe(line.user_agent or ""),
        spreadsheet_safe(canonical.json_text(line.details)),
    )


def report_csv(query: Select[Any]) -> Iterator[str]:
    """The report's every event as CSV, in chain order, a page at a time, each read in a short transaction."""

    def read_page(after: int) -> list[EventLine]:
        rows = db.session.execute(
            query.where(AuditEvent.chain_position > after).order_by(AuditEvent.chain_position).limit(CSV_PAGE)
        ).all()
        return [event_line(row) for row in rows]

    return paged_csv(CSV_COLUMNS, read_page, lambda line: line.position, csv_line, CSV_PAGE)
