"""The linkage model: m and u probabilities per comparison level, the prior, two thresholds and
the given- and family-name frequencies, as estimated by matching.estimate and shipped in
matching/data/linkage_model.json.

Weights are log2 Bayes factors: log2(m / u) for a level, where m is the chance of that level for
two records of the same child and u for two records of different children drawn at random. A
"missing" level weighs nothing. The prior is the chance that two records drawn at random are one
child, so a candidate's total weight (the prior's and every level's) is its match probability
(as log odds), and the two thresholds are match probabilities.

Agreement on a name is adjusted by how common the name is (term frequency, as Splink does):
log2(u of agreeing on any name / this name's frequency), so that Oliver and Smith count for less
than Ebenezer and Oyelaran-Whitfield.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from matching.levels import COMPARISONS, GIVEN, HOUSEHOLD, LEVELS, MISSING

MODEL_FILE = Path(__file__).parent / "data" / "linkage_model.json"
TF_LIMIT = 4.0  # bits: the term-frequency adjustment is kept within plus or minus this


def weight_of(probability: float) -> float:
    """A match probability as a weight (log2 odds)."""
    return math.log2(probability / (1.0 - probability))


def probability_of(weight: float) -> float:
    return 1.0 / (1.0 + math.pow(2.0, -max(-1000.0, min(1000.0, weight))))


@dataclass(frozen=True)
class LinkageModel:
    prior: float  # chance that two records drawn at random are the same child, before looking at them
    m: Mapping[str, Mapping[str, float]]
    u: Mapping[str, Mapping[str, float]]
    link_weight: float  # total weight at and above which a candidate is linked automatically
    review_weight: float  # total weight at and above which a row goes to review (below: new child)
    surname_frequency: Mapping[str, float] = field(default_factory=dict)
    default_frequency: float = 1e-4
    known_given_names: frozenset[str] = frozenset()  # real names: two of them one letter apart are two names
    given_frequency: Mapping[str, float] = field(default_factory=dict)
    default_given_frequency: float = 1e-4
    notes: Mapping[str, Any] = field(default_factory=dict)
    weights: dict[str, dict[str, float]] = field(init=False, repr=False, compare=False)
    # The most each comparison can add (the household's with the largest term-frequency adjustment).
    best_weights: dict[str, float] = field(init=False, repr=False, compare=False)
    mean_frequency: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = {
            comparison: {
                level: 0.0 if level == MISSING else math.log2(self.m[comparison][level] / self.u[comparison][level])
                for level in LEVELS[comparison]
            }
            for comparison in COMPARISONS
        }
        object.__setattr__(self, "weights", weights)
        best = {comparison: max(levels.values()) for comparison, levels in weights.items()}
        best[HOUSEHOLD] += TF_LIMIT
        if self.given_frequency:
            best[GIVEN] = max(best[GIVEN], weights[GIVEN]["exact"] + TF_LIMIT)
        object.__setattr__(self, "best_weights", best)
        total = sum(self.surname_frequency.values())
        mean = sum(f * f for f in self.surname_frequency.values()) / total if total else self.default_frequency
        object.__setattr__(self, "mean_frequency", mean)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def surname_adjustment(self, surname: str) -> float:
        """Extra weight (bits) for agreeing on this family name, by how rare it is."""
        frequency = self.surname_frequency.get(surname, self.default_frequency)
        return max(-TF_LIMIT, min(TF_LIMIT, math.log2(self.mean_frequency / frequency)))

    def given_adjustment(self, given: str) -> float:
        """Extra weight (bits) for agreeing exactly on this given name, by how rare it is: u of
        the exact level (two random records of different children with one given name) over this
        name's share of the records. None without a given-name frequency table."""
        if not self.given_frequency:
            return 0.0
        frequency = self.given_frequency.get(given, self.default_given_frequency)
        return max(-TF_LIMIT, min(TF_LIMIT, math.log2(self.u[GIVEN]["exact"] / frequency)))

    @property
    def link_probability(self) -> float:
        return probability_of(self.link_weight)

    @property
    def review_probability(self) -> float:
        return probability_of(self.review_weight)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 2,
            "notes": dict(self.notes),
            "prior": self.prior,
            "thresholds": {
                "link_probability": self.link_probability,
                "review_probability": self.review_probability,
                "link_weight": round(self.link_weight, 3),
                "review_weight": round(self.review_weight, 3),
            },
            "comparisons": {
                comparison: {
                    level: {
                        "m": round(self.m[comparison][level], 8),
                        "u": round(self.u[comparison][level], 8),
                        "weight": round(self.weights[comparison][level], 3),
                    }
                    for level in LEVELS[comparison]
                }
                for comparison in COMPARISONS
            },
            "surname_frequency": {
                "default": self.default_frequency,
                "names": {name: round(f, 8) for name, f in sorted(self.surname_frequency.items())},
            },
            "given_frequency": {
                "default": self.default_given_frequency,
                "names": {name: round(f, 8) for name, f in sorted(self.given_frequency.items())},
            },
            "known_given_names": sorted(self.known_given_names),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkageModel:
        comparisons = data["comparisons"]
        thresholds = data["thresholds"]
        given = data.get("given_frequency", {"names": {}, "default": 1e-4})
        return cls(
            prior=data["prior"],
            m={c: {level: comparisons[c][level]["m"] for level in LEVELS[c]} for c in COMPARISONS},
            u={c: {level: comparisons[c][level]["u"] for level in LEVELS[c]} for c in COMPARISONS},
            # The thresholds are match probabilities; a model of format 1 held them as weights.
            link_weight=weight_of(thresholds["link_probability"])
            if "link_probability" in thresholds
            else thresholds["link_weight"],
            review_weight=weight_of(thresholds["review_probability"])
            if "review_probability" in thresholds
            else thresholds["review_weight"],
            surname_frequency=dict(data["surname_frequency"]["names"]),
            default_frequency=data["surname_frequency"]["default"],
            known_given_names=frozenset(data.get("known_given_names", ())),
            given_frequency=dict(given["names"]),
            default_given_frequency=given["default"],
            notes=data.get("notes", {}),
        )

    def save(self, path: Path = MODEL_FILE) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> LinkageModel:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


@cache
def default_model() -> LinkageModel:
    """The shipped model, read once."""
    return LinkageModel.load()
