"""Identity resolution for bulk loads: link an incoming row to a child, send it to review, or
make a new child (Fellegi-Sunter record linkage with two thresholds).

The caller has already tried the source's own record id and found the candidate children (by
blocking keys and by NHS number or UPN). Here each candidate is compared field by field
(matching.levels), weighed by the estimated model (matching.model), and checked against the
rules that forbid an automatic link whatever the score:

- two different NHS numbers, or two different UPNs: never linked automatically (review at most);
- one family, one date of birth, one address, but a different given name (or a different
  gender, or two real names a letter or two apart such as Georgia and Georgina): twins or
  siblings, never linked (a new child). A given name only mistyped (Olvier, Bne, Talyaj: not
  a name the model knows) is not a different name. The rule yields to a shared NHS number or
  UPN: twins never share one, so such a candidate is the same child, and links if its score
  passes like any other.

Precision comes first: a wrong link shows one child's workers on another child's record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from matching.levels import (
    COMPARISONS,
    DOB,
    GENDER,
    GIVEN,
    HOUSEHOLD,
    NHS,
    SAME_HOME_LEVELS,
    SURNAME_EXACT_LEVELS,
    UPN,
    Compared,
    Prepared,
    possible_levels,
    prepare,
    prepared_once,
)
from matching.levels import compare as compare_prepared
from matching.model import LinkageModel, default_model
from matching.person import Person
from matching.search import Candidate, names_agree

__all__ = [
    "FieldContribution",
    "LinkageModel",
    "Resolution",
    "ScoredCandidate",
    "could_matter",
    "default_model",
    "resembles_shielded",
    "resolve",
    "score",
    "shares_nhs_or_upn",
    "upper_bound",
]

MAX_CANDIDATES = 5
HOUSEHOLD_AT = COMPARISONS.index(HOUSEHOLD)
GIVEN_AT = COMPARISONS.index(GIVEN)
LINK = "link"
REVIEW = "review"
NEW = "new"
DIFFERENT_NHS = "different NHS numbers"
DIFFERENT_UPN = "different Unique Pupil Numbers"
TWIN = "same family name, date of birth and address but a different child (twin or sibling)"
MIDDLE_ONLY = (
    "same date of birth and address, but another family name and a given name that matches only a middle name: "
    "the child or a twin"
)


@dataclass(frozen=True)
class FieldContribution:
    field: str
    level: str
    weight: float
    explanation: str


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate's weight and the rules it breaks; the field-by-field explanation on demand.

    A load compares many candidates for each one it links or shows, so the words of the
    explanation are put together only for those that are stored or shown.
    """

    child_id: int
    index_id: str
    weight: float
    probability: float
    conflicts: tuple[str, ...]
    incoming: Prepared = field(repr=False, compare=False)
    held: Prepared = field(repr=False, compare=False)
    model: LinkageModel = field(repr=False, compare=False)
    # At the row's home and birthday: the same child by name, or (twin) another one by name.
    same_home_and_birthday: bool = field(default=False, compare=False)
    twin: bool = field(default=False, compare=False)

    @cached_property
    def contributions(self) -> tuple[FieldContribution, ...]:
        compared = compare_prepared(self.incoming, self.held)
        weights = _field_weights(compared, self.model)
        contributions = []
        for comparison, level, words, weight in zip(COMPARISONS, compared.levels, compared.notes, weights, strict=True):
            if comparison == HOUSEHOLD and compared.surname and level in SURNAME_EXACT_LEVELS:
                words += _name_words("family", self.model.surname_adjustment(compared.surname))
            if comparison == GIVEN and compared.given:
                words += _name_words("given", self.model.given_adjustment(compared.given))
            contributions.append(FieldContribution(comparison, level, round(weight, 2), words))
        return tuple(contributions)


@dataclass(frozen=True)
class Resolution:
    outcome: str
    best: ScoredCandidate | None
    candidates: tuple[ScoredCandidate, ...]


def probability(weight: float) -> float:
    return 1.0 / (1.0 + math.pow(2.0, -max(-1000.0, min(1000.0, weight))))


def _name_words(which: str, adjustment: float) -> str:
    if adjustment > 0.05:
        return f"; an uncommon {which} name ({adjustment:+.1f})"
    if adjustment < -0.05:
        return f"; a common {which} name ({adjustment:+.1f})"
    return ""


def _field_weights(compared: Compared, model: LinkageModel) -> list[float]:
    """Each comparison's weight at its level; the household's and the given name's adjusted for
    how rare the family name and the given name are."""
    weights = [model.weights[comparison][level] for comparison, level in zip(COMPARISONS, compared.levels, strict=True)]
    if compared.surname and compared.levels[HOUSEHOLD_AT] in SURNAME_EXACT_LEVELS:
        weights[HOUSEHOLD_AT] += model.surname_adjustment(compared.surname)
    if compared.given:
        weights[GIVEN_AT] += model.given_adjustment(compared.given)
    return weights


def score(incoming: Person, candidate: Candidate, model: LinkageModel | None = None) -> ScoredCandidate:
    """The candidate's match weight and the rules it breaks (the explanation follows on demand)."""
    model = model or default_model()
    mine, theirs = prepare(incoming), prepare(candidate.person)
    compared = compare_prepared(mine, theirs, explain=False)
    total = model.prior_weight
    for weight in _field_weights(compared, model):
        total += weight  # in the order the fields come, as the explanation adds them up
    levels = dict(zip(COMPARISONS, compared.levels, strict=True))
    conflicts = []
    if levels[NHS] == "different":
        conflicts.append(DIFFERENT_NHS)
    if levels[UPN] == "different":
        conflicts.append(DIFFERENT_UPN)
    same_home_and_birthday = levels[HOUSEHOLD] in SAME_HOME_LEVELS and levels[DOB] == "exact"
    other_child = levels[GIVEN] == "different" or (levels[GENDER] == "different" and levels[GIVEN] != "exact")
    if levels[GIVEN] in ("typo", "similar") and not other_child:
        other_child = _two_names(mine, theirs, model)
    twin = same_home_and_birthday and other_child
    if twin and not _shares_checked(mine, theirs):
        # Twins never share an NHS number or UPN: with one shared, the rule yields (see resolve).
        conflicts.append(TWIN)
    elif levels[HOUSEHOLD] == "other surname, same address" and levels[DOB] == "exact" and levels[GIVEN] == "middle":
        # One home and birthday, but the family name differs and the given name is only the other's
        # middle name: a twin of a blended family may bear it. Only a person can tell.
        conflicts.append(MIDDLE_ONLY)
    return ScoredCandidate(
        child_id=candidate.child_id,
        index_id=candidate.index_id,
        weight=round(total, 3),
        probability=probability(total),
        conflicts=tuple(conflicts),
        same_home_and_birthday=same_home_and_birthday,
        twin=twin,
        incoming=mine,
        held=theirs,
        model=model,
    )


BOUND_SLACK = 0.01  # bits: the bound is summed in another order, and a weight is rounded to three places


def _bound(incoming: Prepared, held: Prepared, model: LinkageModel, floor: float = -math.inf) -> float:
    """The bound on the held record's weight (see upper_bound), made tighter comparison by
    comparison; once it falls below floor, the bound so far."""
    best = model.best_weights
    bound = model.prior_weight + sum(best.values())
    for comparison, levels, name in possible_levels(incoming, held):
        weights = model.weights[comparison]
        # Most comparisons have one possible level: read its weight without a generator (a load bounds
        # tens of thousands of candidates a batch).
        most = weights[levels[0]] if len(levels) == 1 else max(weights[level] for level in levels)
        if name:
            most += model.surname_adjustment(name) if comparison == HOUSEHOLD else model.given_adjustment(name)
        bound += most - best[comparison]
        if bound < floor:
            break
    return bound


def upper_bound(incoming: Person, held: Person, model: LinkageModel | None = None) -> float:
    """The most the held record could weigh against the row, whatever its identifiers (other than
    the row's own), address, postcodes and carers: everything else is compared as score
    compares it, the household taken at its best.

    A load reads a candidate's identifiers and household only when it could matter (see could_matter).
    """
    return _bound(prepare(incoming), prepare(held), model or default_model())


def could_matter(incoming: Person, held: Person, model: LinkageModel | None = None) -> bool:
    """Whether a candidate, known but for its identifiers and household, could change how the row
    is resolved.

    One that shares an identifier always could (it sends a row to review whatever its weight):
    the caller keeps those that hold the row's identifiers when it has not read them. Otherwise
    only one that could reach the review threshold: below it, a candidate is never linked,
    never sends a row to review, and is only listed (see resolve) beside those that do. A
    shielded candidate is the caller's to keep: how weakly one may resemble a row is its own rule.
    The comparisons stop as soon as the bound falls below the threshold.
    """
    model = model or default_model()
    mine, theirs = prepare(incoming), prepared_once(held)
    if mine.nhs & theirs.nhs or mine.upn & theirs.upn or mine.other_ids & theirs.other_ids:
        return True
    floor = model.review_weight - BOUND_SLACK
    return _bound(mine, theirs, model, floor) >= floor


def _two_names(incoming: Prepared, held: Prepared, model: LinkageModel) -> bool:
    """Both given names are real names (Georgia, Georgina): twins, not a typo."""
    names = model.known_given_names
    return incoming.given in names and held.given in names


def _shares_checked(incoming: Prepared, held: Prepared) -> bool:
    return bool(incoming.nhs & held.nhs or incoming.upn & held.upn)


def shares_nhs_or_upn(scored: ScoredCandidate) -> bool:
    """Whether the row and the candidate share an NHS number or a UPN: identifiers checked by
    their check digits, never shared by two children (twins included), so one child."""
    return _shares_checked(scored.incoming, scored.held)


def _shares_identifier(scored: ScoredCandidate) -> bool:
    """Any identifier shared, an other identifier (no check digit) too: never a new child alone."""
    return shares_nhs_or_upn(scored) or bool(scored.incoming.other_ids & scored.held.other_ids)


# Bits under the review threshold at which a shielded record still resembles a row: on the scale of
# a model whose u comes from random pairs, a given name and a date of birth that agree with all
# else against them (a new family, home and carer, a gender recorded wrongly) are about 12 under.
SHIELDED_MARGIN = 20.0


def resembles_shielded(
    incoming: Person, held: Person, scored: ScoredCandidate, model: LinkageModel | None = None
) -> bool:
    """Whether a row resembles a shielded record enough that it must not become a new record alone.

    Far weaker than the review threshold, and any twin-like likeness counts: a second,
    unshielded record of a shielded child (ContactPoint's worst failure) would show where the
    child is, so a person looks at every row that might be one. But a name must agree, and
    where the row says the child lives adds nothing: only who the child is can make a row
    resemble a shielded child, or a row of a guessed postcode and date of birth would confirm
    that one lives there (the rule search keeps for postcodes).
    """
    model = model or default_model()
    if TWIN in scored.conflicts:
        return True
    home = sum(c.weight for c in scored.contributions if c.field == HOUSEHOLD)
    return names_agree(incoming, held) and scored.weight - max(home, 0.0) >= model.review_weight - SHIELDED_MARGIN


def _names_its_twin(best: ScoredCandidate, ranked: Sequence[ScoredCandidate]) -> bool:
    """Whether the row, twin-like to its best candidate but sharing its NHS number or UPN, names
    another record of that home and birthday (the twin, under another identifier): the number
    may be the twin's, given by mistake, so a person decides."""
    return best.twin and any(s.same_home_and_birthday and not s.twin for s in ranked if s is not best)


def made_order(child_id: int) -> tuple[bool, int]:
    """Candidates of equal weight in the order their records were made: a held child by its id,
    then children not yet written (numbered -1, -2, ... as a load or dry run makes them).

    Not by index id: a load gives a new child a random one, and a dry run (which makes no child)
    none, so a tie broken by index id named another best candidate in a dry run than in the load.
    """
    return child_id < 0, abs(child_id)


def resolve(incoming: Person, candidates: Sequence[Candidate], model: LinkageModel | None = None) -> Resolution:
    """Link to the one clear candidate, or review, or a new child.

    A link needs the best candidate at or over the link threshold, breaking no rule, and no
    other candidate also over the link threshold. A candidate over the review threshold, or one
    that shares an identifier but breaks a rule, sends the row to review. Otherwise: new.
    A twin-like candidate that shares an NHS number or UPN breaks no twin rule (see score), unless
    the row also names another record of that home and birthday, its twin (then review); one
    that shares only an other identifier (no check digit, twins are given neighbouring ones)
    still does, and goes to review rather than a new child.
    """
    model = model or default_model()
    best_by_child: dict[int, ScoredCandidate] = {}
    for candidate in candidates:
        scored = score(incoming, candidate, model)
        kept = best_by_child.get(scored.child_id)
        if kept is None or scored.weight > kept.weight:
            best_by_child[scored.child_id] = scored
    ranked = sorted(best_by_child.values(), key=lambda s: (-s.weight, *made_order(s.child_id)))
    if not ranked:
        return Resolution(NEW, None, ())
    shown = tuple(ranked[:MAX_CANDIDATES])
    allowed = [s for s in ranked if not s.conflicts]
    if allowed and allowed[0].weight >= model.link_weight:
        best = allowed[0]
        rivals = [s for s in allowed[1:] if s.weight >= model.link_weight]
        return Resolution(REVIEW if rivals or _names_its_twin(best, ranked) else LINK, best, shown)
    for scored in ranked:
        if TWIN in scored.conflicts and not _shares_identifier(scored):
            continue
        if scored.weight >= model.review_weight or _shares_identifier(scored):
            return Resolution(REVIEW, scored, shown)
    return Resolution(NEW, ranked[0], shown)
