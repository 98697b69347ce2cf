"""The linkage model: m and u probabilities per comparison level, the prior, two thresholds and
the family-name frequencies, as estimated by matching.estimate and shipped in
matching/data/linkage_model.json.

Weights are log2 Bayes factors: log2(m / u) for a level, where m is the chance of that level for
two records of the same child and u for two different children among the candidates. A "missing"
level weighs nothing. Agreement on a family name is adjusted by how common the name is (term
frequency): log2(mean frequency / this name's frequency), so that Smith counts for less than
Oyelaran-Whitfield.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from matching.levels import COMPARISONS, HOUSEHOLD, LEVELS, MISSING

MODEL_FILE = Path(__file__).parent / "data" / "linkage_model.json"
TF_LIMIT = 4.0  # bits: the term-frequency adjustment is kept within plus or minus this


@dataclass(frozen=True)
class LinkageModel:
    prior: float  # chance that a candidate pair is the same child, before looking at it
    m: Mapping[str, Mapping[str, float]]
    u: Mapping[str, Mapping[str, float]]
    link_weight: float  # total weight at and above which a candidate is linked automatically
    review_weight: float  # total weight at and above which a row goes to review (below: new child)
    surname_frequency: Mapping[str, float] = field(default_factory=dict)
    default_frequency: float = 1e-4
    known_given_names: frozenset[str] = frozenset()  # real names: two of them one letter apart are two names
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

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "notes": dict(self.notes),
            "prior": self.prior,
            "thresholds": {"link_weight": self.link_weight, "review_weight": self.review_weight},
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
            "known_given_names": sorted(self.known_given_names),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkageModel:
        comparisons = data["comparisons"]
        return cls(
            prior=data["prior"],
            m={c: {level: comparisons[c][level]["m"] for level in LEVELS[c]} for c in COMPARISONS},
            u={c: {level: comparisons[c][level]["u"] for level in LEVELS[c]} for c in COMPARISONS},
            link_weight=data["thresholds"]["link_weight"],
            review_weight=data["thresholds"]["review_weight"],
            surname_frequency=dict(data["surname_frequency"]["names"]),
            default_frequency=data["surname_frequency"]["default"],
            known_given_names=frozenset(data.get("known_given_names", ())),
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
