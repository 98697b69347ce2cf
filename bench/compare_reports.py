"""Two load reports of the same extract, compared row by row: same outcome, child, score and reasons.

    python bench/compare_reports.py FIRST.csv SECOND.csv

A change to how loads run must not change what they decide. Each run of a load gives the
children it makes new random index ids, so the id of a child made by the load is paired with
the other report's id in the row that made it, and must be paired the same way, one to one,
wherever it comes again (a later row linked to a child made earlier in the load, or a review
naming it). Every other id must be the same.

SECOND may be a dry run's report of the same extract (FIRST a load's): a dry run makes no
child, so where the load names a child it made, the dry run's report has no id, and its reasons
name the child by the row that would make it ("(new from row N)").
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

NEW_CHILD = "(new from row {row})"  # how a dry run names a child it would make
INDEX_ID = re.compile(r"\b[0-9A-Z]{9}\b")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _made(rows: list[dict[str, str]]) -> dict[str, str]:
    """The id of each child the load made -> the row that made it."""
    return {row["index_id"]: row["row_number"] for row in rows if row["outcome"] == "created"}


def differences(first: list[dict[str, str]], second: list[dict[str, str]]) -> list[str]:
    """Every way the two reports differ, in words; none when they agree."""
    if len(first) != len(second):
        return [f"{len(first)} rows against {len(second)}"]
    found: list[str] = []
    made_first, made_second = _made(first), _made(second)
    dry_run = made_second.pop("", None) is not None
    paired: dict[str, str] = {}
    back: dict[str, str] = {}
    for left, right in zip(first, second, strict=True):
        # A review's reasons may name a child made earlier in the load, by its id.
        left = {**left, "reasons": INDEX_ID.sub(lambda found: paired.get(found[0], found[0]), left["reasons"])}
        for column in ("row_number", "source_record_id", "outcome", "score", "reasons"):
            if left[column] != right[column]:
                found.append(f"row {left['row_number']}: {column} {left[column]!r} against {right[column]!r}")
        mine, theirs = left["index_id"], right["index_id"]
        if dry_run and mine in made_first:
            paired[mine] = NEW_CHILD.format(row=made_first[mine])
            if theirs:
                found.append(f"row {left['row_number']}: child {mine} made in the load against {theirs}")
        elif mine in made_first or theirs in made_second:
            both = mine in made_first and theirs in made_second
            if not both or paired.setdefault(mine, theirs) != theirs or back.setdefault(theirs, mine) != mine:
                found.append(f"row {left['row_number']}: child {mine} against {theirs} (made in the load)")
        elif mine != theirs:
            found.append(f"row {left['row_number']}: child {mine} against {theirs}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    first, second = _rows(args.first), _rows(args.second)
    found = differences(first, second)
    for line in found[:50]:
        print(line)
    new = len(_made(first))
    print(
        f"{len(first):,} rows compared, {new:,} new records' ids paired: "
        f"{'the same outcome for every row' if not found else f'{len(found):,} differences'}"
    )
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
