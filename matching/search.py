"""Ranking candidates for a practitioner's search.

The rules a practitioner relies on live here: what is enough to search on, how fields are
weighed, the threshold a child must pass, and that more than ten children passing gives no
list at all (a lookup, never a browsable list).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from matching.compare import (
    Comparison,
    compare_date_of_birth,
    compare_family_name,
    compare_given_name,
    compare_postcode,
)
from matching.normalise import swapped_day_month
from matching.person import Person

MAX_RESULTS = 10
THRESHOLD = 75.0
WEIGHTS = {"family name": 35.0, "given name": 25.0, "date of birth": 30.0, "postcode": 15.0}
GENDER_PENALTY = 10.0
SWAP_FACTOR = 0.97

NOT_ENOUGH = (
    "Add more details: give an NHS number, Unique Pupil Number or index ID; "
    "or a family name and date of birth; or a family name, given name and postcode."
)
TOO_MANY = "Too many matches. Add more details, such as a given name, date of birth or postcode."


@dataclass(frozen=True)
class Query:
    person: Person
    nhs_number: str | None = None
    upn: str | None = None
    index_id: str | None = None

    @property
    def identifiers(self) -> dict[str, str]:
        found = {"nhs_number": self.nhs_number, "upn": self.upn, "index_id": self.index_id}
        return {kind: value for kind, value in found.items() if value}

    @property
    def uses_postcode(self) -> bool:
        return self.person.postcode is not None


@dataclass(frozen=True)
class Candidate:
    child_id: int
    person: Person
    index_id: str


@dataclass(frozen=True)
class Match:
    child_id: int
    index_id: str
    score: float
    matched: tuple[str, ...]


@dataclass(frozen=True)
class Ranking:
    matches: tuple[Match, ...]
    too_many: bool


def missing_detail(query: Query) -> str | None:
    """Why the query cannot identify one child, or None when it can."""
    person = query.person
    if query.identifiers:
        return None
    if person.family_name and person.date_of_birth:
        return None
    if person.family_name and person.given_name and person.postcode:
        return None
    return NOT_ENOUGH


def _comparisons(query: Person, held: Person) -> list[Comparison]:
    comparisons = []
    if query.family_name:
        comparisons.append(compare_family_name(query.family_name, held))
    if query.given_name:
        comparisons.append(compare_given_name(query.given_name, held))
    if query.date_of_birth:
        comparisons.append(compare_date_of_birth(query.date_of_birth, held))
    if query.postcode:
        comparisons.append(compare_postcode(query.postcode, held))
    return comparisons


def _score(comparisons: list[Comparison], query: Person, held: Person) -> float:
    total = sum(WEIGHTS[c.field] for c in comparisons)
    if not total:
        return 0.0
    score = 100.0 * sum(WEIGHTS[c.field] * c.similarity for c in comparisons) / total
    known = query.gender and held.gender and "unknown" not in (query.gender, held.gender)
    if known and query.gender != held.gender:
        score -= GENDER_PENALTY
    return max(score, 0.0)


def score_candidate(query: Person, held: Person) -> tuple[float, tuple[str, ...]]:
    """The score and the fields that agreed, trying the given and family names both ways."""
    comparisons = _comparisons(query, held)
    best = (_score(comparisons, query, held), comparisons, "")
    if query.given_name and query.family_name:
        swapped = replace(query, given_name=query.family_name, family_name=query.given_name)
        swapped_comparisons = _comparisons(swapped, held)
        swapped_score = _score(swapped_comparisons, swapped, held) * SWAP_FACTOR
        if swapped_score > best[0]:
            best = (swapped_score, swapped_comparisons, " (given and family names swapped)")
    score, chosen, note = best
    matched = []
    for comparison in chosen:
        if comparison.agrees and comparison.explanation:
            names = comparison.field in ("family name", "given name")
            matched.append(comparison.explanation + (note if names else ""))
    return round(score, 1), tuple(matched)


def _identifier_matches(query: Query, candidate: Candidate) -> list[str]:
    matched = []
    if query.index_id and query.index_id == candidate.index_id:
        matched.append("index ID")
    if query.nhs_number and ("nhs_number", query.nhs_number) in candidate.person.identifiers:
        matched.append("NHS number")
    if query.upn and ("upn", query.upn) in candidate.person.identifiers:
        matched.append("Unique Pupil Number")
    return matched


def rank(query: Query, candidates: list[Candidate]) -> Ranking:
    """Score every candidate; keep those over the threshold, best first, at most ten."""
    passing: list[Match] = []
    for candidate in candidates:
        identifiers = _identifier_matches(query, candidate) if query.identifiers else []
        if query.identifiers and len(identifiers) != len(query.identifiers):
            continue
        score, matched = score_candidate(query.person, candidate.person)
        if identifiers:
            score, matched = 100.0, tuple(identifiers) + matched
        if score >= THRESHOLD:
            passing.append(Match(candidate.child_id, candidate.index_id, score, matched))
    if len(passing) > MAX_RESULTS:
        return Ranking((), too_many=True)
    passing.sort(key=lambda match: (-match.score, match.index_id))
    return Ranking(tuple(passing), too_many=False)


def names_agree(query: Person, held: Person) -> bool:
    """Whether any name of the query agrees with any name held, either way round.

    Without such agreement no child can reach the threshold (dates of birth and postcodes
    together weigh too little), so a wide block can be narrowed on names before ranking.
    """
    names = [name for name in (query.family_name, query.given_name) if name]
    return any(compare_family_name(name, held).agrees or compare_given_name(name, held).agrees for name in names)


def dates_to_widen(query: Query) -> list[date]:
    """Dates of birth whose whole block is read when the keyed candidates found nobody."""
    if not query.person.date_of_birth:
        return []
    dates = [query.person.date_of_birth]
    swapped = swapped_day_month(query.person.date_of_birth)
    return dates + [swapped] if swapped else dates
