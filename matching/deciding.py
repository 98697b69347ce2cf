"""How a row of a load is decided against its candidates: the resolution (linkage) with the
index's rules of identifiers and shielding, on plain data only.

A load's worker processes (index_service.sources.pool) run these while the load's own process
writes; the load runs the same functions for the rows it decides itself, so a row's outcome
does not depend on where it was decided.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from matching.levels import DOB, HOUSEHOLD, SURNAME_EXACT_LEVELS
from matching.linkage import (
    Resolution,
    ScoredCandidate,
    could_matter,
    resembles_shielded,
    resolve,
    score,
    shares_nhs_or_upn,
)
from matching.person import Person
from matching.search import Candidate

LINK = "link"
NEW = "new"
REVIEW = "review"
SHIELDED_RESEMBLANCE = (
    "resembles a shielded record: a person decides, and a new record made from this row is "
    "shielded until a shielder decides"
)
RESEMBLES = "resembles a child in the index, but not enough to link"
LINKED_TO_SHIELDED = "linked to a shielded record (how it compared is not shown)"

IsShielded = Callable[[int], bool]


@dataclass(frozen=True)
class Incoming:
    """A row as deciding needs it: the person, and the identifiers it was sent with."""

    person: Person
    nhs_number: str | None
    upn: str | None


@dataclass(frozen=True)
class Verdict:
    """A row linked (to child_id, with its score) or made a new child, with the reasons it adds."""

    outcome: str
    child_id: int | None = None
    score: float | None = None
    reasons: tuple[str, ...] = ()


def could_change(incoming: Person, held: Iterable[tuple[int, Person]]) -> list[int]:
    """The held candidates (known but for their identifiers and households) that could change
    how the row is resolved (see matching.linkage.could_matter)."""
    return [child_id for child_id, person in held if could_matter(incoming, person)]


def as_met(candidates: list[Candidate], is_shielded: IsShielded) -> list[Candidate]:
    """The candidates as a row may be compared with them: a shielded record by who the child is
    (names, date of birth, gender, identifiers) only, never by where she lives or who cares for
    her. Otherwise a row's guessed postcode, first line or carer could tip whether it links to a
    shielded record, goes to review or makes a new child, and so confirm the guess
    (see index_service.sources.shielded)."""
    return [replace(c, person=c.person.without_household()) if is_shielded(c.child_id) else c for c in candidates]


def decide(row: Incoming, candidates: list[Candidate], is_shielded: IsShielded) -> tuple[Resolution, tuple[str, ...]]:
    """Matching's resolution, with the rules of identifiers and shielding; the reasons they add.

    A link to a shielded record needs a shared NHS number or UPN; without one, the row goes to
    review (its best candidate is the shielded record). A row that would not link but resembles
    a shielded record even weakly goes to review too; either way the reasons say it resembles
    a shielded record, never how closely.
    """
    candidates = as_met(candidates, is_shielded)
    resolution = resolve(row.person, candidates)
    reasons: tuple[str, ...] = ()
    fuzzy = _fuzzy_link_to_shielded(resolution, is_shielded)
    if fuzzy:
        # Never linked to a shielded record on names and date of birth alone: a person who may
        # see the record decides (a wrong link would move a shielded child's address).
        resolution = replace(resolution, outcome=REVIEW)
    held = _identifier_held(row, candidates)
    if resolution.outcome != LINK and held:
        # An NHS number or UPN names one child: never a second record for it, whatever the names say.
        resolution = replace(resolution, outcome=REVIEW)
        reasons += (f"conflict: the {held} is already held by a record the names do not match",)
    shielded = _shielded_resembling(row.person, candidates, is_shielded) if resolution.outcome != LINK else []
    if shielded:
        # Never a second, unshielded record of a shielded child: a person decides.
        shown = {c.child_id for c in resolution.candidates}
        more = tuple(c for c in shielded if c.child_id not in shown)
        resolution = replace(resolution, outcome=REVIEW, candidates=resolution.candidates + more)
    if shielded or fuzzy:
        reasons += (SHIELDED_RESEMBLANCE,)
    return resolution, reasons


def _fuzzy_link_to_shielded(resolution: Resolution, is_shielded: IsShielded) -> bool:
    """Whether the row would link to a shielded record that shares neither its NHS number nor its UPN.

    Only a shared NHS number or UPN (checked identifiers, never shared by two children) lets a
    row link to a shielded record on its own. Compared without where she lives (as_met), a
    shielded record's score comes from who the row says the child is, so this cannot vary with a
    guessed postcode, first line or carer; and it says the same whether the row gives no NHS
    number or a wrong one (both: review), so it does not tell whether the record holds one.
    """
    best = resolution.best
    return (
        resolution.outcome == LINK and best is not None and is_shielded(best.child_id) and not shares_nhs_or_upn(best)
    )


def verdict_of(resolution: Resolution, reasons: tuple[str, ...], is_shielded: IsShielded) -> Verdict | None:
    """The verdict of a resolution that links or makes a new child; None for one sent to review."""
    if resolution.outcome == LINK and resolution.best is not None:
        best = resolution.best
        why = (LINKED_TO_SHIELDED,) if is_shielded(best.child_id) else explained(best)
        return Verdict(LINK, best.child_id, rounded_score(best), reasons + why)
    if resolution.outcome == REVIEW:
        return None
    return Verdict(NEW, reasons=reasons)


def decided(row: Incoming, candidates: list[Candidate], shielded: frozenset[int]) -> Verdict | None:
    """A row decided on its held candidates alone (a worker's task); None when it goes to review,
    which the load decides itself with every candidate."""
    resolution, reasons = decide(row, candidates, shielded.__contains__)
    return verdict_of(resolution, reasons, shielded.__contains__)


def _identifier_held(row: Incoming, candidates: list[Candidate]) -> str | None:
    """Which of the row's identifiers a candidate already holds, in words, if any."""
    for kind, value, label in (("nhs_number", row.nhs_number, "NHS number"), ("upn", row.upn, "Unique Pupil Number")):
        if value and any((kind, value) in candidate.person.identifiers for candidate in candidates):
            return label
    return None


def _shielded_resembling(
    incoming: Person,
    candidates: list[Candidate],
    is_shielded: IsShielded,
) -> list[ScoredCandidate]:
    """The shielded records among the candidates that the row resembles, however weakly.

    Compared without where she lives (see as_met), a shielded child's twin or sibling is found
    by who they are: one family name and one date of birth is a brother or sister, wherever the
    row says they live, or a row naming her refuge would make an unshielded record there.
    """
    found = []
    for candidate in candidates:
        if not is_shielded(candidate.child_id):
            continue
        scored = score(incoming, candidate)
        if _one_family_one_birthday(scored) or resembles_shielded(incoming, candidate.person, scored):
            found.append(scored)
    return found


def _one_family_one_birthday(scored: ScoredCandidate) -> bool:
    levels = {contribution.field: contribution.level for contribution in scored.contributions}
    return levels.get(HOUSEHOLD) in SURNAME_EXACT_LEVELS and levels.get(DOB) == "exact"


def rounded_score(candidate: ScoredCandidate) -> float:
    return round(candidate.probability * 100, 1)


def explained(candidate: ScoredCandidate) -> tuple[str, ...]:
    return tuple(c.explanation for c in candidate.contributions if c.weight > 0)


def review_reasons(resolution: Resolution) -> tuple[str, ...]:
    best = resolution.best
    if best is None:
        return (RESEMBLES,)
    found = f"best candidate {best.index_id} scored {rounded_score(best)}: not enough to link"
    return (found,) + tuple(f"conflict: {conflict}" for conflict in best.conflicts)
