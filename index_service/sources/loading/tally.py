"""A load's running totals: outcomes, rejections by field, missing optional fields, warnings.

They are kept in the load row and stored with each batch's commit, so a resumed load carries on
counting from its last committed row and its totals always match its report rows.
"""

from __future__ import annotations

from collections import Counter

from index_service.load_models import Load, RowOutcome
from index_service.sources.loading.report_rows import RowResult
from index_service.sources.validation import RejectedRow, ValidRow

OPTIONAL_FIELDS = (
    "middle_names",
    "nhs_number",
    "upn",
    "address_line1",
    "town",
    "postcode",
    "parent_carer_name",
    "parent_carer_phone",
    "practitioner_name",
    "practitioner_phone",
)


class Tally:
    """The load's running totals, kept in the load row so a resumed load carries on counting."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.outcomes: Counter[str] = Counter(load.counts or {})
        summary = load.summary or {}
        self.rejected_by_field: Counter[str] = Counter(summary.get("rejected_by_field", {}))
        self.missing: Counter[str] = Counter(summary.get("missing", {}))
        self.warnings = int(summary.get("warnings", 0))

    def add(self, row: ValidRow | RejectedRow, result: RowResult) -> None:
        self.outcomes[result.outcome.value] += 1
        if isinstance(row, ValidRow):
            self.missing.update(name for name in OPTIONAL_FIELDS if getattr(row, name) is None)
            self.warnings += bool(row.warnings)
        for reason in result.reasons if result.outcome is RowOutcome.REJECTED else ():
            self.rejected_by_field[reason.split(":", 1)[0] if ":" in reason else reason] += 1

    def store(self) -> None:
        self.load.counts = dict(self.outcomes)
        self.load.summary = {
            **(self.load.summary or {}),
            "rejected_by_field": dict(self.rejected_by_field.most_common()),
            "missing": dict(self.missing.most_common()),
            "warnings": self.warnings,
        }
