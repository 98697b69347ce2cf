"""Estimating the linkage model (Fellegi-Sunter) from unlabelled pairs of records.

The shipped model is estimated the way Splink documents (estimate_by_passes, run by
bench/train_linkage.py): u from pairs of records drawn at random, which are nearly all two
different children, so that u says how often two children agree by chance; m by
expectation-maximisation with u fixed, in passes on the pairs one training blocking rule finds,
each leaving out of its EM the comparisons its rule blocks on (within the pairs they agree by
construction, so they say nothing there); the prior from the matches one pass finds; term
frequencies of given and family names; thresholds as match probabilities. An earlier model took u
from the blocked candidate pairs themselves (estimate, with u free), where agreement on the
blocking fields is common: an exact date of birth was worth 2.7 bits and the household nothing.

The household is one comparison (family name with address, postcode and carers) because siblings
agree on all of them together; as separate comparisons the independence assumption would count
one fact four times. "missing" levels are left out of the fit and weigh nothing. A small
pseudo-count keeps every level possible, so that no weight is infinite.

estimate (EM with u free, or u from random pairs and m from candidate pairs) stays for data sets
like FEBRL that bench/matching.py fits on their own candidate pairs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matching.levels import COMPARISONS, LEVELS, MISSING, spelling_close
from matching.model import LinkageModel, weight_of

PSEUDO_COUNT = 0.5
TYPO_RATIO = 10  # a name at least this many times rarer than a name one slip away is a slip


def _initial(levels: Sequence[str], rising: bool) -> dict[str, float]:
    """Starting values: m falls and u rises from the strongest agreement to "different"."""
    present = [level for level in levels if level != MISSING]
    raw = [2.0 ** (i if rising else -1.5 * i) for i in range(len(present))]
    total = sum(raw)
    return {level: value / total for level, value in zip(present, raw, strict=True)}


def surname_frequencies(surnames: Iterable[str]) -> tuple[dict[str, float], float]:
    """Each normalised family name's share of the records, and the share for an unknown name
    (that of a name seen once: an unknown name is a rare one)."""
    counts = Counter(name for name in surnames if name)
    total = sum(counts.values())
    if not total:
        return {}, 1e-4
    return {name: count / total for name, count in counts.items()}, 1.0 / total


def known_names(given_names: Iterable[str], *, typo_ratio: int = TYPO_RATIO) -> frozenset[str]:
    """The given names seen twice or more, less those that look like a slip in a far commoner
    name (Jacl beside Jack, seen 30 times as often): copies of one record can repeat a slip."""
    counts = Counter(name for name in given_names if name)
    seen = [name for name, count in counts.items() if count >= 2]
    common = [name for name in seen if counts[name] >= 2 * typo_ratio]
    known = set()
    for name in seen:
        bar = counts[name] * typo_ratio
        if not any(counts[other] >= bar and spelling_close(name, other) for other in common if other != name):
            known.add(name)
    return frozenset(known)


def fit(
    vectors: Mapping[tuple[str, ...], int],
    *,
    iterations: int = 500,
    tolerance: float = 1e-7,
    prior: float = 0.3,
    fixed_u: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[float, dict[str, dict[str, float]], dict[str, dict[str, float]], int]:
    """EM over counted comparison vectors: the prior, m, u, and the iterations it took.
    With fixed_u, u is kept as given and only m and the prior are estimated."""
    m = {c: _initial(LEVELS[c], rising=False) for c in COMPARISONS}
    if fixed_u is None:
        u = {c: _initial(LEVELS[c], rising=True) for c in COMPARISONS}
    else:
        u = {c: {level: fixed_u[c][level] for level in m[c]} for c in COMPARISONS}
    patterns = [(vector, count) for vector, count in vectors.items()]
    total = sum(count for _, count in patterns)
    done = 0
    for done in range(1, iterations + 1):  # noqa: B007 - the count is reported
        expected_m = {c: dict.fromkeys(m[c], PSEUDO_COUNT) for c in COMPARISONS}
        expected_u = {c: dict.fromkeys(u[c], PSEUDO_COUNT) for c in COMPARISONS}
        matched = 0.0
        log_prior = math.log(prior)
        log_other = math.log(1.0 - prior)
        for vector, count in patterns:
            log_m, log_u = log_prior, log_other
            for comparison, level in zip(COMPARISONS, vector, strict=True):
                if level != MISSING:
                    log_m += math.log(m[comparison][level])
                    log_u += math.log(u[comparison][level])
            share = 1.0 / (1.0 + math.exp(min(700.0, log_u - log_m)))
            matched += count * share
            for comparison, level in zip(COMPARISONS, vector, strict=True):
                if level != MISSING:
                    expected_m[comparison][level] += count * share
                    expected_u[comparison][level] += count * (1.0 - share)
        change = abs(matched / total - prior)
        prior = min(max(matched / total, 1e-6), 1 - 1e-6)
        for comparison in COMPARISONS:
            tables = ((m, expected_m),) if fixed_u is not None else ((m, expected_m), (u, expected_u))
            for table, expected in tables:
                level_total = sum(expected[comparison].values())
                for level, value in expected[comparison].items():
                    new = value / level_total
                    change = max(change, abs(new - table[comparison][level]))
                    table[comparison][level] = new
        if change < tolerance:
            break
    return prior, m, u, done


def level_shares(vectors: Iterable[Sequence[str]]) -> dict[str, dict[str, float]]:
    """How often each level occurs (missing left out), smoothed: u from random pairs."""
    counts = {c: dict.fromkeys((level for level in LEVELS[c] if level != MISSING), PSEUDO_COUNT) for c in COMPARISONS}
    for vector in vectors:
        for comparison, level in zip(COMPARISONS, vector, strict=True):
            if level != MISSING:
                counts[comparison][level] += 1
    return {c: {level: n / sum(counts[c].values()) for level, n in counts[c].items()} for c in COMPARISONS}


def _log_likelihood(vector: Sequence[str], table: Mapping[str, Mapping[str, float]]) -> float:
    return sum(math.log(table[c][level]) for c, level in zip(COMPARISONS, vector, strict=True) if level != MISSING)


def non_match_shares(
    random_counted: Mapping[tuple[str, ...], int],
    m: Mapping[str, Mapping[str, float]],
    u: Mapping[str, Mapping[str, float]],
    match_share: float,
) -> dict[str, dict[str, float]]:
    """u from random pairs, each counted by its chance of being two different people (under m, u
    and match_share, the share of matches among all pairs): in a set of many duplicates the
    matches among random pairs would otherwise make agreement look common among non-matches."""
    counts = {c: dict.fromkeys((level for level in LEVELS[c] if level != MISSING), PSEUDO_COUNT) for c in COMPARISONS}
    log_odds = math.log(match_share / (1.0 - match_share))
    for vector, count in random_counted.items():
        odds = log_odds + _log_likelihood(vector, m) - _log_likelihood(vector, u)
        weight = count / (1.0 + math.exp(min(700.0, odds)))
        for comparison, level in zip(COMPARISONS, vector, strict=True):
            if level != MISSING:
                counts[comparison][level] += weight
    return {c: {level: n / sum(counts[c].values()) for level, n in counts[c].items()} for c in COMPARISONS}


def _fit_with_random_pairs(
    counted: Mapping[tuple[str, ...], int],
    random_vectors: Iterable[Sequence[str]],
    population_pairs: int,
    iterations: int,
) -> tuple[float, dict[str, dict[str, float]], dict[str, dict[str, float]], int]:
    """m and the prior by EM with u from random pairs, then u again from the random pairs less
    the matches among them (non_match_shares), and m and the prior once more (more rounds
    change nothing that matters)."""
    random_counted = Counter(tuple(vector) for vector in random_vectors)
    candidates = sum(counted.values())
    prior, m, u, _ = fit(counted, iterations=iterations, fixed_u=level_shares(random_counted.elements()))
    u = non_match_shares(random_counted, m, u, prior * candidates / population_pairs)
    prior, m, u, done = fit(counted, iterations=iterations, fixed_u=u)
    return prior * candidates / population_pairs, m, u, done


def estimate(
    vectors: Iterable[Sequence[str]],
    surnames: Iterable[str] = (),
    *,
    link_weight: float,
    review_weight: float,
    random_vectors: Iterable[Sequence[str]] | None = None,
    population_pairs: int | None = None,
    given_names: Iterable[str] = (),
    iterations: int = 500,
    notes: Mapping[str, Any] | None = None,
) -> LinkageModel:
    """A model from the comparison vectors (levels in matching.levels.COMPARISONS order) of
    unlabelled candidate pairs, and the family names of the records for the frequency table.
    given_names (of the records, normalised): those seen twice or more are kept as known names
    (see known_names), so that two of them a letter apart (Georgia, Georgina) count as two names
    for the twin rule.

    With random_vectors (pairs of records drawn at random, nearly all different people), u is
    taken from them and EM estimates only m and the prior: for data whose candidate pairs are
    nearly all matches, where EM cannot see enough non-matches to learn u. Not for children in
    households (see the module's docstring). The prior is then the expected number of matches
    among the candidates over population_pairs, all the pairs they were drawn from."""
    counted = Counter(tuple(vector) for vector in vectors)
    if random_vectors is None:
        prior, m, u, done = fit(counted, iterations=iterations)
    else:
        if not population_pairs:
            raise ValueError("u from random pairs needs population_pairs for the prior")
        prior, m, u, done = _fit_with_random_pairs(counted, list(random_vectors), population_pairs, iterations)
    for comparison in COMPARISONS:
        if MISSING in LEVELS[comparison]:
            m[comparison][MISSING] = 1.0
            u[comparison][MISSING] = 1.0
    frequencies, default = surname_frequencies(surnames)
    return LinkageModel(
        prior=prior,
        m=m,
        u=u,
        link_weight=link_weight,
        review_weight=review_weight,
        surname_frequency=frequencies,
        default_frequency=default,
        known_given_names=known_names(given_names),
        notes={**(notes or {}), "pairs": sum(counted.values()), "em_iterations": done},
    )


# Splink's method: u from random pairs, m by EM in passes, each on the pairs one blocking rule finds.


@dataclass(frozen=True)
class TrainingPass:
    """The pairs one training blocking rule finds, and the comparisons that rule blocks on.

    Within the pairs, the comparisons blocked on agree by construction, so they say nothing about
    whether a pair is one child: they are left out of this pass's EM and their m is estimated in
    another pass (Splink's estimate_parameters_using_expectation_maximisation). caught: for the
    prior, the levels the rule demands (every level of a comparison not named may occur), so that
    the matches the rule finds can be scaled up to all the matches (see estimate_by_passes).
    """

    name: str
    vectors: Sequence[Sequence[str]]
    blocked_on: frozenset[str]
    caught: Mapping[str, frozenset[str]]


def given_frequencies(given_names: Iterable[str]) -> tuple[dict[str, float], float]:
    """Each normalised given name's share of the records (those seen twice or more; a name seen
    once is kept out of the table and counts as unknown), and the share for an unknown name."""
    counts = Counter(name for name in given_names if name)
    total = sum(counts.values())
    if not total:
        return {}, 1e-4
    return {name: count / total for name, count in counts.items() if count >= 2}, 1.0 / total


def m_from_passes(
    passes: Sequence[TrainingPass], u: Mapping[str, Mapping[str, float]], iterations: int = 500
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """m by EM with u fixed, pass by pass; each comparison's m is the mean of its estimates in the
    passes that do not block on it. Also each pass's share of matches among its pairs."""
    estimates: dict[str, list[dict[str, float]]] = {c: [] for c in COMPARISONS}
    shares: dict[str, float] = {}
    for training in passes:
        at = [i for i, c in enumerate(COMPARISONS) if c in training.blocked_on]
        counted: Counter[tuple[str, ...]] = Counter()
        for vector in training.vectors:
            levels = list(vector)
            for i in at:
                levels[i] = MISSING
            counted[tuple(levels)] += 1
        if not counted:
            continue
        share, m, _, _ = fit(counted, iterations=iterations, prior=0.3, fixed_u=u)
        shares[training.name] = share
        for comparison in COMPARISONS:
            if comparison not in training.blocked_on:
                estimates[comparison].append(m[comparison])
    m_mean: dict[str, dict[str, float]] = {}
    for comparison in COMPARISONS:
        found = estimates[comparison]
        levels = [level for level in LEVELS[comparison] if level != MISSING]
        if not found:
            raise ValueError(f"no training pass estimates m for {comparison}")
        m_mean[comparison] = {level: sum(e[level] for e in found) / len(found) for level in levels}
    return m_mean, shares


def estimate_by_passes(
    random_vectors: Iterable[Sequence[str]],
    passes: Sequence[TrainingPass],
    *,
    records: int,
    link_probability: float,
    review_probability: float,
    surnames: Iterable[str] = (),
    given_names: Iterable[str] = (),
    prior_pass: str | None = None,
    iterations: int = 500,
    notes: Mapping[str, Any] | None = None,
) -> LinkageModel:
    """A model the way Splink trains one: u from pairs of records drawn at random (nearly all
    different children: estimate_u_using_random_sampling), m by EM with u fixed in passes whose
    blocking rule leaves out the comparison being estimated, term frequencies for given and
    family names, and thresholds as match probabilities.

    The prior (two random records being one child) is worked out from prior_pass (the first pass
    by default): the matches EM finds among its pairs, over the share of all matches its rule
    catches (by m of the levels it demands), over all pairs of records."""
    random_vectors = list(random_vectors)
    u = level_shares(random_vectors)
    m, shares = m_from_passes(passes, u, iterations)
    chosen = next(p for p in passes if p.name == (prior_pass or passes[0].name))
    caught = 1.0
    for comparison, levels in chosen.caught.items():
        caught *= sum(m[comparison][level] for level in levels)
    population_pairs = records * (records - 1) / 2
    matches = shares[chosen.name] * len(chosen.vectors) / caught
    prior = min(max(matches / population_pairs, 1e-12), 0.5)
    for comparison in COMPARISONS:
        if MISSING in LEVELS[comparison]:
            m[comparison][MISSING] = 1.0
            u[comparison][MISSING] = 1.0
    surname_table, surname_default = surname_frequencies(surnames)
    given_list = list(given_names)
    given_table, given_default = given_frequencies(given_list)
    return LinkageModel(
        prior=prior,
        m=m,
        u=u,
        link_weight=weight_of(link_probability),
        review_weight=weight_of(review_probability),
        surname_frequency=surname_table,
        default_frequency=surname_default,
        known_given_names=known_names(given_list),
        given_frequency=given_table,
        default_given_frequency=given_default,
        notes={
            **(notes or {}),
            "random_pairs": len(random_vectors),
            "passes": {
                p.name: {"pairs": len(p.vectors), "match_share": round(shares.get(p.name, 0.0), 5)} for p in passes
            },
            "expected_matches": round(matches),
        },
    )
