"""Where a load and a dry run part ways: what a batch does with what it decided.

A batch decides and applies its rows the same way in both (sources.loading.batch); everything that
differs is behind one object, an `Effects`, chosen once per run (`run.effects_for`):

- `Written` (a load): each batch writes its children, involvements, keys, review items and
  shielding decisions to the index, and audits each child it made or changed, in its own
  transaction. A later batch reads what an earlier one wrote from the database.
- `dry_run.Predicted` (a dry run): nothing is written to the index but the report rows and the
  position. Each batch changes held records in memory only and carries what a load would have
  written to the next batch, so the report is the load's, row for row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import ColumnElement, and_, exists, func, select, update

from index_service.audit.events import record_events
from index_service.audit.models import AuditTag
from index_service.children.held import HeldRecord
from index_service.children.models import Child, Involvement
from index_service.children.writes import Writes
from index_service.extensions import db
from index_service.load_models import Load, LoadRow, ReviewItem
from index_service.record_shielding.operations import shield_by_load
from index_service.sources.candidates import Matched
from index_service.sources.changed import Changed, Key
from index_service.sources.loading.report_rows import row_as_json
from index_service.sources.validation import ValidRow
from matching.linkage import Resolution, ScoredCandidate

if TYPE_CHECKING:
    from index_service.sources.loading.batch import Batch


class Effects(Protocol):
    """What a run's batches do with what they decide (see the module's docstring)."""

    # Whether the run changes the index (a dry run's summary never says "nothing changed").
    changes_index: bool
    # Whether a batch may be begun (its rows matched) before the batch before it is applied: a
    # load's later batch finds what the earlier one wrote whenever it reads; a dry run's batch
    # starts from what the earlier one carried, so only once that one is done.
    overlaps: bool

    def writes(self, now: datetime) -> Writes:
        """How the batch's rows change their records: written, or in memory only."""
        ...

    def held(self) -> tuple[dict[int, HeldRecord], list[HeldRecord | None], Changed]:
        """What a batch starts from: held records already changed (by id), the records made so
        far (numbered -1, -2, ...), and the records made or changed that matching finds otherwise."""
        ...

    def recall_for_rows(self, source_records: set[str], values: set[str], keys: Iterable[Key]) -> dict[int, HeldRecord]:
        """Held records set aside earlier that the batch's rows could meet, by their source record
        ids, NHS numbers and UPNs, and blocking keys and identifiers (by each id they are held under)."""
        ...

    def recall_for_candidates(self, matched: Iterable[Matched], known: Iterable[int]) -> dict[int, HeldRecord]:
        """Held records set aside earlier among the candidates the rows found and the children
        their source record ids name."""
        ...

    def known(self, source_records: set[str]) -> dict[str, int]:
        """Source record id -> its child, for those earlier batches linked or made and did not write."""
        ...

    def owners(self, values: set[str]) -> dict[str, int | HeldRecord]:
        """NHS number or UPN -> the record this source gave it for in earlier batches, unwritten."""
        ...

    def name_made(self, child: HeldRecord, row_number: int) -> None:
        """Name a child a row makes, in the report."""
        ...

    def review(self, load: Load, row: ValidRow, resolution: Resolution, *, best_shielded: bool) -> None:
        """Send the row to the review queue (an item whose best candidate is shielded is marked so)."""
        ...

    def batch_done(self, batch: Batch) -> None:
        """The batch's rows are applied and its writes flushed: finish what it did, before it commits."""
        ...

    def end_involvements(self, load: Load, today: date) -> int:
        """A full load's end: the source's open involvements its rows did not supply have ended.
        How many."""
        ...

    def close(self) -> None:
        """The run is over (or failed): let go of what it held."""
        ...


def not_supplied(load: Load) -> ColumnElement[bool]:
    """The source's open involvements of children no row of this load named."""
    supplied = exists().where(and_(LoadRow.load_id == load.id, LoadRow.child_id == Involvement.child_id))
    return and_(Involvement.source_id == load.source_id, Involvement.end_date.is_(None), ~supplied)


def record_changes(load: Load, changes: Iterable[tuple[str, int | None, str, list[str]]]) -> None:
    """A `load:record:change` event for each (child's index id, row, what happened, fields' names):
    which load and source, never a value."""
    source = load.source
    record_events(
        AuditTag.LOAD_CHANGE,
        (
            ([index_id], {"load_id": load.id, "source": source.name, "row": row, "change": change, "fields": fields})
            for index_id, row, change, fields in changes
        ),
        user=load.created_by,
        organisation_id=source.organisation_id,
    )


def candidate_as_json(candidate: ScoredCandidate) -> dict[str, object]:
    return {
        "child_id": candidate.child_id if candidate.child_id > 0 else None,
        "index_id": candidate.index_id,
        "weight": round(candidate.weight, 2),
        "probability": round(candidate.probability, 4),
        "conflicts": list(candidate.conflicts),
        "contributions": [
            {"field": c.field, "level": c.level, "weight": round(c.weight, 2), "explanation": c.explanation}
            for c in candidate.contributions
        ],
    }


class Written:
    """A load's effects: every batch writes what it did to the index, in its own transaction."""

    changes_index = True
    overlaps = True

    def writes(self, now: datetime) -> Writes:
        return Writes(now)

    def held(self) -> tuple[dict[int, HeldRecord], list[HeldRecord | None], Changed]:
        # Each batch reads what earlier batches wrote from the index: it starts from nothing.
        return {}, [], Changed()

    def recall_for_rows(self, source_records: set[str], values: set[str], keys: Iterable[Key]) -> dict[int, HeldRecord]:
        return {}

    def recall_for_candidates(self, matched: Iterable[Matched], known: Iterable[int]) -> dict[int, HeldRecord]:
        return {}

    def known(self, source_records: set[str]) -> dict[str, int]:
        return {}

    def owners(self, values: set[str]) -> dict[str, int | HeldRecord]:
        return {}

    def name_made(self, child: HeldRecord, row_number: int) -> None:
        return  # its index id, reserved from the database

    def review(self, load: Load, row: ValidRow, resolution: Resolution, *, best_shielded: bool) -> None:
        db.session.add(
            ReviewItem(
                load=load,
                source=load.source,
                row_number=row.row_number,
                source_record_id=row.source_record_id,
                incoming=row_as_json(row),
                candidates=[candidate_as_json(c) for c in resolution.candidates],
                best_shielded=best_shielded,
            )
        )

    def batch_done(self, batch: Batch) -> None:
        """The records rows flagged shielded, with their shielding decisions; and each child the
        batch made, linked, changed or archived, in that child's audit trail: which load and
        source, which row, and the names of the fields it changed (never their values). Queued
        with the batch's writes, and sealed into the chain when the batch commits."""
        for record, note in batch.to_shield:
            assert record.id is not None
            shield_by_load(record.id, record.index_id, note, batch.load.id, batch.load.created_by)
        record_changes(batch.load, ((record.index_id, *rest) for record, *rest in batch.audited))

    def end_involvements(self, load: Load, today: date) -> int:
        ending = not_supplied(load)
        # Each child whose involvement ends, for that child's audit trail.
        children = db.session.execute(
            select(Child.index_id, func.min(Involvement.id))
            .join(Involvement, Involvement.child_id == Child.id)
            .where(ending)
            .group_by(Child.index_id)
            .order_by(func.min(Involvement.id))
        ).all()
        result = db.session.execute(
            update(Involvement).where(ending).values(end_date=today).execution_options(synchronize_session=False)
        )
        record_changes(load, ((index_id, None, "involvement ended", ["involvement"]) for index_id, _ in children))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def close(self) -> None:
        return
