"""What a load says of a row that lands on a shielded record: one outcome and one reason, whatever the row holds.

A data administrator may not see a shielded record's address, postcode, carers or identifiers.
A report that said whether a row changed such a record (updated or unchanged), how closely it
matched (a score), or what it met there (a conflict over an identifier, a date of birth kept)
would answer a row with a guessed postcode, first line or carer: "is this where she lives?".
So every row that lands on a record that was shielded before the row came, by the source record
id the source sent before or by matching, is reported the same way in a load and in a dry run:
this outcome, this reason and no score, in the report, its counts, the summary ("nothing
changed" counts it as a change), on the page, the command line and the API. The row is applied
in full all the same (nothing it says is lost), and the shielding team sees the record.

Warnings about the row itself stay: validation makes them from the row alone, before it meets
any record, so they say nothing of what the index holds.
"""

from __future__ import annotations

from index_service.load_models import RowOutcome
from index_service.sources.validation import ValidRow

OUTCOME = RowOutcome.SHIELDED
REASON = (
    "applied to a shielded record: what it changed and how it compared are not shown; "
    "the shielding team sees the record"
)


def reasons_for(row: ValidRow) -> tuple[str, ...]:
    """The reasons a row that landed on a shielded record is reported with: its own warnings, and the one reason."""
    return (*(f"warning: {warning}" for warning in row.warnings), REASON)
