"""The duplicate sweep: held records compared with each other, in bulk, as a load compares a row.

A load decides each row against the children it finds, so two records of one child made before
the model could link them (a health record with an NHS number, a school record with a UPN, the
names alike but short of the link threshold) stay two. The sweep finds such pairs and puts each
in the review queue as a "possible duplicate", for the data administrators of the organisations
whose sources supplied either record, who merge them or say they are not the same child.

Candidate pairs come only from what the index already keeps for finding candidates, read in key
order as a stream, never by comparing every record with every other: two records that share a
blocking key (`blocking_keys`, whose primary key is the key and then the child), or an NHS
number or a UPN (`source_identifiers`' index by kind and value). A key shared by more than
MAX_BLOCK records (a common name born on a common day at a large postcode) is skipped, and the
pairs it would have given are counted and reported.

Each pair is decided by matching.deciding with the lower id as the row and the other as its one
candidate, with the model and rules of a load: the twin rule (yielding to a shared identifier),
two different NHS numbers or UPNs never linking, an identifier naming one child. A pair a load
would link, or send to review, becomes an item; a pair the twin rule calls two children does
not. Where either record is shielded, both are compared by who the child is only (names, date
of birth, gender, identifiers; never address, postcode or carers), as a load compares a row with
a shielded record, and only those who may see shielded records see the item. The load's rule
that a row weakly resembling a shielded record goes to review is not applied: it keeps a load
from making a second, unshielded record, and the sweep makes no record.

A pair is proposed once: its item is kept whatever is decided, and a pair already merged (or
merged and undone) is not proposed again. One sweep runs at a time in the whole index (a
PostgreSQL advisory lock, or a POSIX lock beside the SQLite file); a second one started meanwhile
says so and stops. Each run ends with one audit event holding its counts, never a name.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.children.lookup import HeldPerson, held_people
from index_service.children.merges import Merge
from index_service.children.models import BlockingKey, IdentifierKind, SourceIdentifier
from index_service.database import utcnow
from index_service.duplicates.models import DuplicateItem, DuplicateStatus
from index_service.extensions import db
from index_service.index_locks import index_lock
from index_service.sources.loading.effects import candidate_as_json
from matching.deciding import LINK, NEW, REVIEW, Incoming, decide, review_reasons
from matching.linkage import TWIN, could_matter
from matching.search import Candidate

MAX_BLOCK = 30  # records sharing one key; a block of n records gives n(n-1)/2 pairs
CHUNK = 20_000  # pairs compared (and their records read) at a time; items written once a chunk
STREAM_ROWS = 50_000
SWEEP_LOCK = 0x4455504C  # "DUPL": apart from the loads' lock
BUSY = "Another duplicate sweep is running; this one stops"
SHIFT = 32  # a pair (a, b), a < b, kept as one integer a << SHIFT | b: a tuple each cost four times the memory


class SweepBusy(RuntimeError):
    """Another sweep holds the turn."""


@dataclass
class SweepCounts:
    """What a run did, in numbers only (the audit event holds these)."""

    keys_read: int = 0
    identifiers_read: int = 0
    blocks_skipped: int = 0
    pairs_skipped: int = 0  # the pairs those over-large blocks would have given
    candidate_pairs: int = 0  # distinct pairs sharing a key or an identifier
    already_known: int = 0  # proposed before (whatever was decided), or merged before
    pairs_compared: int = 0
    twins: int = 0  # pairs the twin rule calls two children: not proposed
    items_made: int = 0
    shielded_items: int = 0
    seconds: float = 0.0
    limited: bool = False


def _pair(a: int, b: int) -> int:
    return (a << SHIFT) | b if a < b else (b << SHIFT) | a


def _unpair(pair: int) -> tuple[int, int]:
    return pair >> SHIFT, pair & ((1 << SHIFT) - 1)


def _add_block(ids: list[int], pairs: set[int], counts: SweepCounts) -> None:
    if len(ids) < 2:
        return
    if len(ids) > MAX_BLOCK:
        counts.blocks_skipped += 1
        counts.pairs_skipped += len(ids) * (len(ids) - 1) // 2
        return
    for a, b in itertools.combinations(ids, 2):
        pairs.add(_pair(a, b))


def _streamed(statement: Any) -> Iterator[Any]:
    """The statement's rows as a stream (a server-side cursor on PostgreSQL)."""
    return iter(db.session.execute(statement.execution_options(stream_results=True, yield_per=STREAM_ROWS)))


def candidate_pairs(counts: SweepCounts, progress: Callable[[str], None]) -> set[int]:
    """Every distinct pair of records that share a blocking key, and those that share an NHS
    number or UPN, read in key order; blocks over MAX_BLOCK records skipped and counted."""
    pairs: set[int] = set()
    keys = BlockingKey.__table__.c
    for _key, rows in itertools.groupby(
        _streamed(select(keys.key, keys.child_id).order_by(keys.key, keys.child_id)), key=lambda row: row[0]
    ):
        ids = [child_id for _, child_id in rows]
        counts.keys_read += len(ids)
        _add_block(ids, pairs, counts)
        if counts.keys_read % 1_000_000 < len(ids):
            progress(f"{counts.keys_read:,} blocking keys read, {len(pairs):,} candidate pairs")
    identifier = SourceIdentifier.__table__.c
    for _value, rows in itertools.groupby(
        _streamed(
            select(identifier.kind, identifier.value, identifier.child_id)
            .where(identifier.kind.in_([IdentifierKind.NHS_NUMBER, IdentifierKind.UPN]))
            .order_by(identifier.kind, identifier.value)
        ),
        key=lambda row: (row[0], row[1]),
    ):
        ids = sorted({child_id for _, _, child_id in rows})
        counts.identifiers_read += len(ids)
        _add_block(ids, pairs, counts)
    progress(f"{counts.keys_read:,} blocking keys and {counts.identifiers_read:,} identifiers read")
    return pairs


def known_pairs() -> set[int]:
    """Pairs not to propose: every pair the sweep has proposed before, and every pair merged before."""
    items = DuplicateItem.__table__.c
    merges = Merge.__table__.c
    known = {_pair(a, b) for a, b in _streamed(select(items.first_child_id, items.second_child_id))}
    known |= {_pair(a, b) for a, b in _streamed(select(merges.surviving_child_id, merges.retired_child_id))}
    return known


def _identifier(person: Any, kind: str) -> str | None:
    values = sorted(value for k, value in person.identifiers if k == kind)
    return values[0] if values else None


@dataclass(frozen=True)
class Judged:
    outcome: str  # link, review or new, as a load would have decided the one as a row against the other
    comparison: dict[str, Any] | None  # as a load's review candidate, with the reasons: for an item
    twin: bool


def judge(first: HeldPerson, second: HeldPerson) -> Judged:
    """The pair decided as a load decides a row (the first) against one candidate (the second).

    With a shielded record, both are compared by who the child is only (matching.deciding.as_met).
    """
    mine, theirs = first.person, second.person
    shielded = first.is_shielded or second.is_shielded
    if shielded:
        mine, theirs = mine.without_household(), theirs.without_household()
    if not could_matter(mine, theirs):
        return Judged(NEW, None, False)  # below the review threshold whatever it is compared on, as a load prunes
    row = Incoming(mine, _identifier(mine, "nhs_number"), _identifier(mine, "upn"))
    resolution, reasons = decide(row, [Candidate(second.child_id, theirs, second.index_id)], lambda _: False)
    best = resolution.best
    twin = best is not None and TWIN in best.conflicts
    if resolution.outcome not in (LINK, REVIEW) or best is None:
        return Judged(resolution.outcome, None, twin)
    why = reasons + (review_reasons(resolution) if resolution.outcome == REVIEW else ())
    comparison = {
        **candidate_as_json(best),
        "outcome": resolution.outcome,
        "reasons": list(why),
        "shielded": shielded,
    }
    return Judged(resolution.outcome, comparison, twin)


def _pairs_in_chunks(pairs: Iterable[int], size: int) -> Iterator[list[tuple[int, int]]]:
    chunk: list[tuple[int, int]] = []
    for pair in pairs:
        chunk.append(_unpair(pair))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _compare(
    pairs: list[int], counts: SweepCounts, dry_run: bool, progress: Callable[[str], None]
) -> Iterator[dict[str, Any]]:
    """The items the pairs make, chunk by chunk (written by the caller)."""
    started = time.perf_counter()
    for chunk in _pairs_in_chunks(pairs, CHUNK):
        people = held_people({i for pair in chunk for i in pair})
        for a, b in chunk:
            first, second = people.get(a), people.get(b)
            if first is None or second is None or first.merged_into_id or second.merged_into_id:
                continue  # merged away since its keys were read
            counts.pairs_compared += 1
            judged = judge(first, second)
            if judged.comparison is None:
                counts.twins += judged.twin
                continue
            counts.items_made += 1
            counts.shielded_items += bool(judged.comparison["shielded"])
            if not dry_run:
                yield {
                    "first_child_id": a,
                    "second_child_id": b,
                    "comparison": judged.comparison,
                    "status": DuplicateStatus.OPEN,
                    "created_at": utcnow(),
                }
        elapsed = time.perf_counter() - started
        progress(
            f"{counts.pairs_compared:,} of {len(pairs):,} pairs compared, {counts.items_made:,} possible "
            f"duplicates, {elapsed:,.0f} s, {counts.pairs_compared / max(elapsed, 1e-9):,.0f} pairs/s"
        )
        yield {}  # the chunk's end: the caller writes what it has


def find_duplicates(
    *, limit: int | None = None, dry_run: bool = False, progress: Callable[[str], None] = lambda _: None
) -> SweepCounts:
    """One sweep over the whole index (see the module's doc); its counts. Raises SweepBusy when
    another sweep is running. Commits its items chunk by chunk, and its audit event at the end."""
    counts = SweepCounts()
    started = time.perf_counter()
    with sweep_turn():
        pairs = candidate_pairs(counts, progress)
        counts.candidate_pairs = len(pairs)
        known = known_pairs()
        fresh = sorted(pairs - known)
        counts.already_known = len(pairs) - len(fresh)
        del pairs, known
        if limit is not None and len(fresh) > limit:
            fresh, counts.limited = fresh[:limit], True
        progress(
            f"{counts.candidate_pairs:,} candidate pairs ({counts.already_known:,} proposed or merged before, "
            f"{counts.pairs_skipped:,} skipped in {counts.blocks_skipped:,} blocks of over {MAX_BLOCK} records); "
            f"comparing {len(fresh):,}"
        )
        table = DuplicateItem.__table__
        waiting: list[dict[str, Any]] = []
        for item in _compare(fresh, counts, dry_run, progress):
            if item:
                waiting.append(item)
                continue
            if waiting:
                db.session.execute(insert(table), waiting)
                waiting = []
            db.session.commit()
        counts.seconds = round(time.perf_counter() - started, 1)
        if not dry_run:
            record_event(AuditTag.DUPLICATE_SWEEP, details={"counts": asdict(counts), "max_block": MAX_BLOCK})
        db.session.commit()
    return counts


@contextmanager
def sweep_turn() -> Iterator[None]:
    """The one sweep running in the whole index, or SweepBusy at once (a second sweep has nothing
    to add: the first proposes every pair). Let go when the process ends, however it ends."""

    def busy() -> None:
        raise SweepBusy(BUSY)

    with index_lock(SWEEP_LOCK, ".duplicates", busy):
        yield
