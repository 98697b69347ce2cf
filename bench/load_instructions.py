"""Instructions a load executes, process by process, counted by valgrind's cachegrind.

    python bench/load_instructions.py [--children N] [--rows R] [--label TEXT]

The machines this is measured on differ in speed by up to 60% from one session to the next
and by 10-15% within one, so two versions of the load's code compare fairly by time only in
runs made one straight after the other. The instructions executed do not depend on the
machine's speed: run this on each version and compare the figures.

Needs the SQLite index and the extract that `python bench/load.py --children N --keep` leaves
in bench/out, and valgrind (`apt-get install valgrind`). The first R rows of the extract (5,000
by default: five batches, so the load starts its reader and matching worker as a long load
does) are loaded with `flask sources load` into a fresh copy of the index, every process under
cachegrind (2.5 minutes for 5,000 rows on the 2-core machine). The counts include each
process's start-up (importing the app: about 7,600 million instructions in the load's own
process), which changes only when imports do. SQLite's work is counted in the process that
asks for it. With PYTHONHASHSEED fixed, two runs of the same code differ by well under 1%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from load import FLASK, OUT, ROOT, add_source, flask_env

SOURCE = "Bench instructions"


def _counts(folder: Path) -> dict[str, int]:
    """Instructions by process: the load's own, its matching worker(s) (which ask SQLite), its
    extract reader (which does not), and the rest (multiprocessing's resource tracker)."""
    found: dict[str, int] = {}
    for path in sorted(folder.glob("cachegrind.*")):
        text = path.read_text(errors="replace")
        lines = text.splitlines()
        command = next(line for line in lines if line.startswith("cmd:"))
        total = int(next(line for line in reversed(lines) if line.startswith("summary:")).split()[1])
        if "sources load" in command:
            kind = "load's own process"
        elif "fn=sqlite3VdbeExec" in text:
            kind = "matching worker"
        elif total > 1_000_000_000:
            kind = "extract reader"
        else:
            kind = "other"
        found[kind] = found.get(kind, 0) + total
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=1_000_000, help="children in the index (default 1000000)")
    parser.add_argument("--rows", type=int, default=5_000, help="rows of the extract to load (default 5000)")
    parser.add_argument(
        "--extract",
        type=Path,
        default=OUT / "load-extract-100000.csv",
        help="the extract whose first rows are loaded (default bench/out/load-extract-100000.csv)",
    )
    parser.add_argument("--label", default="", help="what is measured, kept with the figures (a commit, say)")
    args = parser.parse_args()

    index = OUT / f"search-sqlite-{args.children}.sqlite3"
    for needed in (index, args.extract):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: run python bench/load.py --children {args.children} --keep first")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")

    with tempfile.TemporaryDirectory(dir=OUT) as scratch:
        folder = Path(scratch)
        extract = folder / "extract.csv"
        with args.extract.open(encoding="utf-8") as source, extract.open("w", encoding="utf-8") as target:
            target.writelines(islice(source, args.rows + 1))  # the header and the first rows
        database = folder / "index.sqlite3"
        shutil.copyfile(index, database)
        url = f"sqlite:///{database}"
        add_source(url, SOURCE)
        env = {**flask_env(url), "PYTHONHASHSEED": "0"}
        started = time.perf_counter()
        loaded = subprocess.run(  # noqa: S603 - our own command line
            [  # noqa: S607
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                "--trace-children=yes",
                f"--cachegrind-out-file={folder}/cachegrind.%p",
                *FLASK,
                "sources",
                "load",
                SOURCE,
                str(extract),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if loaded.returncode:
            raise SystemExit(loaded.stdout + loaded.stderr[-4000:])
        counts = _counts(folder)

    total = sum(counts.values())
    print(
        f"{args.rows:,} rows into {args.children:,} children on SQLite, under cachegrind ({elapsed:,.0f} s)"
        + (f": {args.label}" if args.label else "")
    )
    for kind, count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"  {kind:<20} {count / 1e6:>12,.0f} million instructions")
    print(f"  {'all processes':<20} {total / 1e6:>12,.0f} million instructions")
    result = {
        "children": args.children,
        "rows": args.rows,
        "label": args.label,
        "instructions": counts,
        "total": total,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = OUT / f"load-instructions-{args.children}-{args.rows}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
