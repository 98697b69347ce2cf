"""Duplicate sweep benchmark: `flask children find-duplicates` over an index of N children with
planted duplicates and twins.

    python bench/duplicates.py [--children N] [--database-url URL] [--keep] [--planted P]

The index is built as bench/search.py builds it (synthetic households, 4% of them with twins;
the schema from the migrations), or reused with --keep. Then P children are held twice and P
have a twin planted beside them, all with their blocking keys as a load stores them:

- a planted duplicate is a second record of a child as another agency holds it: the same names,
  date of birth, gender, address and carers, the child's UPN (taken from the first record, or a
  new one) and no NHS number: the health record has the NHS number, the school's the UPN, as
  issue 26's extracts have them;
- a planted twin is a sibling born the same day at the same address: another given name (and
  gender), her own NHS number.

The sweep runs as the real command in its own process; its wall time, CPU time and peak memory
are reported, with pairs compared, items made, planted duplicates found and twin pairs proposed
(planted twins, and any two records with one family name, date of birth and postcode but other
given names). Items of an earlier run are deleted first, so every run sweeps afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH))

import search as search_bench  # noqa: E402 - bench/search.py builds the index
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import delete, func, insert, select  # noqa: E402

from index_service import create_app  # noqa: E402
from index_service.children.held import read_held  # noqa: E402
from index_service.children.models import (  # noqa: E402
    Address,
    BlockingKey,
    CarerContact,
    Child,
    IdentifierKind,
    SourceIdentifier,
)
from index_service.duplicates.models import DuplicateItem  # noqa: E402
from index_service.extensions import db  # noqa: E402
from index_service.index_ids import new_index_id  # noqa: E402
from matching.blocking import record_keys  # noqa: E402

SEED = 26_004
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
OTHER_NAMES = {"male": ("Amelia", "female"), "female": ("Harry", "male")}
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def _upn(serial: int) -> str:
    """A well-formed UPN (its check letter right), unique for the serial."""
    body = f"{820 + serial % 100:03d}{serial // 100 % 10**9:09d}"[:12]
    weights = sum(int(d) * w for d, w in zip(body, range(2, 14), strict=True))
    return UPN_LETTERS[weights % 23] + body


def _nhs(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(400_000_000, 999_999_999))
        check = -sum(weight * int(digit) for weight, digit in zip(range(10, 1, -1), body, strict=True)) % 11
        if check < 10:
            return body + str(check)


def plant(app: Any, count: int) -> dict[str, list[list[int]]]:
    """Plant `count` duplicates and `count` twins; the pairs (original id, planted id)."""
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    with app.app_context():
        top = db.session.scalar(select(func.max(Child.id))) or 0
        chosen = rng.sample(range(1, top + 1), 2 * count)
        planted: dict[str, list[list[int]]] = {"duplicates": [], "twins": []}
        next_id = top + 1
        for start in range(0, len(chosen), 5000):
            ids = chosen[start : start + 5000]
            held = read_held(ids)
            moved: list[int] = []
            rows: dict[str, list[dict[str, Any]]] = {
                "children": [],
                "addresses": [],
                "carers": [],
                "ids": [],
                "keys": [],
            }
            for original_id in ids:
                record = held[original_id]
                twin = len(planted["twins"]) < len(planted["duplicates"])
                given, gender = record.given_name, record.gender.value
                if twin:
                    given, gender = OTHER_NAMES.get(gender, ("Amelia", "female"))
                    if given == record.given_name:
                        given = "Harriet"
                rows["children"].append(
                    {
                        "id": next_id,
                        "index_id": new_index_id(),
                        "given_name": given,
                        "middle_names": record.middle_names,
                        "family_name": record.family_name,
                        "date_of_birth": record.date_of_birth,
                        "gender": gender,
                        "status": "active",
                        "is_shielded": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                current = record.current_address
                if current is not None:
                    rows["addresses"].append(
                        {
                            "child_id": next_id,
                            "line1": current.line1,
                            "line2": current.line2,
                            "town": current.town,
                            "postcode": current.postcode,
                            "postcode_key": current.postcode_key,
                            "is_current": True,
                            "source_id": None,
                            "supplied_at": now,
                        }
                    )
                for carer in record.carers:
                    rows["carers"].append(
                        {
                            "child_id": next_id,
                            "name": carer.name,
                            "relationship_to_child": carer.relationship_to_child,
                            "phone": carer.phone,
                            "source_id": None,
                            "supplied_at": now,
                        }
                    )
                upns = [i for i in record.identifiers if i.kind is IdentifierKind.UPN]
                if twin:
                    kind, value = IdentifierKind.NHS_NUMBER, _nhs(rng)
                elif upns:
                    # The school's record has the child's UPN; the health record keeps the NHS number only.
                    kind, value = IdentifierKind.UPN, upns[0].value
                    moved += [i.id for i in upns]
                else:
                    kind, value = IdentifierKind.UPN, _upn(next_id)
                rows["ids"].append(
                    {"child_id": next_id, "kind": kind.value, "value": value, "source_id": None, "supplied_at": now}
                )
                record.id, record.given_name, record.other_names = next_id, given, []
                record.addresses = [current] if current is not None else []
                record.identifiers = []
                rows["keys"] += [{"key": key, "child_id": next_id} for key in record_keys(record.person())]
                planted["twins" if twin else "duplicates"].append([original_id, next_id])
                next_id += 1
            db.session.execute(delete(SourceIdentifier).where(SourceIdentifier.id.in_(moved)))
            for table, name in (
                (Child.__table__, "children"),
                (Address.__table__, "addresses"),
                (CarerContact.__table__, "carers"),
                (SourceIdentifier.__table__, "ids"),
                (BlockingKey.__table__, "keys"),
            ):
                if rows[name]:
                    db.session.execute(insert(table), rows[name])
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('children', 'id'), :top)"), {"top": next_id}
            )
            db.session.commit()
        db.session.remove()
    return planted


def _status_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(found.split()[1]) / 1024 if found else 0.0


def timed_sweep(url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], float, float, float]:
    """The sweep command: its output, wall seconds, CPU seconds and peak memory (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "CHILD_INDEX_ENV": "development", "DATABASE_URL": url}
    command = [*FLASK, "children", "find-duplicates", *extra]
    started = time.perf_counter()
    peak = 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)  # noqa: S603
        while process.poll() is None:
            peak = max(peak, _status_mb(process.pid))
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done, elapsed, cpu, peak


def judged(app: Any, planted: dict[str, list[list[int]]]) -> dict[str, int]:
    """The items against what was planted."""
    with app.app_context():
        items = {
            (min(a, b), max(a, b))
            for a, b in db.session.execute(select(DuplicateItem.first_child_id, DuplicateItem.second_child_id))
        }
        duplicates = {(min(a, b), max(a, b)) for a, b in planted["duplicates"]}
        twins = {(min(a, b), max(a, b)) for a, b in planted["twins"]}
        ids = sorted({i for pair in items for i in pair})
        who: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(ids), 20_000):
            for i, x in read_held(ids[start : start + 20_000]).items():
                postcode = x.current_address.postcode_key if x.current_address else None
                who[i] = (x.family_name, x.date_of_birth, postcode, x.given_name)
        twin_like = sum(
            1 for a, b in items if who[a][:3] == who[b][:3] and who[a][2] is not None and who[a][3] != who[b][3]
        )
        db.session.remove()
    return {
        "items": len(items),
        "planted_duplicates": len(duplicates),
        "planted_duplicates_found": len(items & duplicates),
        "planted_twins": len(twins),
        "planted_twins_proposed": len(items & twins),
        "twin_like_pairs_proposed": twin_like,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100_000, help="children in the index (default 100000)")
    parser.add_argument("--planted", type=int, help="duplicates planted, and as many twins (default: 1%% of N)")
    parser.add_argument("--database-url", help="a PostgreSQL URL; its schema public is dropped and rebuilt")
    parser.add_argument("--keep", action="store_true", help="reuse the index (and its planted pairs) if built")
    args = parser.parse_args()
    planted_count = args.planted or max(1, args.children // 100)

    OUT.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
        backend = "postgresql"
    else:
        backend = "sqlite"
        url = f"sqlite:///{OUT / f'duplicates-sqlite-{args.children}.sqlite3'}"
    plan = OUT / f"duplicates-{backend}-{args.children}-planted.json"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    existing = search_bench.existing_children(app)
    if args.keep and existing is not None and existing >= args.children and plan.exists():
        print(f"reusing {url} with {existing:,} children (--keep)", flush=True)
        planted = json.loads(plan.read_text())
        upgraded = subprocess.run(  # noqa: S603
            [*FLASK, "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, "CHILD_INDEX_ENV": "development", "DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
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
        started = time.perf_counter()
        planted = plant(app, planted_count)
        plan.write_text(json.dumps(planted))
        print(
            f"planted {planted_count:,} duplicates and {planted_count:,} twins in {time.perf_counter() - started:.1f} s"
        )
    with app.app_context():
        db.session.execute(delete(DuplicateItem))
        db.session.commit()
        children = db.session.scalar(select(func.count()).select_from(Child))
        keys = db.session.scalar(select(func.count()).select_from(BlockingKey))
        db.session.remove()
        db.engine.dispose()

    done, elapsed, cpu, peak = timed_sweep(url)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    print(done.stdout.strip())
    found = judged(app, planted)
    title = (
        f"duplicate sweep over {children:,} children ({keys:,} blocking keys) on {backend}, {os.cpu_count()} CPUs: "
        f"{elapsed:,.1f} s wall, {cpu:,.1f} CPU s, peak memory {peak:,.0f} MB; {found['items']:,} items, "
        f"{found['planted_duplicates_found']:,} of {found['planted_duplicates']:,} planted duplicates found, "
        f"{found['planted_twins_proposed']:,} of {found['planted_twins']:,} planted twins proposed, "
        f"{found['twin_like_pairs_proposed']:,} twin-like pairs proposed in all"
    )
    print(title)
    result = {
        "children": children,
        "blocking_keys": keys,
        "backend": backend,
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_memory_mb": round(peak),
        **found,
        "summary": done.stdout.strip(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = OUT / f"duplicates-{backend}-{args.children}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
