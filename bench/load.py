"""Load benchmark: an extract of R rows loaded into an index already holding N children.

    python bench/load.py [--children N] [--rows R] [--database-url URL] [--keep] [--workers W] [--dry-run]

The index is built as bench/search.py builds it (the same synthetic households, the schema
from the migrations) or reused with --keep. The extract mixes what a real source sends: 40% of
rows are children already in the index supplied with their NHS number, 20% are children
already in the index with nicknames, typos, swapped dates or a move and no NHS number, 39%
are new children, and 1% are bad rows. The load runs as the real command,
`flask sources load`, in its own process (with its reader and matching workers, LOAD_WORKERS),
whose wall time, CPU time and peak memory (all its processes together) are reported. With
--dry-run the command is `flask sources load --dry-run`, which changes nothing in the index but
holds in memory what the load would have made and changed.

The load goes into a copy of the index (a file copy on SQLite, a database made from the
index as a template on PostgreSQL), so every run starts from the same index: a rerun with
--keep creates the extract's new children again instead of linking them to the last run's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH))

import search as search_bench  # noqa: E402 - bench/search.py builds the index
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from index_service import create_app  # noqa: E402
from index_service.children.lookup import load_children  # noqa: E402
from index_service.children.models import Child, IdentifierKind, SourceIdentifier  # noqa: E402
from index_service.extensions import db  # noqa: E402
from index_service.synthetic import ChildFactory  # noqa: E402
from matching.variants import given_forms  # noqa: E402

COLUMNS = (
    "source_record_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "gender",
    "middle_names",
    "nhs_number",
    "upn",
    "address_line1",
    "town",
    "postcode",
    "parent_carer_name",
    "parent_carer_phone",
    "practitioner_name",
)
SEED = 7_000
KNOWN_CHUNK = 10_000  # children read at a time for the extract's known rows
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]  # the app's command line, in this Python


def _noisy(row: dict[str, str], rng: random.Random) -> dict[str, str]:
    """A known child as another agency might type it: one realistic difference, no NHS number."""
    row = {**row, "nhs_number": "", "upn": ""}
    change = rng.choice(("nickname", "typo", "swap", "move"))
    if change == "nickname":
        forms = sorted(given_forms(row["given_name"].lower()) - {row["given_name"].lower()})
        if forms:
            row["given_name"] = forms[0].capitalize()
    elif change == "typo" and len(row["family_name"]) > 4:
        at = rng.randrange(1, len(row["family_name"]) - 1)
        row["family_name"] = row["family_name"][:at] + row["family_name"][at + 1 :]
    elif change == "swap":
        born = date.fromisoformat(row["date_of_birth"])
        if born.day <= 12 and born.day != born.month:
            row["date_of_birth"] = born.replace(day=born.month, month=born.day).isoformat()
    else:
        row["address_line1"], row["postcode"] = f"{rng.randint(1, 200)} New Street", "LS1 4AP"
    return row


def _known_rows(app: Any, count: int, rng: random.Random) -> list[dict[str, str]]:
    with app.app_context():
        top = db.session.scalar(select(func.max(Child.id))) or 0
        # In id order: PostgreSQL returns them in any order, which made each run's extract another.
        # In chunks: SQLite limits the parameters of a statement, and a million-row extract asks for 600,000.
        sample = sorted(rng.sample(range(1, top + 1), min(count, top)))
        rows = []
        for start in range(0, len(sample), KNOWN_CHUNK):
            rows += _rows_of(sample[start : start + KNOWN_CHUNK])
            db.session.expunge_all()
        db.session.remove()
    return rows


def _rows_of(ids: list[int]) -> list[dict[str, str]]:
    children = sorted(load_children(ids, Child.carers), key=lambda child: child.id)
    nhs = dict(
        db.session.execute(
            select(SourceIdentifier.child_id, SourceIdentifier.value).where(
                SourceIdentifier.kind == IdentifierKind.NHS_NUMBER, SourceIdentifier.child_id.in_(ids)
            )
        ).all()
    )
    rows = []
    for child in children:
        address = child.current_address
        carer = child.carers[0] if child.carers else None
        rows.append(
            {
                "given_name": child.given_name,
                "family_name": child.family_name,
                "date_of_birth": child.date_of_birth.isoformat(),
                "gender": child.gender.value,
                "middle_names": child.middle_names or "",
                "nhs_number": nhs.get(child.id, ""),
                "upn": "",
                "address_line1": (address.line1 or "").replace("\n", ", ") if address else "",
                "town": address.town if address else "",
                "postcode": address.postcode if address else "",
                "parent_carer_name": carer.name if carer else "",
                "parent_carer_phone": carer.phone or "" if carer else "",
                "practitioner_name": "A Practitioner",
            }
        )
    return rows


def _new_rows(count: int) -> list[dict[str, str]]:
    rows = []
    for spec in ChildFactory(seed=SEED).children(count):
        address = spec.address
        carer = spec.carers[0] if spec.carers else ("", None, None)
        rows.append(
            {
                "given_name": spec.given_name,
                "family_name": spec.family_name,
                "date_of_birth": spec.date_of_birth.isoformat(),
                "gender": spec.gender.value,
                "middle_names": spec.middle_names or "",
                "nhs_number": spec.nhs_number or "",
                "upn": spec.upn or "",
                "address_line1": address.line1 if address else "",
                "town": address.town if address else "",
                "postcode": address.postcode if address else "",
                "parent_carer_name": carer[0],
                "parent_carer_phone": carer[2] or "",
                "practitioner_name": "A Practitioner",
            }
        )
    return rows


def write_extract(app: Any, total: int, path: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    exact, noisy, bad = int(total * 0.40), int(total * 0.20), int(total * 0.01)
    known = _known_rows(app, exact + noisy, rng)
    rows = known[:exact] + [_noisy(row, rng) for row in known[exact:]]
    rows += _new_rows(total - len(rows) - bad)
    rows += [{"given_name": "Bad", "family_name": "Row", "date_of_birth": "31/02/2015", "gender": "z"}] * bad
    rng.shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="")
        writer.writeheader()
        for number, row in enumerate(rows, start=1):
            writer.writerow({**row, "source_record_id": f"B{number:07d}"})
    return {
        "rows": len(rows),
        "known_with_nhs_number": exact,
        "known_with_differences": len(known) - exact,
        "new": total - len(known) - bad,
        "bad": bad,
    }


def load_copy(url: str, backend: str) -> str:
    """A fresh copy of the index at url, for the load to change; its URL."""
    if backend == "sqlite":
        source = Path(url.removeprefix("sqlite:///"))
        with sa.create_engine(url).connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        target = source.with_name(source.name.replace("search-", "load-"))
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    base, name = url.rsplit("/", 1)
    copy = f"{name}_load"
    engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{copy}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    engine.dispose()
    return f"{base}/{copy}"


def _status_mb(pid: int, field: str) -> float:
    """A memory figure of the process's status (VmHWM, VmRSS) in MB, or 0 once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = next((line for line in status.splitlines() if line.startswith(f"{field}:")), None)
    return int(found.split()[1]) / 1024 if found else 0.0


def _own_cpu(pid: int) -> float | None:
    """The CPU seconds the process itself has used so far (not its children's), or None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (the load's reader and matching workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, waiting = [], [pid]
    while waiting:
        children = parents.get(waiting.pop(), [])
        found += children
        waiting += children
    return found


def flask_env(url: str) -> dict[str, str]:
    """The environment the bench runs the app's commands in: development settings, on this database."""
    return {**os.environ, "CHILD_INDEX_ENV": "development", "DATABASE_URL": url}


def _timed_load(
    url: str,
    name: str,
    extract: Path,
    workers: int | None,
    dry_run: bool,
) -> tuple[subprocess.CompletedProcess[str], float, float, float, float]:
    """The load command; its own peak memory and the peak of all its processes together, in
    MB; the CPU seconds they used, and those of the load's own process (which every row waits
    for: on an idle machine the wall time cannot be shorter).

    Memory is read from /proc while it runs: the rusage of a child counts the image it was
    forked from (this process, which holds the index it built) before it became the load
    command. All processes together is the largest sum of their resident memory at one moment
    (sampled every 0.1 s). CPU time is the rusage of the waited-for child, which includes the
    processes it started and waited for, and on a machine shared with other work says more
    than the wall time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = flask_env(url)
    if workers is not None:
        env["LOAD_WORKERS"] = str(workers)
    command = [
        *FLASK,
        "sources",
        "load",
        name,
        str(extract),
        "--report",
        str(OUT / "load-report.csv"),
        *(["--dry-run"] if dry_run else []),
    ]
    peak = peak_all = own_cpu = 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)  # noqa: S603
        while process.poll() is None:
            peak = max(peak, _status_mb(process.pid, "VmHWM"))
            together = sum(_status_mb(pid, "VmRSS") for pid in [process.pid, *_descendants(process.pid)])
            peak_all = max(peak_all, together)
            own_cpu = _own_cpu(process.pid) or own_cpu
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done, peak, max(peak, peak_all), cpu, own_cpu


def _flask(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command line
        [*FLASK, *args],
        cwd=ROOT,
        env=flask_env(url),
        capture_output=True,
        text=True,
        check=False,
    )


def add_source(url: str, name: str) -> None:
    """A social care data source of one of the index's organisations, for the extract to be loaded as."""
    added = _flask(
        url,
        "sources",
        "add",
        name,
        "--org",
        "Leeds City Council Children's Social Work Service",
        "--involvement",
        "social_care",
        "--kind",
        "social_care",
    )
    if added.returncode:
        raise SystemExit(added.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=1_000_000, help="children in the index (default 1000000)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the extract (default 100000)")
    parser.add_argument("--database-url", help="a PostgreSQL URL; its schema public is dropped and rebuilt")
    parser.add_argument("--keep", action="store_true", help="reuse the index when it already has N children")
    parser.add_argument("--workers", type=int, help="LOAD_WORKERS for the load (default: the app's, the CPU count)")
    parser.add_argument("--dry-run", action="store_true", help="run the load as a dry run (it changes nothing)")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
        backend = "postgresql"
    else:
        backend = "sqlite"
        url = f"sqlite:///{OUT / f'search-sqlite-{args.children}.sqlite3'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    existing = search_bench.existing_children(app)
    if args.keep and existing is not None and existing >= args.children:
        print(f"reusing {url} with {existing:,} children (--keep)", flush=True)
        upgraded = _flask(url, "db", "upgrade")
        if upgraded.returncode:
            raise SystemExit(upgraded.stderr)
    else:
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{url.removeprefix('sqlite:///')}{suffix}").unlink(missing_ok=True)
        else:
            search_bench.reset_postgresql(url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        search_bench.build(app, url, args.children, extras=True)

    extract = OUT / f"load-extract-{args.rows}.csv"
    mix = write_extract(app, args.rows, extract)
    print(f"extract: {mix}", flush=True)
    with app.app_context():
        db.engine.dispose()
    url = load_copy(url, backend)
    name = f"Bench source {datetime.now(UTC):%Y%m%d%H%M%S}"
    add_source(url, name)

    started = time.perf_counter()
    loaded, peak_mb, peak_all_mb, cpu_seconds, own_cpu = _timed_load(url, name, extract, args.workers, args.dry_run)
    elapsed = time.perf_counter() - started
    if loaded.returncode:
        raise SystemExit(loaded.stdout + loaded.stderr)
    print(loaded.stdout)
    with sa.create_engine(url).connect() as connection:
        version = connection.scalar(
            sa.text("SELECT sqlite_version()" if backend == "sqlite" else "SHOW server_version")
        )
    workers = "default" if args.workers is None else args.workers
    dry = "-dry-run" if args.dry_run else ""
    title = (
        f"{'a dry run of ' if dry else ''}{args.rows:,} rows into {args.children:,} children on {backend} "
        f"{version}, {os.cpu_count()} CPUs, "
        f"LOAD_WORKERS {workers}: {elapsed:,.1f} s, {args.rows / elapsed:,.0f} rows/s, peak memory "
        f"{peak_all_mb:,.0f} MB for all its processes together ({peak_mb:,.0f} MB the load's own process; "
        f"the whole command, start-up and report included); they used {cpu_seconds:,.1f} CPU s, "
        f"{args.rows / cpu_seconds:,.0f} rows per CPU second, the load's own process {own_cpu:,.1f} CPU s "
        f"({args.rows / own_cpu:,.0f} rows per second at most on an idle machine)"
    )
    print(title)
    result = {
        "children": args.children,
        "backend": backend,
        "backend_version": version,
        "extract": mix,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(args.rows / elapsed),
        "workers": workers,
        "dry_run": args.dry_run,
        "peak_memory_mb": round(peak_all_mb),
        "load_process_peak_memory_mb": round(peak_mb),
        "cpu_seconds": round(cpu_seconds, 1),
        "load_process_cpu_seconds": round(own_cpu, 1),
        "rows_per_cpu_second": round(args.rows / cpu_seconds),
        "summary": loaded.stdout.splitlines(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = OUT / f"load-{backend}-{args.children}-{args.rows}-workers-{workers}{dry}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
