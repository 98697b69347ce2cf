"""Running a load: read, validate, resolve and apply an extract in batches, one transaction each.

Each batch commits its changes to the index together with the report rows of the extract
rows it applied and the load's position, so a load stopped at any moment (even `kill -9`)
resumes after its last committed row: no row is applied twice and none is lost. With matching
workers, the workers read each batch's candidates and match its rows while the load applies the
batch before (see _apply_overlapped and sources.candidates).

A dry run takes the same path, row for row, but writes nothing to the index: its batches
apply their rows to held records in memory, and carry what a load would have written to the
next batch (see sources.dry_run), so what it predicts is what a load would report whatever the
batch size. It still commits its report rows and position batch by batch, for its progress; what
it carries is not kept, so a dry run run again after a stop starts again from its first row.
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Engine, Table, and_, delete, exists, func, select, update

from index_service.audit.events import record_event, record_events
from index_service.audit.models import AuditTag, Outcome
from index_service.auth.models import User
from index_service.children.held import HeldRecord, one_of, read_held
from index_service.children.lookup import MERGE_DEPTH, HeldPerson, held_people
from index_service.children.models import Child, DataSource, IdentifierKind, Involvement, SourceIdentifier
from index_service.children.writes import Writes
from index_service.database import insert_rows, shareable, tune_for_bulk_load, utcnow
from index_service.extensions import db
from index_service.load_models import (
    Load,
    LoadKind,
    LoadRow,
    LoadStatus,
    QuarantinedRow,
    ReviewItem,
    ReviewStatus,
    RowOutcome,
)
from index_service.shields.operations import shield_by_load
from index_service.sources import shielded
from index_service.sources.applying import apply_to_record, create_from_row, made_with
from index_service.sources.candidates import Matched, ToMatch, match_rows, read_only_settings
from index_service.sources.changed import Changed
from index_service.sources.dry_run import NEW_CHILD, Carried, Unwritten
from index_service.sources.extract import ExtractError, count_rows, format_for
from index_service.sources.pool import MatchingPool, matching_pool
from index_service.sources.reading import ReadBatch, batches_read_ahead, read_batches, unknown_columns
from index_service.sources.uploads import load_stopped
from index_service.sources.validation import RejectedRow, ValidRow
from matching.collecting import CollectedBetween
from matching.deciding import (
    LINK,
    NEW,
    RESEMBLES,
    REVIEW,
    Incoming,
    Verdict,
    could_change,
    decide,
    review_reasons,
    rounded_score,
    verdict_of,
)
from matching.linkage import Resolution, ScoredCandidate
from matching.person import Person
from matching.search import Candidate

# Core tables for the batch's lookups: the ORM's row handling cost more than these queries.
SOURCE_IDENTIFIERS: Table = SourceIdentifier.__table__  # type: ignore[assignment]
LOAD_ROWS: Table = LoadRow.__table__  # type: ignore[assignment]
QUARANTINED_ROWS: Table = QuarantinedRow.__table__  # type: ignore[assignment]
OVER_AGE = "date_of_birth: the child is 18 or over and is not in the index, so is not added"
SHIELDED_BY_ROW = "shielded: the source flagged this row for shielding; a shielder reviews it"
FLAGGED = "Flagged for shielding by {source}, row {row} of the load."
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

Progress = Callable[[Load], None]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def begin_load(
    source: DataSource,
    path: Path,
    kind: LoadKind,
    *,
    dry_run: bool = False,
    user: User | None = None,
    file_name: str | None = None,
) -> Load:
    """The load of this file: the unfinished one of the same file, to resume, or a new one."""
    if not source.is_active:
        raise ExtractError(f"The data source {source.name!r} is not active; a data administrator can reactivate it")
    fmt = format_for(file_name or path.name)
    sha = file_sha256(path)
    unfinished = db.session.scalar(
        select(Load)
        .where(
            Load.source_id == source.id,
            Load.file_sha256 == sha,
            Load.kind == kind,
            Load.is_dry_run == dry_run,
            Load.status != LoadStatus.COMPLETED,
        )
        .order_by(Load.id.desc())
    )
    if unfinished is not None:
        return unfinished
    load = Load(
        source=source,
        kind=kind,
        is_dry_run=dry_run,
        file_name=file_name or path.name,
        file_format=fmt,
        file_sha256=sha,
        stored_path=str(path),
        rows_expected=count_rows(path, fmt),
        created_by=user,
        counts={},
        summary={},
    )
    db.session.add(load)
    db.session.flush()
    return load


def earlier_load_of_same_file(load: Load) -> Load | None:
    return db.session.scalar(
        select(Load)
        .where(
            Load.source_id == load.source_id,
            Load.file_sha256 == load.file_sha256,
            Load.id != load.id,
            Load.status == LoadStatus.COMPLETED,
            Load.is_dry_run.is_(False),
        )
        .order_by(Load.id.desc())
    )


@dataclass
class _RowResult:
    outcome: RowOutcome
    child: HeldRecord | None = None
    child_id: int | None = None
    score: float | None = None
    reasons: tuple[str, ...] = ()


class _BatchRun:
    """One batch: its rows matched together, then each row resolved and applied in file order.

    Each row is decided against the index as the rows before it left it, whether they fell in
    an earlier batch or earlier in this one: a record made or changed by an earlier row of the
    batch is found and compared as it now stands (see sources.changed), so a row's outcome does
    not depend on where the file was cut into batches. Every row is first decided on its held
    candidates as the batch found them, by the pool's workers when there are some; that verdict
    stands for a row that meets no record the batch has made or changed and does not go to
    review, and the others are decided here, in turn, when their row comes. A batch that
    follows another (matched while that one wrote) finds what it made and changed the same way.

    A dry run's batch (carried: what its earlier batches would have written) writes nothing:
    it starts from what they made and changed, as if it had been written, and adds its own.
    """

    def __init__(
        self,
        load: Load,
        batch: ReadBatch,
        today: date,
        pool: MatchingPool | None = None,
        carried: Carried | None = None,
    ) -> None:
        self.load, self.source, self.rows, self.today = load, load.source, batch.rows, today
        self.read, self.pool, self.carried = batch, pool, carried
        self.now = utcnow()
        self.valid = [row for row in self.rows if isinstance(row, ValidRow)]
        self.verdicts: dict[int, Verdict | None] = {}  # row number -> its verdict on its held candidates
        # Source record id -> its child (minus its number if made and not yet written): as found,
        # and as earlier rows of the load link or make them (for the report of a later row of the
        # file with the same id, which is rejected); and the review item it waits in.
        self.known: dict[str, int] = {}
        self.waiting: dict[str, int] = {}
        self.people: dict[int, Person] = {}  # row number -> the row as matching sees it
        self.keys: dict[int, set[int]] = {}  # row number -> the blocking keys it looks up
        # Row number -> its held candidates as matched (see sources.candidates); the matching begun.
        self.matched: dict[int, Matched] = {}
        self._matching: Callable[[], list[Matched]] = list
        self.merged: dict[int, int] = {}  # a held candidate's id -> the record it was merged into, for those merged
        self.whole: dict[int, HeldPerson] = {}  # held candidates matching left unread, read whole for review
        # NHS number or UPN -> the record (id, or a record made in this batch) this source gave it for.
        self.owners: dict[str, int | HeldRecord] = {}
        self.writes = Writes(self.now) if carried is None else Unwritten(self.now)
        # Held records read to be changed (a retired id gives its survivor), and those a row changed.
        self.records: dict[int, HeldRecord] = dict(carried.records) if carried else {}
        self.touched: set[int] = set()  # id() of each
        self.recent: list[int] = []  # the key of each record made or changed (for a dry run), in turn
        self.created: list[HeldRecord | None] = carried.created if carried else []
        self.changed = carried.changed if carried else Changed()
        self.shielded_ids: set[int] = set()
        self.noted: list[int] = []  # the key of each record made or changed that matching finds otherwise now
        # Records the batch shields (flagged rows), with the note for the shielding decision.
        self.to_shield: list[tuple[HeldRecord, str]] = []
        # Each record a row made, linked, changed or archived: (record, row number, what, the fields' names).
        self.audited: list[tuple[HeldRecord, int, str, list[str]]] = []

    def begin(self) -> None:
        """Read what the batch's rows' source record ids and identifiers name, and start matching
        the rows (by the pool's workers, while this process goes on: see `run`)."""
        ids = {row.source_record_id for row in self.rows if row.source_record_id}
        self._recall_for_rows(ids)
        self.known = self._known_records(ids)
        self.waiting = self._waiting(ids)
        if self.carried is not None:
            self.known |= {i: self.carried.known[i] for i in ids if i in self.carried.known}
        fresh = [row for row in self.valid if row.source_record_id not in self.known]
        self.people = {row.row_number: self.read.people[row.row_number] for row in fresh}
        self.keys = {row.row_number: self.read.keys[row.row_number] for row in fresh}
        by_identifier, self.owners = self._holders(self._identifiers())
        rows = [
            ToMatch(
                row.row_number,
                self._incoming(row),
                frozenset(self.keys[row.row_number]),
                frozenset(by_identifier.get(row.nhs_number or "", set()) | by_identifier.get(row.upn or "", set())),
            )
            for row in fresh
            if row.source_record_id not in self.waiting
        ]
        if self.pool is not None:
            self._matching = self.pool.match(rows)
        else:
            matched = match_rows(rows)
            self._matching = lambda: matched

    def _matched(self) -> None:
        """The rows matched as begun, and (a dry run) what was spilled of the records they found."""
        self.matched = {m.number: m for m in self._matching()}
        for matched in self.matched.values():
            self.shielded_ids |= matched.shielded
            self.merged.update(matched.merged)
        # A row sent to review lists every candidate: those of the rows matching sends there are read together.
        self.whole = held_people(set().union(*(m.pruned for m in self.matched.values() if m.verdict is None)))
        self._recall_for_candidates()

    def _waiting(self, ids: set[str]) -> dict[str, int]:
        """The review items the rows' source records wait in."""
        return dict(
            db.session.execute(
                select(ReviewItem.source_record_id, ReviewItem.id).where(
                    ReviewItem.source_id == self.source.id,
                    ReviewItem.source_record_id.in_(ids),
                    ReviewItem.status.in_((ReviewStatus.OPEN, ReviewStatus.DEFERRED)),
                )
            ).all()
        )

    def _recall_for_rows(self, source_records: set[str]) -> None:
        """A dry run's first recall for the batch: bring back what its earlier batches spilled that
        the rows could meet, as if it had never left memory (see sources.dry_run), by the rows'
        source record ids, NHS numbers, UPNs, keys and identifiers. A load has nothing to recall,
        and builds none of these."""
        if self.carried is None:
            return
        self.records |= self.carried.recall(
            source_records=source_records,
            values=self._identifiers(),
            keys=[
                key
                for row in self.valid
                for key in (*self.read.keys[row.row_number], *self.read.people[row.row_number].identifiers)
            ],
        )

    def _recall_for_candidates(self) -> None:
        """A dry run's second recall for the batch: what was spilled of the held records the rows
        found, and of those their source record ids name."""
        if self.carried is None:
            return
        self.records |= self.carried.recall(
            ids=set().union(*(m.survivors for m in self.matched.values()), (i for i in self.known.values() if i > 0))
        )

    def _known_records(self, ids: set[str]) -> dict[str, int]:
        if not ids:
            return {}
        identifier = SOURCE_IDENTIFIERS.c
        found = db.session.execute(
            select(identifier.value, identifier.child_id).where(
                identifier.kind == IdentifierKind.SOURCE_RECORD,
                identifier.source_id == self.source.id,
                one_of(identifier.value, ids),
            )
        ).all()
        return {value: child_id for value, child_id in found}

    def _identifiers(self) -> set[str]:
        """The NHS numbers and UPNs of the batch's rows."""
        return {value for row in self.valid for value in (row.nhs_number, row.upn) if value}

    def _holders(self, values: set[str]) -> tuple[dict[str, set[int]], dict[str, int | HeldRecord]]:
        """Who holds these NHS numbers and UPNs: any record (candidates), and this source's (owners)."""
        if not values:
            return {}, {}
        holders: dict[str, set[int]] = {}
        owners: dict[str, int | HeldRecord] = {}
        identifier = SOURCE_IDENTIFIERS.c
        for value, child_id, source_id in db.session.execute(
            select(identifier.value, identifier.child_id, identifier.source_id).where(
                identifier.kind.in_((IdentifierKind.NHS_NUMBER, IdentifierKind.UPN)),
                one_of(identifier.value, values),
            )
        ):
            holders.setdefault(value, set()).add(child_id)
            if source_id == self.source.id:
                owners[value] = child_id
        if self.carried is not None:
            owners |= {value: self.carried.owners[value] for value in values if value in self.carried.owners}
        return holders, owners

    def follow(self, earlier: _BatchRun) -> None:
        """This batch's rows were matched while the earlier batch wrote, which it now has (see
        _apply_overlapped), so on candidates read before or after it committed: what that batch
        made and changed is found and compared as this batch's own rows' changes are, whichever
        (a held candidate it changed is set aside for the record as it now stands), and what it
        gave the rows' source records and identifiers is read again. A row of this batch with
        the source record id of one of that batch's (sent twice, so rejected: no valid row of a
        file has another's) names its child, and an NHS number or UPN that batch gave one record
        is not given another."""
        for child_id in dict.fromkeys(earlier.noted):
            record = earlier.changed.records[child_id]
            assert record.id is not None  # written
            # As that batch last noted it: a record is noted after every change of how matching sees it.
            self.changed.note(record.id, record, earlier.changed.people[child_id], record.blocking_keys)
        # That batch gave records only its own rows' source record ids and identifiers, so only
        # those this batch shares with it (a file's rows rarely do) can have changed hands.
        ids = {row.source_record_id for row in self.rows if row.source_record_id}
        self.known |= self._known_records(ids.intersection(row.source_record_id for row in earlier.rows))
        shared = self._identifiers() & earlier._identifiers()
        if shared:
            self.owners = {value: owner for value, owner in self.owners.items() if value not in shared} | (
                self._holders(shared)[1]
            )

    def run(self) -> list[_RowResult]:
        """Resolve and apply every row in file order, then write the batch (begun)."""
        with db.session.no_autoflush:
            self._matched()
            self.verdicts = {number: matched.verdict for number, matched in self.matched.items()}
            # Index ids for the rows that, as matched, make a child; another row that comes to make one
            # takes one then.
            self.writes.reserve_index_ids(sum(v is not None and v.outcome == NEW for v in self.verdicts.values()))
            # The records rows will most likely change, read together rather than one by one.
            known = {self.known[row.source_record_id] for row in self.valid if row.source_record_id in self.known}
            links = {v.child_id for v in self.verdicts.values() if v is not None and v.child_id is not None}
            self._read_records({child_id for child_id in known | links if child_id > 0})
            results = [self._one(row) for row in self.rows]
        self.writes.flush()
        if self.carried is not None:
            self._carry(self.carried)
            return results
        for record, note in self.to_shield:
            assert record.id is not None
            shield_by_load(record.id, record.index_id, note, self.load.id, self.load.created_by)
        self._audit_changes()
        return results

    def _audit_changes(self) -> None:
        """Each child the batch made, linked, changed or archived, in that child's audit trail: which
        load and source, which row, and the names of the fields it changed (never their values).
        Queued with the batch's writes, and sealed into the chain when the batch commits."""
        _record_changes(self.load, ((record.index_id, *rest) for record, *rest in self.audited))

    def _carry(self, carried: Carried) -> None:
        """What this dry run's batch would have written, for its later batches to find."""
        carried.keep(
            {i: record for i, record in self.records.items() if id(record) in self.touched},
            self.recent,
            self.known,
            self.owners,
        )

    def _note(self, child_id: int, record: HeldRecord, person: Person) -> None:
        """The record was made, or a row changed who it is, where it lives or whether it is shielded."""
        self.changed.note(child_id, record, person, self.writes.keys_of(record, person))
        self.noted.append(child_id)

    def _is_shielded(self, child_id: int) -> bool:
        """Whether a candidate (held, or made or changed since the batch read it) is a shielded record."""
        changed = self.changed.records.get(child_id)
        return changed.is_shielded if changed is not None else child_id in self.shielded_ids

    def _record(self, child_id: int) -> HeldRecord:
        """The record of a child (or the one it was merged into) to change: made in this batch, or held."""
        if child_id < 0:
            made = self.created[-child_id - 1]
            assert made is not None  # a dry run recalls a spilled one before its batch could meet it
            return made
        if child_id not in self.records:
            self._read_records({child_id})
        return self.records[child_id]

    def _read_records(self, ids: set[int]) -> None:
        """Read the records of these children, each as held or as the record it was merged into."""
        read = read_held(ids - set(self.records), [self.source.id])
        for _ in range(MERGE_DEPTH):
            merged = {r.merged_into_id for r in read.values() if r.merged_into_id is not None}
            unread = merged - set(read) - set(self.records)
            if not unread:
                break
            read.update(read_held(unread, [self.source.id]))
        for child_id, record in read.items():
            for _ in range(MERGE_DEPTH):
                if record.merged_into_id is None:
                    break
                record = self.records.get(record.merged_into_id) or read[record.merged_into_id]
            self.records[child_id] = record

    def _apply(self, result: _RowResult, row: ValidRow, child_id: int) -> None:
        """Apply the row to the record it resolved to (child_id: its id, or minus its number if made in this batch)."""
        record = result.child
        assert record is not None
        before, was_shielded = record.person(), record.is_shielded
        for name, label in (("nhs_number", "NHS number"), ("upn", "UPN")):
            value = getattr(row, name)
            owner = self.owners.setdefault(value, record) if value else None
            if owner is not None and owner is not record and owner != record.id:
                row = replace(row, **{name: None})
                result.reasons += (
                    f"conflict: this source gave the {label} {value} for another record too; not added here",
                )
        applied = apply_to_record(record, row, self.source, self.writes)
        if row.shield and not record.is_shielded:
            # A load shields, never unshields: a blank or "no" leaves a shielded record shielded.
            self.writes.change_child(record, is_shielded=True)
            self.to_shield.append((record, FLAGGED.format(source=self.source.name, row=row.row_number)))
            applied.change("shielded")
            applied.notes.append(SHIELDED_BY_ROW)
        if result.outcome is not RowOutcome.LINKED:
            result.outcome = RowOutcome.UPDATED if applied.changed else RowOutcome.UNCHANGED
        result.reasons += tuple(applied.notes)
        if applied.changed:
            change = (
                "linked"
                if result.outcome is RowOutcome.LINKED
                else ("archived" if "status" in applied.fields else "updated")
            )
            self.audited.append((record, row.row_number, change, sorted(applied.fields)))
        if was_shielded:
            # Applied in full, reported as every row on a shielded record is, whatever it held.
            result.outcome, result.reasons, result.score = shielded.OUTCOME, shielded.reasons_for(row), None
        if applied.changed:
            self.touched.add(id(record))
            self.recent.append(record.id if record.id is not None else child_id)
        after = record.person()
        if record.is_shielded != was_shielded or after != before:
            self._note(child_id, record, after)

    def _one(self, row: ValidRow | RejectedRow) -> _RowResult:
        if isinstance(row, RejectedRow):
            child_id = self.known.get(row.source_record_id or "")
            if child_id is not None and child_id < 0:  # made by an earlier row: its id comes when it is written
                return _RowResult(RowOutcome.REJECTED, self._record(child_id), reasons=row.reasons)
            return _RowResult(RowOutcome.REJECTED, child_id=child_id, reasons=row.reasons)
        reasons = tuple(f"warning: {warning}" for warning in row.warnings)
        known_id = self.known.get(row.source_record_id)
        if known_id is not None:
            record = self._record(known_id)
            assert record.id is not None  # a file's rows with the id of an earlier one are rejected
            result = _RowResult(RowOutcome.UNCHANGED, record, reasons=reasons + ("source record seen before",))
            self._apply(result, row, record.id)
            return result
        waiting = self.waiting.get(row.source_record_id)
        if waiting is not None:
            return _RowResult(RowOutcome.REVIEW, reasons=reasons + (f"already waiting for review (item {waiting})",))
        return self._resolve(row, reasons)

    def _incoming(self, row: ValidRow) -> Incoming:
        return Incoming(self.people[row.row_number], row.nhs_number, row.upn)

    def _meets_changed(self, number: int) -> bool:
        """Whether the row meets a record made or changed by an earlier row of the batch."""
        if not self.changed.records:
            return False
        # The records' keys view, not the row's set, asked: a set's isdisjoint walks every key of a dict.
        return not self.changed.records.keys().isdisjoint(self.matched[number].survivors) or bool(
            self.changed.found((*self.keys[number], *self.people[number].identifiers))
        )

    def _candidates(self, number: int) -> tuple[list[Candidate], list[int], list[Candidate]]:
        """The row's candidates as the index now stands: those that could change its outcome, and
        the rest (held, their details unread; and made or changed in this batch).

        A record the batch has not changed is sorted as the batch found it. One it has made or
        changed is found through its keys and identifiers now, or through the stored ones of a
        record merged into it, and is sorted by the same rules, on what it now holds.
        """
        incoming, changed, matched = self.people[number], self.changed, self.matched[number]
        matter = [c for c in matched.matter if c.child_id not in changed]
        pruned = [i for i in matched.pruned if i not in changed]
        found, holding = self._unchanged_survivors(matched.found), self._unchanged_survivors(matched.holding)
        keep = (holding & changed.records.keys()) | changed.found(incoming.identifiers)
        meets = (found & changed.records.keys()) | changed.found(self.keys[number]) | keep
        keep |= {child_id for child_id in meets if self._is_shielded(child_id)}
        could = set(could_change(incoming, [(i, changed.people[i].without_details()) for i in sorted(meets - keep)]))
        met = [Candidate(i, changed.people[i], changed.records[i].index_id) for i in sorted(meets)]
        return (
            matter + [c for c in met if c.child_id in keep or c.child_id in could],
            pruned,
            [c for c in met if c.child_id not in keep and c.child_id not in could],
        )

    def _as_judged(self, number: int, candidates: list[Candidate]) -> bool:
        """Whether the row's candidates now are those its verdict was reached on: the same held
        candidates, none of them changed since, and none made or changed that could matter. Most
        rows that meet a record made or changed only share a blocking key with it."""
        held = self.matched[number].matter
        return len(candidates) == len(held) and all(
            candidate.child_id == h.child_id and h.child_id not in self.changed
            for candidate, h in zip(candidates, held, strict=True)
        )

    def _whole(self, ids: list[int]) -> list[HeldPerson]:
        """These held candidates, read whole: those of a row matching sent to review were already."""
        unread = [i for i in ids if i not in self.whole]
        if unread:
            self.whole |= held_people(unread)
        return [self.whole[i] for i in ids]

    def _unchanged_survivors(self, ids: frozenset[int]) -> set[int]:
        """The surviving records of these held ids, leaving out the ids the batch has changed (those
        are found through their keys now)."""
        # Not `ids - records.keys()`: that walks every key, and a dry run's records grow with the file.
        return {self.merged.get(i, i) for i in ids if i not in self.changed}

    def _resolve(self, row: ValidRow, reasons: tuple[str, ...]) -> _RowResult:
        number = row.row_number
        verdict = self.verdicts.get(number)
        if self._meets_changed(number):
            candidates, pruned, others = self._candidates(number)
            if not self._as_judged(number, candidates):
                verdict = None
        else:
            candidates, pruned, others = list(self.matched[number].matter), list(self.matched[number].pruned), []
        if verdict is None:
            incoming = self._incoming(row)
            resolution, why = decide(incoming, candidates, self._is_shielded)
            if resolution.outcome == REVIEW and (pruned or others):
                # The outcome stands; the review lists the best of all the candidates, read whole now.
                others += [Candidate(h.child_id, h.person, h.index_id) for h in self._whole(pruned)]
                resolution, why = decide(incoming, candidates + others, self._is_shielded)
            verdict = verdict_of(resolution, why, self._is_shielded)
            if verdict is None:
                return self._review(row, resolution, reasons + why)
        reasons += verdict.reasons
        if verdict.outcome == LINK:
            assert verdict.child_id is not None
            result = _RowResult(RowOutcome.LINKED, self._record(verdict.child_id), score=verdict.score, reasons=reasons)
            self._apply(result, row, verdict.child_id)
            assert result.child is not None
            self.known.setdefault(row.source_record_id, result.child.id or verdict.child_id)
            return result
        if row.over_age:
            return _RowResult(RowOutcome.REJECTED, reasons=reasons + (OVER_AGE,))
        child = create_from_row(row, self.source, self.writes)
        if self.carried is not None:
            child.index_id = NEW_CHILD.format(row=row.row_number)
        if row.shield:
            child.is_shielded = True
            self.to_shield.append((child, FLAGGED.format(source=self.source.name, row=row.row_number)))
            reasons += (SHIELDED_BY_ROW,)
        self.audited.append((child, row.row_number, "created", made_with(row) + (["shielded"] if row.shield else [])))
        for value in (row.nhs_number, row.upn):
            if value:
                self.owners.setdefault(value, child)
        self.created.append(child)
        self.recent.append(-len(self.created))
        self.known.setdefault(row.source_record_id, -len(self.created))
        self._note(-len(self.created), child, child.person())
        return _RowResult(RowOutcome.CREATED, child, reasons=reasons)

    def _review(self, row: ValidRow, resolution: Resolution, reasons: tuple[str, ...]) -> _RowResult:
        """Send the row to review (a dry run makes no review item: a source record id appears once
        in a file, so no later row of it could wait for the item). An item whose best candidate is
        a shielded record is for those who may see shielded records only."""
        best = resolution.best
        best_shielded = best is not None and self._is_shielded(best.child_id)
        if self.carried is None:
            db.session.add(
                ReviewItem(
                    load=self.load,
                    source=self.source,
                    row_number=row.row_number,
                    source_record_id=row.source_record_id,
                    incoming=row_as_json(row),
                    candidates=[candidate_as_json(c) for c in resolution.candidates],
                    best_shielded=best_shielded,
                )
            )
        if best_shielded:
            # The report names no shielded record a row resembles, nor how closely.
            return _RowResult(RowOutcome.REVIEW, reasons=reasons + (RESEMBLES,))
        return _RowResult(
            RowOutcome.REVIEW, score=rounded_score(best) if best else None, reasons=reasons + review_reasons(resolution)
        )


def row_as_json(row: ValidRow) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in vars(row).items():
        values[name] = (
            value.isoformat() if isinstance(value, date) else list(value) if isinstance(value, tuple) else value
        )
    return values


def candidate_as_json(candidate: ScoredCandidate) -> dict[str, Any]:
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


class _Tally:
    """The load's running totals, kept in the load row so a resumed load carries on counting."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.outcomes: Counter[str] = Counter(load.counts or {})
        summary = load.summary or {}
        self.rejected_by_field: Counter[str] = Counter(summary.get("rejected_by_field", {}))
        self.missing: Counter[str] = Counter(summary.get("missing", {}))
        self.warnings = int(summary.get("warnings", 0))

    def add(self, row: ValidRow | RejectedRow, result: _RowResult) -> None:
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


@contextmanager
def _batches(path: Path, load: Load, today: date, size: int, *, ahead: bool) -> Iterator[Iterator[ReadBatch]]:
    """The batches after the load's last committed row: read by a reader process a few batches
    ahead, or here."""
    if ahead:
        with batches_read_ahead(path, load.file_format, today, load.rows_done, size) as batches:
            yield batches
    else:
        with closing(read_batches(path, load.file_format, today, load.rows_done, size)) as batches:
            yield batches


@contextmanager
def _carried(load: Load) -> Iterator[Carried | None]:
    """What a dry run carries from batch to batch (a load, nothing): its scratch file is removed
    when the dry run ends, and when it fails."""
    if not load.is_dry_run:
        yield None
        return
    carried = Carried(current_app.config["DRY_RUN_CARRIED_RECORDS"])
    try:
        yield carried
    finally:
        carried.close()


def _write_batch(load: Load, batch: list[ValidRow | RejectedRow], results: list[_RowResult]) -> None:
    """The batch's report and quarantine rows, written in bulk (nothing reads them back in this load)."""
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


def _record_changes(load: Load, changes: Iterable[tuple[str, int | None, str, list[str]]]) -> None:
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


def _end_involvements_not_supplied(load: Load, today: date) -> int:
    """A full load is the source's whole caseload: its other open involvements have ended (a dry
    run counts those it would end: its report names the same held children as the load's)."""
    supplied = exists().where(and_(LoadRow.load_id == load.id, LoadRow.child_id == Involvement.child_id))
    not_supplied = and_(Involvement.source_id == load.source_id, Involvement.end_date.is_(None), ~supplied)
    if load.is_dry_run:
        return db.session.scalar(select(func.count()).select_from(Involvement).where(not_supplied)) or 0
    # Each child whose involvement ends, for that child's audit trail.
    children = db.session.execute(
        select(Child.index_id, func.min(Involvement.id))
        .join(Involvement, Involvement.child_id == Child.id)
        .where(not_supplied)
        .group_by(Child.index_id)
        .order_by(func.min(Involvement.id))
    ).all()
    result = db.session.execute(
        update(Involvement).where(not_supplied).values(end_date=today).execution_options(synchronize_session=False)
    )
    _record_changes(load, ((index_id, None, "involvement ended", ["involvement"]) for index_id, _ in children))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _begin(
    load: Load,
    batch: ReadBatch,
    today: date,
    pool: MatchingPool | None,
    carried: Carried | None,
) -> _BatchRun:
    """The batch begun: what its rows name read, and the matching of them started."""
    tune_for_bulk_load(db.session.connection())  # the connection this transaction has
    run = _BatchRun(load, batch, today, pool, carried)
    run.begin()
    return run


def _apply_batch(run: _BatchRun, tally: _Tally) -> None:
    """Apply (or, carrying a dry run's state, predict) one batch, begun, and commit it
    with its report rows and the load's position. A dry run's children have no id in its report:
    they are not made."""
    tune_for_bulk_load(db.session.connection())
    results = run.run()
    _write_batch(run.load, run.rows, results)
    for row, result in zip(run.rows, results, strict=True):
        tally.add(row, result)
    run.load.rows_done = run.rows[-1].row_number
    tally.store()
    db.session.commit()


def _apply_in_turn(
    load: Load,
    batches: Iterator[ReadBatch],
    today: date,
    tally: _Tally,
    pool: MatchingPool | None,
    carried: Carried | None,
    after: Callable[[], None],
) -> None:
    """Each batch begun and applied before the next is begun: a dry run's (which carries
    each batch's changes to the next itself) and a load's without workers (nothing to overlap)."""
    for batch in batches:
        run = _begin(load, batch, today, pool, carried)
        _apply_batch(run, tally)
        del run  # the batch's records go before they are collected
        after()


def _apply_overlapped(
    load: Load, batches: Iterator[ReadBatch], today: date, tally: _Tally, pool: MatchingPool, after: Callable[[], None]
) -> None:
    """A load's batches with the workers matching one batch while this process applies the one before.

    Each batch is begun, and the workers start reading and matching its rows, before the batch
    before is applied and written. So the batch's candidates are read as the index stood before
    or after the batch before wrote: what that batch made and changed is found and compared as
    the batch's own rows' changes are (`_BatchRun.follow`), the rows that meet it are decided
    again here, and the rest keep the workers' verdicts, which nothing since could change.
    Before this, this process matched half of every batch itself while the workers stood idle
    as it read and wrote; then it still read every batch's candidates for them, and was the
    limit of a load's speed (see sources.candidates).
    """
    ahead: _BatchRun | None = None
    for batch in batches:
        run = _begin(load, batch, today, pool, None)
        if ahead is not None:
            _apply_batch(ahead, tally)
            run.follow(ahead)
            ahead = None
            after()
        ahead = run
    if ahead is not None:
        _apply_batch(ahead, tally)
        ahead = None
        after()


FULL_COLLECTION_EVERY = 20  # batches


@contextmanager
def _collecting_between_batches() -> Iterator[Callable[[], None]]:
    """Python's cycle collector, run between batches rather than whenever it likes (see
    matching.collecting), and as it was once the load is done.

    A batch makes hundreds of thousands of objects; left to itself the collector cost a quarter
    of a load's time. The batch's prepared people are forgotten first: nothing else of a batch
    outlives it in such numbers.
    """
    was_enabled = gc.isenabled()
    collector = CollectedBetween(FULL_COLLECTION_EVERY)

    try:
        yield collector.after
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _workers_can_read() -> bool:
    """Whether matching workers, each reading with a connection of its own, see what this load
    reads: a database other processes can open, and a session not bound to one connection (a
    caller's transaction, whose uncommitted rows no other connection sees)."""
    bind = db.session.get_bind()
    return isinstance(bind, Engine) and shareable(bind)


def resumes_after(load: Load) -> int:
    """The row after which running this load carries on: its last committed row, or none for a dry
    run, which starts again (what its earlier batches would have written is not kept)."""
    return 0 if load.is_dry_run else load.rows_done


def _start_again(load: Load) -> None:
    """Forget a dry run's report so far, to predict it again from the first row."""
    for table in (LoadRow, QuarantinedRow):
        db.session.execute(delete(table).where(table.load_id == load.id))
    load.rows_done, load.counts, load.summary, load.error, load.started_at = 0, {}, {}, None, utcnow()


def run_load(load: Load, *, today: date | None = None, progress: Progress | None = None) -> Load:
    """Apply (or, for a dry run, predict) the whole load, resuming after its last committed row
    (a dry run starts again)."""
    today = today or date.today()
    user = load.created_by
    path = Path(load.stored_path or "")
    unknown = unknown_columns(path, load.file_format)
    resuming, again = resumes_after(load) > 0, load.rows_done > resumes_after(load)
    if again:
        _start_again(load)
    load.status = LoadStatus.RUNNING
    load.started_at = load.started_at or utcnow()
    load.summary = {**(load.summary or {}), "unknown_columns": unknown}
    record_event(
        AuditTag.LOAD_START,
        user=user,
        details=_audit_details(load, resumed=resuming, **({"started_again": True} if again else {})),
        organisation_id=load.source.organisation_id,
    )
    db.session.commit()
    tally = _Tally(load)
    size = current_app.config["LOAD_BATCH_ROWS"]
    # Worker processes pay for themselves only over more than one batch.
    many = (load.rows_expected or 0) - load.rows_done > size
    workers = current_app.config["LOAD_WORKERS"] if many and _workers_can_read() else 0
    try:
        with (
            matching_pool(workers, read_only_settings(current_app.config)) as pool,
            _batches(path, load, today, size, ahead=pool is not None) as batches,
            _carried(load) as carried,
            _collecting_between_batches() as collect,
        ):

            def after() -> None:
                collect()
                if progress:
                    progress(load)

            if pool is not None and carried is None:
                _apply_overlapped(load, batches, today, tally, pool, after)
            else:
                _apply_in_turn(load, batches, today, tally, pool, carried, after)
    except Exception as error:
        db.session.rollback()
        load.status = LoadStatus.FAILED
        load.error = f"{type(error).__name__}: stopped after row {load.rows_done}; run the load again to resume"
        record_event(
            AuditTag.LOAD_FINISH,
            Outcome.FAILURE,
            user=user,
            details=_audit_details(load),
            organisation_id=load.source.organisation_id,
        )
        db.session.commit()
        load_stopped(load)
        raise
    return _finish(load, today, user)


def _finish(load: Load, today: date, user: User | None) -> Load:
    ended = 0
    if load.kind is LoadKind.FULL:
        ended = _end_involvements_not_supplied(load, today)
    earlier = earlier_load_of_same_file(load)
    # A row on a shielded record counts as a change whether or not it was one (see sources.shielded).
    changes = sum(
        load.counts.get(o.value, 0)
        for o in (RowOutcome.LINKED, RowOutcome.CREATED, RowOutcome.UPDATED, RowOutcome.SHIELDED)
    )
    load.summary = {
        **load.summary,
        "involvements_ended": ended,
        "same_file_as_load": earlier.id if earlier else None,
        "nothing_changed": changes == 0 and ended == 0 and not load.is_dry_run,
    }
    load.status = LoadStatus.COMPLETED
    load.finished_at = utcnow()
    record_event(
        AuditTag.LOAD_FINISH, user=user, details=_audit_details(load), organisation_id=load.source.organisation_id
    )
    db.session.commit()
    load_stopped(load)
    return load


def _audit_details(load: Load, **extra: Any) -> dict[str, Any]:
    return {
        "load_id": load.id,
        "source": load.source.name,
        "file_name": load.file_name,
        "file_sha256": load.file_sha256,
        "kind": load.kind.value,
        "dry_run": load.is_dry_run,
        "rows_done": load.rows_done,
        "counts": dict(load.counts or {}),
        **extra,
    }
