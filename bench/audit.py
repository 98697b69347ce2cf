"""Audit benchmark: events written per second, what the audit write adds to a search, and verify speed.

    python bench/audit.py [--database-url URL] [--children N] [--searches K] [--writes W] [--events E]

1. Writes: W events written one transaction each (record_event, then commit), one writer, as
   the requests write them; and then by 4 threads at once (the chain lock's contention). Then
   W/5 commits each of a read-only transaction, one with a one-row insert, and one with an audit
   event, in turn: how much of the event's cost is what any write costs.
2. Searches: K searches of six kinds (bench/search.py's) on an index of N synthetic children,
   each timed as the search and its commit, with and without the audit event, alternately.
3. Verify: E events generated directly (hashes computed in Python; COPY on PostgreSQL, executemany on
   SQLite), then the chain walked by `audit verify`'s own function, with its workers, its rate printed.

The database is made by the migrations (a PostgreSQL URL's schema public is dropped and built
again). Results are printed and written to bench/out/audit-<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
os.environ["CHILD_INDEX_ENV"] = "testing"
os.environ.setdefault("AUDIT_CHECKPOINT_KEY", secrets.token_urlsafe(32))

from flask import Flask  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402

from bench.search import (  # noqa: E402
    build,
    choose_searches,
    existing_children,
    machine,
    percentile,
    reset_postgresql,
    time_http,
)
from index_service import create_app  # noqa: E402
from index_service.audit import canonical  # noqa: E402
from index_service.audit.chain import CHECKPOINT_EVERY, COLUMNS, HEAD_ID  # noqa: E402
from index_service.audit.events import record_event  # noqa: E402
from index_service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditTag, CheckpointKind  # noqa: E402
from index_service.audit.verify import verify  # noqa: E402
from index_service.children import operations  # noqa: E402
from index_service.children.criteria import audit_criteria, query_from  # noqa: E402
from index_service.children.lookup import search_children  # noqa: E402
from index_service.database import read_snapshot  # noqa: E402
from index_service.extensions import db  # noqa: E402
from shielding.redaction import Viewer  # noqa: E402

GENERATE_BATCH = 20_000
WRITER_THREADS = 4


def time_writes(app: Flask, count: int) -> dict[str, float]:
    """Events per second, each in its own transaction: one writer, then several at once."""
    with app.app_context():
        started = time.perf_counter()
        for number in range(count):
            record_event(AuditTag.RECORD_VIEW, target_ids=[f"W{number}"], reason="case_work", details={"n": number})
            db.session.commit()
        alone = count / (time.perf_counter() - started)
        db.session.remove()

    def writer(share: int) -> None:
        with app.app_context():
            for number in range(share):
                record_event(AuditTag.RECORD_VIEW, target_ids=[f"T{number}"], details={"n": number})
                db.session.commit()
            db.session.remove()

    share = count // WRITER_THREADS
    threads = [threading.Thread(target=writer, args=(share,)) for _ in range(WRITER_THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = share * WRITER_THREADS / (time.perf_counter() - started)
    return {"events": count, "alone_per_second": alone, "threads": WRITER_THREADS, "together_per_second": together}


COMMIT_KINDS = ("read only", "one-row insert", "audit event")


def time_commits(app: Flask, rounds: int) -> dict[str, dict[str, float]]:
    """What a commit costs as a read-only transaction, with a one-row insert, and with an audit event
    (each after a SELECT 1, in turn, `rounds` times): how much of the event's cost is any write's."""
    timings: dict[str, list[float]] = {kind: [] for kind in COMMIT_KINDS}
    with app.app_context():
        db.session.execute(text("CREATE TABLE bench_commit_probe (id INTEGER PRIMARY KEY, note TEXT)"))
        db.session.commit()
        try:
            for number in range(rounds):
                for kind in COMMIT_KINDS:
                    started = time.perf_counter()
                    db.session.execute(text("SELECT 1"))
                    if kind == "one-row insert":
                        db.session.execute(
                            text("INSERT INTO bench_commit_probe (id, note) VALUES (:id, 'x')"), {"id": number}
                        )
                    elif kind == "audit event":
                        record_event(AuditTag.RECORD_VIEW, target_ids=[f"C{number}"], reason="case_work")
                    db.session.commit()
                    timings[kind].append((time.perf_counter() - started) * 1000)
        finally:
            db.session.rollback()
            db.session.execute(text("DROP TABLE bench_commit_probe"))
            db.session.commit()
            db.session.remove()
    return {
        kind: {"mean_ms": sum(values) / len(values), "p50_ms": percentile(values, 0.5)}
        for kind, values in timings.items()
    }


def time_searches(app: Flask, per_kind: int) -> dict[str, Any]:
    """Each search timed with its commit, with and without its audit event, in alternating order."""
    searches = choose_searches(app, per_kind)
    viewer = Viewer(may_see_shielded=False)
    timings: dict[bool, list[float]] = {True: [], False: []}
    with app.app_context():
        for index, search in enumerate(searches):
            for audited in (True, False) if index % 2 else (False, True):
                started = time.perf_counter()
                outcome = search_children(query_from(search.criteria), viewer)
                if audited:
                    record_event(
                        AuditTag.RECORD_SEARCH,
                        target_ids=[r["index_id"] for r in outcome.results],
                        reason="case_work",
                        details={
                            "criteria": audit_criteria(search.criteria),
                            "too_many": outcome.too_many,
                            "candidates_read": outcome.candidates_read,
                        },
                    )
                db.session.commit()
                timings[audited].append((time.perf_counter() - started) * 1000)
                db.session.remove()
    summary: dict[str, Any] = {"searches": len(searches)}
    for audited, values in timings.items():
        name = "with_audit" if audited else "without_audit"
        summary[name] = {
            "mean_ms": sum(values) / len(values),
            "p50_ms": percentile(values, 0.5),
            "p95_ms": percentile(values, 0.95),
        }
    summary["added_share_of_mean"] = summary["with_audit"]["mean_ms"] / summary["without_audit"]["mean_ms"] - 1
    summary["added_share_of_p50"] = summary["with_audit"]["p50_ms"] / summary["without_audit"]["p50_ms"] - 1
    return summary


HTTP_ROUNDS = 6


def time_http_searches(app: Flask, url: str, per_kind: int) -> dict[str, Any]:
    """Whole HTTP searches (bench/search.py's server and client), without the audit event and with it.

    Without: the search's record_event is replaced by nothing, in this process (the server runs
    in a thread of it); the session's own writes stay, as they would. The searches are split
    into rounds, each run both ways, the order alternating, so that a machine growing busier or
    quieter during the run weighs on both sides alike.
    """
    searches = choose_searches(app, per_kind)
    recorded = operations.record_event
    without: list[float] = []
    with_audit: list[float] = []
    for round_number in range(HTTP_ROUNDS):
        share = searches[round_number::HTTP_ROUNDS]
        for audited in (False, True) if round_number % 2 == 0 else (True, False):
            if not audited:
                operations.record_event = lambda *args, **kwargs: None  # type: ignore[assignment]
            try:
                timings = [t["ms"] for t in time_http(app, url, share)]
            finally:
                operations.record_event = recorded
            (with_audit if audited else without).extend(timings)
    summary: dict[str, Any] = {"searches": len(searches)}
    for name, values in (("without_audit", without), ("with_audit", with_audit)):
        summary[name] = {
            "mean_ms": sum(values) / len(values),
            "p50_ms": percentile(values, 0.5),
            "p95_ms": percentile(values, 0.95),
        }
    summary["added_share_of_mean"] = summary["with_audit"]["mean_ms"] / summary["without_audit"]["mean_ms"] - 1
    summary["added_share_of_p50"] = summary["with_audit"]["p50_ms"] / summary["without_audit"]["p50_ms"] - 1
    return summary


def _generated(
    position: int, previous: str, total: int, key: bytes, checkpoints: list[dict[str, Any]], zone: str
) -> Iterator[tuple[Any, ...]]:
    """`total` chained events after `position`, as rows of chain.COLUMNS with their UTC times as text (and
    `zone` after them); the periodic checkpoints that fall due are added to `checkpoints`."""
    start = datetime.now(UTC) - timedelta(days=30)
    details = [
        canonical.json_text(
            {
                "criteria": {"family_name": "Bennett", "date_of_birth": "2016-03-27"},
                "too_many": False,
                "candidates_read": read,
            }
        )
        for read in range(7)
    ]
    for number in range(total):
        position += 1
        at = (start + timedelta(microseconds=number * 250)).strftime("%Y-%m-%d %H:%M:%S.%f")
        values = {
            "chain_position": position,
            "occurred_at": at.replace(" ", "T"),
            "tag": AuditTag.RECORD_SEARCH.value,
            "outcome": "success",
            "target_ids": f'["ID{number % 9973}","ID{number % 7919}"]',
            "reason": "case_work",
            "details": details[number % 7],
            "client_address": "10.0.0.1",
            "user_agent": "bench/1.0",
        }
        digest = canonical.event_hash(previous, canonical.content_of(values))
        values.update(previous_hash=previous, event_hash=digest, occurred_at=at + zone)
        yield tuple(values.get(name) for name in COLUMNS)
        previous = digest
        if position % CHECKPOINT_EVERY == 0:
            checkpoints.append(
                {
                    "kind": CheckpointKind.PERIODIC,
                    "position": position,
                    "event_hash": digest,
                    "signature": canonical.signature(key, "periodic", position, digest),
                    "created_at": datetime.now(UTC),
                    "details": {},
                }
            )
        if (number + 1) % 1_000_000 == 0:
            print(f"  {number + 1:,} of {total:,} events generated", flush=True)


def generate(app: Flask, total: int) -> float:
    """`total` chained events appended straight to the table (COPY on PostgreSQL, executemany on SQLite), and
    the head and checkpoints moved to match."""
    key = app.config["AUDIT_CHECKPOINT_KEY"].encode()
    with app.app_context():
        head = db.session.get(AuditChainHead, HEAD_ID)
        position, previous = head.position, head.event_hash
        db.session.remove()
        started = time.perf_counter()
        checkpoints: list[dict[str, Any]] = []
        postgresql = db.engine.dialect.name == "postgresql"
        rows = _generated(position, previous, total, key, checkpoints, "+00" if postgresql else "")
        with db.engine.begin() as connection:
            if postgresql:
                raw: Any = connection.connection.dbapi_connection
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
                ):  # noqa: S608 - our columns
                    for row in rows:
                        copy.write_row(row)
            else:
                insert_rows = (
                    f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608,E501
                )
                while batch := list(islice(rows, GENERATE_BATCH)):
                    connection.exec_driver_sql(insert_rows, batch)
            last = connection.execute(
                select(AuditEvent.chain_position, AuditEvent.event_hash)
                .order_by(AuditEvent.chain_position.desc())
                .limit(1)
            ).one()
            if checkpoints:
                connection.execute(insert(AuditCheckpoint.__table__), checkpoints)
            connection.execute(
                update(AuditChainHead)
                .where(AuditChainHead.id == HEAD_ID)
                .values(
                    position=last.chain_position,
                    event_hash=last.event_hash,
                    signature=canonical.signature(key, "head", last.chain_position, last.event_hash),
                )
            )
        return total / (time.perf_counter() - started)


def time_verify(app: Flask) -> dict[str, Any]:
    with app.app_context(), db.engine.connect() as connection:
        result = verify(
            read_snapshot(connection), app.config["AUDIT_CHECKPOINT_KEY"].encode(), workers=os.cpu_count() or 1
        )
    if not result.intact:
        raise SystemExit(f"the generated chain does not verify: {result.broken}")
    return {
        "events": result.events,
        "seconds": result.seconds,
        "per_second": result.rate,
        "checkpoints": result.checkpoints,
        "processes": result.processes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL; its schema public is dropped and rebuilt")
    parser.add_argument("--children", type=int, default=20_000, help="children in the index (default 20000)")
    parser.add_argument("--searches", type=int, default=100, help="searches of each kind (default 100)")
    parser.add_argument("--writes", type=int, default=2_000, help="events written one by one (default 2000)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events generated for verify (default 1e6)")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
        reset_postgresql(url)
        backend = "postgresql"
    else:
        path = OUT / "audit-sqlite.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url, backend = f"sqlite:///{path}", "sqlite"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    print(f"building an index of {args.children:,} children", flush=True)
    build(app, url, args.children, extras=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    assert existing_children(app) == args.children
    report: dict[str, Any] = {"machine": machine(url, app), "children": args.children}
    print(f"writing {args.writes:,} events one transaction each", flush=True)
    report["writes"] = time_writes(app, args.writes)
    print(
        f"timing {args.writes // 5:,} commits of each kind: read only, with a one-row insert, with an audit event",
        flush=True,
    )
    report["commits"] = time_commits(app, args.writes // 5)
    print(f"timing {args.searches} searches of each kind with and without the audit write", flush=True)
    report["searches"] = time_searches(app, args.searches)
    print(
        f"timing {args.searches} HTTP searches of each kind without and with the audit write, in alternating rounds",
        flush=True,
    )
    report["http_searches"] = time_http_searches(app, url, args.searches)
    print(f"generating {args.events:,} chained events", flush=True)
    report["generated_per_second"] = generate(app, args.events)
    print("verifying the chain", flush=True)
    report["verify"] = time_verify(app)
    report["at"] = datetime.now(UTC).isoformat(timespec="seconds")

    writes, verified = report["writes"], report["verify"]
    print(
        f"\n{report['machine']['backend']} {report['machine']['backend_version']}, "
        f"{report['machine']['nproc']} CPUs, Python {report['machine']['python']}"
    )
    print(
        f"events written alone: {writes['alone_per_second']:,.0f}/s; by {writes['threads']} threads at once: "
        f"{writes['together_per_second']:,.0f}/s"
    )
    print(
        "a commit after a SELECT 1: "
        + "; ".join(
            f"{kind} mean {row['mean_ms']:.2f} ms, p50 {row['p50_ms']:.2f} ms"
            for kind, row in report["commits"].items()
        )
    )
    for label, key in (("search function and commit", "searches"), ("HTTP search", "http_searches")):
        searches = report[key]
        for name in ("without_audit", "with_audit"):
            row = searches[name]
            print(
                f"{label} {name.replace('_', ' ')}: mean {row['mean_ms']:.2f} ms, p50 {row['p50_ms']:.2f} ms, "
                f"p95 {row['p95_ms']:.2f} ms"
            )
        print(
            f"  the audit write adds {searches['added_share_of_mean']:.1%} to the mean, "
            f"{searches['added_share_of_p50']:.1%} to the median ({searches['searches']} searches)"
        )
    print(
        f"verify: {verified['events']:,} events in {verified['seconds']:.1f} s = {verified['per_second']:,.0f} "
        f"events/s ({verified['checkpoints']:,} signed checkpoints, walked by {verified['processes']} "
        f"{'process' if verified['processes'] == 1 else 'processes'})"
    )
    target = OUT / f"audit-{backend}.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
