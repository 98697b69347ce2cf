"""Walking the hash chain over plain rows: one stretch of positions at a time, then the stretches joined.

Plain Python with no database import, so that a stretch can be walked in a worker process of
its own and only its small result sent back. Joining the stretches in order gives exactly what
one walk from the first event to the last would give: the same first broken link, with the
same words, and the same last good position and hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from index_service.audit import canonical

ALTERED = "its content does not match its hash: the event was altered"
REWRITTEN = "a signed checkpoint holds another hash for this position: the chain was rewritten from here or before"


@dataclass(frozen=True)
class BrokenLink:
    position: int | None
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "the chain"
        event = f" (event id {self.event_id})" if self.event_id is not None else ""
        return f"{where}{event}: {self.problem}"


@dataclass(frozen=True)
class Suspect:
    """An event whose content, as the database wrote it out, does not match its hash.

    Not yet called altered: the database may escape a value differently from `canonical.content`,
    so the event is written out again by Python (see `join`) before anything is said about it.
    """

    position: int
    event_id: int
    previous_hash: str
    stored_hash: str


@dataclass(frozen=True)
class Stretch:
    """One stretch of the chain walked on its own, anchored on its own first event.

    `first` is (position, previous hash, id) of that event, whose place in the whole chain only
    the join can check; `last_position` and `last_hash` are those of the last event that
    followed on unbroken, and `broken` the first broken link inside the stretch.
    """

    first: tuple[int, str, int] | None
    last_position: int
    last_hash: str
    broken: BrokenLink | None
    suspects: tuple[Suspect, ...]


def link_problem(position: int, previous_hash: str, expected: int, previous: str) -> str | None:
    """What is wrong with an event at `position` following `previous` where `expected` was due, if anything."""
    if position > expected:
        return f"expected position {expected}; events {expected} to {position - 1} are missing (removed)"
    if position < expected:
        return f"position {position} appears again (an event was inserted)"
    if previous_hash != previous:
        return (
            "does not follow the event before it: an event was removed, inserted or reordered, or this link was edited"
        )
    return None


def walk_stretch(rows: Iterable[Sequence[Any]], checkpoints: Mapping[int, str]) -> Stretch:
    """Walk rows (position, content, previous hash, hash, id) in chain order, from the first row's own place.

    Stops at the first broken link. An event whose content does not match is kept as a suspect
    and the walk goes on with its stored hash: whether it was altered is `join`'s to decide.
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return Stretch(None, 0, "", None, ())
    anchor = (first[0], first[2], first[4])
    sha256 = hashlib.sha256
    expected, previous = first[0], first[2]
    suspects: list[Suspect] = []
    for position, text, previous_hash, stored_hash, event_id in chain((first,), iterator):
        if position != expected or previous_hash != previous:
            problem = link_problem(position, previous_hash, expected, previous) or ""
            return Stretch(anchor, expected - 1, previous, BrokenLink(position, event_id, problem), tuple(suspects))
        if sha256((previous_hash + text).encode()).hexdigest() != stored_hash:
            suspects.append(Suspect(position, event_id, previous_hash, stored_hash))
        if position in checkpoints and checkpoints[position] != stored_hash:
            return Stretch(anchor, expected - 1, previous, BrokenLink(position, event_id, REWRITTEN), tuple(suspects))
        previous = stored_hash
        expected += 1
    return Stretch(anchor, expected - 1, previous, None, tuple(suspects))


def walk_marked(rows: Iterable[Sequence[Any]], checkpoints: Mapping[int, str]) -> Stretch:
    """What `walk_stretch` finds, from a walk the database did: only the events where anything happens.

    Each row is (position, previous hash, hash, id, whether the database's hash of the content
    matches, position and hash of the event before it in the stretch, whether it is the last):
    the stretch's first and last events, every event whose position or previous hash does not
    follow the one before, every event whose hash does not match, and every checkpoint's event.
    """
    first: tuple[int, str, int] | None = None
    last_position, last_hash = 0, ""
    suspects: list[Suspect] = []
    for position, previous_hash, stored_hash, event_id, matches, position_before, hash_before, last in rows:
        if position_before is None:
            first = (position, previous_hash, event_id)
            position_before, hash_before = position - 1, previous_hash
        problem = link_problem(position, previous_hash, position_before + 1, hash_before)
        if problem:
            return Stretch(
                first, position_before, hash_before, BrokenLink(position, event_id, problem), tuple(suspects)
            )
        if not matches:
            suspects.append(Suspect(position, event_id, previous_hash, stored_hash))
        if position in checkpoints and checkpoints[position] != stored_hash:
            return Stretch(
                first, position_before, hash_before, BrokenLink(position, event_id, REWRITTEN), tuple(suspects)
            )
        if last:
            last_position, last_hash = position, stored_hash
    return Stretch(first, last_position, last_hash, None, tuple(suspects))


def join(
    stretches: Iterable[Stretch], after: int, previous: str, recheck: Callable[[int], str]
) -> tuple[int, str, BrokenLink | None]:
    """(last good position, its hash, first broken link) of stretches in chain order, as one walk would find.

    The chain starts after position `after`, whose hash is `previous`. Each stretch's first
    event must follow on from the stretch before; each suspect is written out again by
    `recheck` (its content as Python writes it) and called altered only if that does not match
    either. Stretches are taken one at a time, so a caller may hand them over as they finish.
    """
    last = after
    for stretch in stretches:
        if stretch.first is None:
            continue
        position, previous_hash, event_id = stretch.first
        problem = link_problem(position, previous_hash, last + 1, previous)
        if problem:
            return last, previous, BrokenLink(position, event_id, problem)
        for suspect in stretch.suspects:
            if canonical.event_hash(suspect.previous_hash, recheck(suspect.event_id)) != suspect.stored_hash:
                return (
                    suspect.position - 1,
                    suspect.previous_hash,
                    BrokenLink(suspect.position, suspect.event_id, ALTERED),
                )
        if stretch.broken is not None:
            return stretch.last_position, stretch.last_hash, stretch.broken
        last, previous = stretch.last_position, stretch.last_hash
    return last, previous, None
