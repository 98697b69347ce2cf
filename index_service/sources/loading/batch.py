"""A batch of a load: its rows matched together, then each decided and applied in file order.

Each row is decided against the index as the rows before it left it, whether they fell in an
earlier batch or earlier in this one (sources.changed), so no row's outcome depends on where the
file was cut into batches, nor on the matching workers. What the batch then does with what it
decided, write it or (a dry run) carry it to the next batch, is its effects'
(sources.loading.effects); the batch itself never asks which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

from sqlalchemy import Table, select

from index_service.children.held import HeldRecord, read_held
from index_service.children.lookup import MERGE_DEPTH, HeldPerson, held_people
from index_service.children.models import IdentifierKind, SourceIdentifier
from index_service.database import utcnow
from index_service.extensions import db
from index_service.load_models import Load, ReviewItem, ReviewStatus, RowOutcome
from index_service.sources import shielded
from index_service.sources.applying import apply_to_record, create_from_row, made_with
from index_service.sources.candidates import Matched, ToMatch, match_rows
from index_service.sources.loading.effects import Effects
from index_service.sources.loading.report_rows import RowResult
from index_service.sources.pool import MatchingPool
from index_service.sources.reading import ReadBatch
from index_service.sources.validation import RejectedRow, ValidRow
from index_service.sql_helpers import one_of
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
from matching.linkage import Resolution
from matching.person import Person
from matching.search import Candidate

# Core table for the batch's lookups: the ORM's row handling cost more than these queries.
SOURCE_IDENTIFIERS: Table = SourceIdentifier.__table__  # type: ignore[assignment]
OVER_AGE = "date_of_birth: the child is 18 or over and is not in the index, so is not added"
SHIELDED_BY_ROW = "shielded: the source flagged this row for shielding; a shielder reviews it"
FLAGGED = "Flagged for shielding by {source}, row {row} of the load."


class Batch:
    """One batch: its rows matched together, then each row resolved and applied in file order.

    Each row is decided against the index as the rows before it left it, whether they fell in
    an earlier batch or earlier in this one: a record made or changed by an earlier row of the
    batch is found and compared as it now stands (see sources.changed), so a row's outcome does
    not depend on where the file was cut into batches. Every row is first decided on its held
    candidates as the batch found them, by the pool's workers when there are some; that verdict
    stands for a row that meets no record the batch has made or changed and does not go to
    review, and the others are decided here, in turn, when their row comes. A batch that
    follows another (matched while that one wrote) finds what it made and changed the same way.

    What it does with what it decided (write it, or carry it to the next batch of a dry run) is
    its effects' (see sources.loading.effects): a dry run's batch starts from what its earlier
    batches made and changed, as if it had been written, and adds its own.
    """

    def __init__(
        self,
        load: Load,
        batch: ReadBatch,
        today: date,
        effects: Effects,
        pool: MatchingPool | None = None,
    ) -> None:
        self.load, self.source, self.rows, self.today = load, load.source, batch.rows, today
        self.read, self.pool, self.effects = batch, pool, effects
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
        self.writes = effects.writes(self.now)
        # Held records read to be changed (a retired id gives its survivor), and those a row changed;
        # the records made, numbered -1, -2, ... (None: set aside by a dry run, recalled before a
        # row could meet it); those made or changed, as matching now finds them (see sources.changed).
        self.records: dict[int, HeldRecord]
        self.created: list[HeldRecord | None]
        self.records, self.created, self.changed = effects.held()
        self.touched: set[int] = set()  # id() of each record a row changed
        self.recent: list[int] = []  # the key of each record made or changed, in turn
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
        self.records |= self.effects.recall_for_rows(
            ids,
            self._identifiers(),
            (
                key
                for row in self.valid
                for key in (*self.read.keys[row.row_number], *self.read.people[row.row_number].identifiers)
            ),
        )
        self.known = self._known_records(ids)
        self.waiting = self._waiting(ids)
        self.known |= self.effects.known(ids)
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
        """The rows matched as begun, and what was set aside of the records they found (a dry run's)."""
        self.matched = {m.number: m for m in self._matching()}
        for matched in self.matched.values():
            self.shielded_ids |= matched.shielded
            self.merged.update(matched.merged)
        # A row sent to review lists every candidate: those of the rows matching sends there are read together.
        self.whole = held_people(set().union(*(m.pruned for m in self.matched.values() if m.verdict is None)))
        self.records |= self.effects.recall_for_candidates(self.matched.values(), self.known.values())

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
        owners |= self.effects.owners(values)
        return holders, owners

    def follow(self, earlier: Batch) -> None:
        """This batch's rows were matched while the earlier batch wrote, which it now has (see
        run._apply_overlapped), so on candidates read before or after it committed: what that batch
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

    def run(self) -> list[RowResult]:
        """Resolve and apply every row in file order, then finish the batch by its effects (begun)."""
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
        self.effects.batch_done(self)
        return results

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

    def _apply(self, result: RowResult, row: ValidRow, child_id: int) -> None:
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

    def _one(self, row: ValidRow | RejectedRow) -> RowResult:
        if isinstance(row, RejectedRow):
            child_id = self.known.get(row.source_record_id or "")
            if child_id is not None and child_id < 0:  # made by an earlier row: its id comes when it is written
                return RowResult(RowOutcome.REJECTED, self._record(child_id), reasons=row.reasons)
            return RowResult(RowOutcome.REJECTED, child_id=child_id, reasons=row.reasons)
        reasons = tuple(f"warning: {warning}" for warning in row.warnings)
        known_id = self.known.get(row.source_record_id)
        if known_id is not None:
            record = self._record(known_id)
            assert record.id is not None  # a file's rows with the id of an earlier one are rejected
            result = RowResult(RowOutcome.UNCHANGED, record, reasons=reasons + ("source record seen before",))
            self._apply(result, row, record.id)
            return result
        waiting = self.waiting.get(row.source_record_id)
        if waiting is not None:
            return RowResult(RowOutcome.REVIEW, reasons=reasons + (f"already waiting for review (item {waiting})",))
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

    def _resolve(self, row: ValidRow, reasons: tuple[str, ...]) -> RowResult:
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
            result = RowResult(RowOutcome.LINKED, self._record(verdict.child_id), score=verdict.score, reasons=reasons)
            self._apply(result, row, verdict.child_id)
            assert result.child is not None
            self.known.setdefault(row.source_record_id, result.child.id or verdict.child_id)
            return result
        if row.over_age:
            return RowResult(RowOutcome.REJECTED, reasons=reasons + (OVER_AGE,))
        child = create_from_row(row, self.source, self.writes)
        self.effects.name_made(child, row.row_number)
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
        return RowResult(RowOutcome.CREATED, child, reasons=reasons)

    def _review(self, row: ValidRow, resolution: Resolution, reasons: tuple[str, ...]) -> RowResult:
        """Send the row to review (by its effects: a dry run makes no review item). An item whose best
        candidate is a shielded record is for those who may see shielded records only."""
        best = resolution.best
        best_shielded = best is not None and self._is_shielded(best.child_id)
        self.effects.review(self.load, row, resolution, best_shielded=best_shielded)
        if best_shielded:
            # The report names no shielded record a row resembles, nor how closely.
            return RowResult(RowOutcome.REVIEW, reasons=reasons + (RESEMBLES,))
        return RowResult(
            RowOutcome.REVIEW, score=rounded_score(best) if best else None, reasons=reasons + review_reasons(resolution)
        )
