"""Regenerate matching/data/linkage_model.json the way Splink trains a model.

    python bench/train_linkage.py [--children N] [--seed S] [--random-pairs N] [--out PATH]
    python bench/train_linkage.py --childfactory N [--seed S]   # the older ChildFactory set

Trained on the realistic extracts (bench/realistic.py, 20,000 children, seed realistic.TRAIN_SEED
= 1 by default; bench/matching.py scores on another seed): every row of the health, school and
social care extracts, validated and made a Person as a load makes it (bench.matching.
realistic_rows), with no labels. Splink's documented training (estimate_u_using_random_sampling,
then estimate_parameters_using_expectation_maximisation with blocking rules, term frequency
adjustments, threshold_match_probability):

- u: the level shares of RANDOM_PAIRS pairs of records drawn at random: nearly all are two
  different children, so u says how often two children agree by chance (a date of birth about
  1 in 6,500, a household far less);
- m: EM with u fixed, in three passes on the pairs that one training blocking rule finds (one
  date of birth; one given and family name; one postcode), each leaving out of its EM the
  comparisons its rule blocks on; a comparison's m is the mean over the passes that estimate it;
- the prior (two random records being one child): the matches EM finds in the date-of-birth
  pass over m of an exact date of birth, over all pairs of records;
- term frequencies of given and family names among the records;
- thresholds as match probabilities: link at LINK_PROBABILITY, review at REVIEW_PROBABILITY.

No label is used. The ChildFactory set (an index and a load of noisy rows against it, the set
before the realistic one) stays for comparison: the ChildFactory households and rows below.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index_service.synthetic import ChildFactory  # noqa: E402
from matching.blocking import load_query_keys, record_keys  # noqa: E402
from matching.estimate import TrainingPass, estimate_by_passes  # noqa: E402
from matching.levels import DOB, GIVEN, HOUSEHOLD, compare_people  # noqa: E402
from matching.model import MODEL_FILE, LinkageModel  # noqa: E402
from matching.normalise import name_key, normalise_postcode  # noqa: E402
from matching.person import OtherName, Person  # noqa: E402
from matching.search import Candidate  # noqa: E402

TODAY = date(2025, 6, 1)


@dataclass(frozen=True)
class Row:
    """An incoming row and the truth about it (which the linkage never sees)."""

    person: Person
    truth: int | None  # the index child it is, or None for a child not in the index
    kind: str  # copy | sibling | twin | stranger
    twin_of: int | None = None  # for a twin not in the index: the index child who is its twin


@dataclass
class Generated:
    index: list[Person]
    rows: list[Row]
    twins: dict[int, int]  # index child -> its twin in the index


def _given_groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    path = ROOT / "matching" / "data" / "given_name_variants.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            names = [name.strip() for name in line.split(",") if name.strip()]
            for name in names:
                groups.setdefault(name, []).extend(other for other in names if other != name)
    return groups


GIVEN_GROUPS = _given_groups()


def typo(rng: random.Random, text: str) -> str:
    """One keyboard slip: a letter changed, dropped, doubled or two letters transposed."""
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.random()
    letter = rng.choice(string.ascii_lowercase)
    if kind < 0.35:
        return text[:i] + letter + text[i + 1 :]
    if kind < 0.6:
        return text[:i] + text[i + 1 :]
    if kind < 0.8:
        return text[:i] + letter + text[i:]
    return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]


def _digit_slip(rng: random.Random, born: date) -> date:
    """The date with one digit of its day, month or year changed, still a real date of a child."""
    for _ in range(20):
        digits = list(born.strftime("%Y%m%d"))
        position = rng.choice((3, 4, 5, 6, 7))
        digits[position] = str(rng.randrange(10))
        text = "".join(digits)
        try:
            slipped = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            continue
        if slipped != born and slipped < TODAY:
            return slipped
    return born


def person_of_spec(spec, with_nhs: bool = True, with_upn: bool = True) -> Person:  # noqa: ANN001
    address = spec.address
    identifiers = set()
    if with_nhs and spec.nhs_number:
        identifiers.add(("nhs_number", spec.nhs_number))
    if with_upn and spec.upn:
        identifiers.add(("upn", spec.upn))
    return Person(
        given_name=spec.given_name,
        family_name=spec.family_name,
        middle_names=spec.middle_names,
        other_names=tuple(OtherName(given, family) for _, given, family in spec.other_names),
        date_of_birth=spec.date_of_birth,
        gender=spec.gender.value,
        postcode=normalise_postcode(address.postcode) if address else None,
        previous_postcodes=tuple(p for p in (normalise_postcode(a.postcode) for a in spec.previous_addresses) if p),
        identifiers=frozenset(identifiers),
        address_line=address.line1 if address else None,
        carer_names=tuple(name for name, _, _ in spec.carers),
    )


class Noise:
    """Makes an incoming row from a child the way a source's extract would hold it."""

    def __init__(self, rng: random.Random, factory: ChildFactory) -> None:
        self.rng = rng
        self.factory = factory

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def row(self, spec) -> Person:  # noqa: ANN001, C901
        rng, faker = self.rng, self.factory.faker
        source = rng.choices(("health", "school", "social care"), (0.4, 0.35, 0.25))[0]
        nhs_present = {"health": 0.95, "school": 0.1, "social care": 0.6}[source]
        upn_present = {"health": 0.0, "school": 0.95, "social care": 0.3}[source]
        identifiers = set()
        if spec.nhs_number and self.chance(nhs_present):
            wrong = self.chance(0.001)
            identifiers.add(("nhs_number", self.factory.nhs_number() if wrong else spec.nhs_number))
        if spec.upn and self.chance(upn_present):
            identifiers.add(("upn", self.factory.upn() if self.chance(0.001) else spec.upn))

        given, middle, family = spec.given_name, spec.middle_names, spec.family_name
        other_names: list[OtherName] = []
        roll = rng.random()
        lower = given.lower()
        if roll < 0.08 and GIVEN_GROUPS.get(lower):
            given = rng.choice(GIVEN_GROUPS[lower]).title()
        elif roll < 0.12:
            given = typo(rng, lower).title()
        elif roll < 0.14 and middle:
            given, middle = middle, None
        elif roll < 0.15:
            given = given.upper()
        if middle and self.chance(0.4):
            middle = None

        roll = rng.random()
        if roll < 0.03:
            family = typo(rng, family.lower()).title()
        elif roll < 0.06:
            old = family
            family = self.factory._family()
            if self.chance(0.5):
                other_names.append(OtherName(None, old))
        elif roll < 0.075:
            family = f"{family}-{self.factory._family()}"
        elif roll < 0.085 and spec.other_names:
            family = spec.other_names[0][2] or family
        elif roll < 0.095:
            family = family.upper()

        if self.chance(0.015):
            given, family = family, given
        born = spec.date_of_birth
        roll = rng.random()
        if roll < 0.025 and born.day <= 12 and born.day != born.month:
            born = born.replace(day=born.month, month=born.day)
        elif roll < 0.045:
            born = _digit_slip(rng, born)

        gender = spec.gender.value
        roll = rng.random()
        if roll < 0.08:
            gender = "unknown"
        elif roll < 0.083:
            gender = "female" if gender == "male" else "male"

        address = spec.address
        postcode = address.postcode
        line = address.line1
        carers = [name for name, _, _ in spec.carers]
        roll = rng.random()
        if roll < 0.10:
            postcode, line = faker.postcode(), faker.street_address()
            if self.chance(0.3):
                carers = []
        elif roll < 0.12:
            postcode = typo(rng, postcode.replace(" ", "")).upper()
        elif roll < 0.20:
            postcode, line = None, None
        elif roll < 0.28:
            line = None
        if self.chance(0.35):
            carers = []
        elif self.chance(0.1):
            carers = [faker.name()]
        return Person(
            given_name=given,
            family_name=family,
            middle_names=middle,
            other_names=tuple(other_names),
            date_of_birth=born,
            gender=gender,
            postcode=normalise_postcode(postcode),
            identifiers=frozenset(identifiers),
            address_line=line,
            carer_names=tuple(carers),
        )


def generate(children: int, seed: int) -> Generated:
    """An index of about `children` children and a load of rows against it."""
    rng = random.Random(seed)
    factory = ChildFactory(seed=seed, today=TODAY)
    noise = Noise(rng, factory)
    index: list[Person] = []
    rows: list[Row] = []
    twins: dict[int, int] = {}
    while len(index) < children:
        household = factory.household()
        if rng.random() < 0.12:  # a household the index has never seen
            for spec in household:
                rows.append(Row(noise.row(spec), None, "stranger"))
            continue
        placed: list[int | None] = []
        for spec in household:
            if rng.random() < 0.85:
                index.append(person_of_spec(spec, with_nhs=rng.random() < 0.92, with_upn=rng.random() < 0.85))
                placed.append(len(index) - 1)
            else:
                placed.append(None)
        for position, spec in enumerate(household):
            twin = next(
                (
                    placed[j]
                    for j, other in enumerate(household)
                    if j != position and other.date_of_birth == spec.date_of_birth
                ),
                None,
            )
            child = placed[position]
            if child is not None and twin is not None:
                twins[child] = twin
            if child is None:
                rows.append(Row(noise.row(spec), None, "twin" if twin is not None else "sibling", twin))
            elif rng.random() < 0.75:
                rows.append(Row(noise.row(spec), child, "copy"))
    rng.shuffle(rows)
    return Generated(index, rows, twins)


class Blocker:
    """An in-memory stand-in for the index's blocking-key and identifier tables."""

    def __init__(self) -> None:
        self.by_key: dict[int, list[int]] = defaultdict(list)
        self.by_identifier: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.people: list[Person] = []
        self.child_of: list[int] = []

    def add(self, person: Person, child_id: int) -> None:
        record = len(self.people)
        self.people.append(person)
        self.child_of.append(child_id)
        for key in record_keys(person):
            self.by_key[key].append(record)
        for identifier in person.identifiers:
            self.by_identifier[identifier].append(record)

    def records(self, person: Person) -> set[int]:
        """The records a load finds for the row: by the keys it looks up, and by identifier."""
        found: set[int] = set()
        for key in load_query_keys(person):
            found.update(self.by_key.get(key, ()))
        for identifier in person.identifiers:
            found.update(self.by_identifier.get(identifier, ()))
        return found

    def candidates(self, person: Person, records: set[int] | None = None) -> list[Candidate]:
        found = self.records(person) if records is None else records
        return [Candidate(self.child_of[r], self.people[r], f"C{self.child_of[r]}") for r in sorted(found)]


def blocker_for(index: Iterable[Person]) -> Blocker:
    blocker = Blocker()
    for child_id, person in enumerate(index):
        blocker.add(person, child_id)
    return blocker


def candidate_pairs(data: Generated) -> Iterator[tuple[Row, Candidate]]:
    blocker = blocker_for(data.index)
    for row in data.rows:
        for candidate in blocker.candidates(row.person):
            yield row, candidate


LINK_PROBABILITY = 0.99  # chosen on the training seed: see docs/matching.md, section 5
REVIEW_PROBABILITY = 0.5
RANDOM_PAIRS = 1_000_000
MAX_BLOCK = 400  # records: a larger block (a very common name) is sampled, so a pass stays quick


def _pairs_within(groups: Iterable[list[int]], rng: random.Random) -> Iterator[tuple[int, int]]:
    for members in groups:
        if len(members) > MAX_BLOCK:
            members = rng.sample(members, MAX_BLOCK)
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                yield left, right


def _blocked(records: list[Person], key, rng: random.Random) -> list[tuple[str, ...]]:  # noqa: ANN001
    groups: dict[object, list[int]] = defaultdict(list)
    for number, person in enumerate(records):
        value = key(person)
        if value:
            groups[value].append(number)
    return [compare_people(records[a], records[b]).levels for a, b in _pairs_within(groups.values(), rng)]


def training_passes(records: list[Person], rng: random.Random) -> list[TrainingPass]:
    """Splink's training blocking rules, each leaving out of its EM what it blocks on: pairs born
    on one day (m of everything but the date of birth, and the prior), pairs with one given and
    family name (m of the date of birth, middle names, gender and identifiers), pairs with one
    postcode (m of the given name and date of birth again)."""

    def names(person: Person) -> tuple[str, str] | None:
        given, family = name_key(person.given_name), name_key(person.family_name)
        return (given, family) if given and family else None

    return [
        TrainingPass(
            "date of birth",
            _blocked(records, lambda p: p.date_of_birth, rng),
            frozenset({DOB}),
            {DOB: frozenset({"exact"})},
        ),
        TrainingPass("given and family name", _blocked(records, names, rng), frozenset({GIVEN, HOUSEHOLD}), {}),
        TrainingPass("postcode", _blocked(records, lambda p: p.postcode, rng), frozenset({HOUSEHOLD}), {}),
    ]


def random_vectors(records: list[Person], pairs: int, rng: random.Random) -> Iterator[tuple[str, ...]]:
    """Comparison vectors of pairs of records drawn at random (Splink's estimate_u_using_random_sampling)."""
    count = len(records)
    for _ in range(pairs):
        a = rng.randrange(count)
        b = rng.randrange(count - 1)
        b += b >= a
        yield compare_people(records[a], records[b]).levels


def train_on_records(
    records: list[Person],
    seed: int,
    *,
    random_pairs: int = RANDOM_PAIRS,
    link_probability: float = LINK_PROBABILITY,
    review_probability: float = REVIEW_PROBABILITY,
    notes: dict | None = None,
) -> LinkageModel:
    """A model from unlabelled records (every source's, several of one child among them)."""
    rng = random.Random(seed)
    passes = training_passes(records, rng)
    return estimate_by_passes(
        random_vectors(records, random_pairs, rng),
        passes,
        records=len(records),
        link_probability=link_probability,
        review_probability=review_probability,
        surnames=(name_key(p.family_name) for p in records),
        given_names=(name_key(p.given_name) for p in records),
        notes={
            "how": "Splink's method (bench/train_linkage.py): u from random pairs of records, m by EM in "
            "passes blocked on date of birth, on given and family name, and on postcode (each leaving out "
            "what it blocks on), term frequencies of given and family names, thresholds as match probabilities",
            "records": len(records),
            "seed": seed,
            **(notes or {}),
        },
    )


def train(children: int, seed: int) -> LinkageModel:
    data = generate(children, seed)
    records = list(data.index) + [row.person for row in data.rows]
    return train_on_records(records, seed, notes={"data": "ChildFactory households and noisy copies"})


def train_realistic(children: int, seed: int, random_pairs: int = RANDOM_PAIRS) -> LinkageModel:
    from bench import realistic
    from bench.matching import realistic_rows

    records = realistic_rows(children, seed).people
    return train_on_records(
        records,
        seed,
        random_pairs=random_pairs,
        notes={"data": f"bench/realistic.py, {children:,} children, seed {seed}", "scored on": realistic.SCORE_SEED},
    )


def main() -> None:
    from bench import realistic

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=20_000, help="realistic population")
    parser.add_argument("--seed", type=int, default=realistic.TRAIN_SEED)
    parser.add_argument("--random-pairs", type=int, default=RANDOM_PAIRS)
    parser.add_argument("--childfactory", type=int, help="train on this many ChildFactory children instead")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args()
    if args.childfactory:
        model = train(args.childfactory, args.seed)
    else:
        model = train_realistic(args.children, args.seed, args.random_pairs)
    model.save(args.out)
    print(
        f"wrote {args.out}: prior {model.prior:.3g}; link at probability {model.link_probability:.4g} "
        f"({model.link_weight:.2f} bits), review at {model.review_probability:.4g} ({model.review_weight:.2f} bits)"
    )
    for comparison, levels in model.weights.items():
        print(f"  {comparison}: " + ", ".join(f"{level} {weight:+.2f}" for level, weight in levels.items()))


if __name__ == "__main__":
    main()
