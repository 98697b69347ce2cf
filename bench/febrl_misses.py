"""Why our linkage misses FEBRL's true pairs: every missed pair put in one class, and counted.

    python bench/febrl_misses.py [--sets 1 2 3] [--show N]

Each set is loaded as bench/matching.py loads it (the EM model on FEBRL, the records one at a
time in the same shuffled order). A missed pair is judged by its later record in load order,
against the child that holds the earlier one:

- not a candidate: blocking did not find the earlier record;
- linked elsewhere: the later record linked to another child (a wrong link);
- split earlier: the later record linked to another child of the same person, made when an
  earlier record of that person was itself missed (the pair is lost upstream);
- twin rule, other rule: the earlier child was a candidate but broke a rule;
- rival: the earlier child was over the link threshold but another child was too;
- review by score: between the review and the link thresholds;
- below review: under the review threshold (a new child);
- earlier row in review: the earlier record went to review (for the reason given), and a row
  in review makes no child for later rows to find.

Needs the bench-only packages (pip install -r bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.matching import Febrl, febrl_model, load_febrl  # noqa: E402
from bench.train_linkage import blocker_for  # noqa: E402
from matching.linkage import TWIN, LinkageModel, resolve, score  # noqa: E402
from matching.model import default_model  # noqa: E402
from matching.search import Candidate  # noqa: E402


def _person_of(rec_id: str) -> int:
    return int(rec_id.split("-")[1])


def classify(data: Febrl, model: LinkageModel) -> tuple[Counter[str], list[tuple[str, str, str, str]]]:
    """Counts of missed pairs by class, and the missed pairs themselves (class, earlier, later, why)."""
    order = list(range(len(data.people)))
    random.Random(11).shuffle(order)
    blocker = blocker_for(())
    child_of: dict[int, int] = {}  # record -> child
    reviewed: dict[int, str] = {}  # record in review -> why
    children = 0
    classes: Counter[str] = Counter()
    examples: list[tuple[str, str, str, str]] = []
    for i in order:
        person = data.people[i]
        records = blocker.records(person)
        found = blocker.candidates(person, records)
        resolution = resolve(person, found, model)
        linked = resolution.best.child_id if resolution.outcome == "link" and resolution.best else None
        child = linked if linked is not None else children
        if linked is None:
            children += 1
        if resolution.outcome == "review":
            reviewed[i] = _review_reason(resolution, model)
        for j in child_of:
            if frozenset((data.ids[i], data.ids[j])) not in data.true_pairs or child_of[j] == child:
                continue
            if j in reviewed:
                kind, why = f"earlier row in review ({reviewed[j]})", ""
            else:
                kind, why = _why(i, j, found, resolution, linked, child_of, data, model)
            classes[kind] += 1
            examples.append((kind, data.ids[j], data.ids[i], why))
        child_of[i] = child
        if resolution.outcome != "review":  # as bench/matching.py: a row in review makes no child
            blocker.add(person, child)
    return classes, examples


def _review_reason(resolution, model: LinkageModel) -> str:  # noqa: ANN001
    best = resolution.best
    if TWIN in best.conflicts:
        return "twin rule"
    if best.conflicts:
        return "other rule"
    return "rival" if best.weight >= model.link_weight else "score"


def _why(
    i: int,
    j: int,
    found: list[Candidate],
    resolution,
    linked: int | None,  # noqa: ANN001
    child_of: dict[int, int],
    data: Febrl,
    model: LinkageModel,
) -> tuple[str, str]:
    """The class of the missed pair (earlier record j, later record i) and a line about it."""
    target = child_of[j]
    if linked is not None:
        same_person = any(
            child_of[r] == linked and _person_of(data.ids[r]) == _person_of(data.ids[i]) for r in child_of
        )
        return ("split earlier" if same_person else "linked elsewhere"), f"weight {resolution.best.weight}"
    mine = [c for c in found if c.child_id == target]
    if not mine:
        return "not a candidate", ""
    best = max((score(data.people[i], c, model) for c in mine), key=lambda s: s.weight)
    levels = ", ".join(f"{c.field}={c.level}" for c in best.contributions)
    why = f"weight {best.weight} ({resolution.outcome}); {levels}"
    if TWIN in best.conflicts:
        return "twin rule", why
    if best.conflicts:
        return "other rule", why
    if best.weight >= model.link_weight:
        return "rival", why
    if best.weight >= model.review_weight:
        return "review by score", why
    return "below review", why


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--show", type=int, default=0, help="print this many missed pairs of each class")
    args = parser.parse_args()
    for number in args.sets:
        data = load_febrl(number)
        model = febrl_model(data, default_model())
        classes, examples = classify(data, model)
        total = sum(classes.values())
        print(
            f"FEBRL{number}: {len(data.true_pairs)} true pairs, {total} missed: "
            + ", ".join(f"{kind} {count}" for kind, count in classes.most_common())
        )
        if args.show:
            shown: Counter[str] = Counter()
            for kind, earlier, later, why in examples:
                if shown[kind] < args.show:
                    shown[kind] += 1
                    print(f"  {kind}: {earlier} <- {later}: {why}")


if __name__ == "__main__":
    main()
