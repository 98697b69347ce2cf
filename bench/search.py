"""Search benchmark: build an index of synthetic children, then time searches of six kinds.

    python bench/search.py [--children N] [--database-url URL] [--searches K] [--keep]

The index is built from ChildFactory households (siblings, twins, hyphenated and variant
names) with SQLAlchemy Core bulk inserts, in worker processes that make the rows while the
main process writes them. The schema comes from the migrations. Each search kind is timed
twice: the search function itself (search_children in an app context) and the whole HTTP
request (POST /api/v1/children/search through a real threaded server, signed in as a
practitioner, so every request also writes its audit event and session). Results are printed
as a table and written to bench/out/search-<backend>-<N>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
os.environ["CHILD_INDEX_ENV"] = "testing"

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, func, insert, select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from accreditation.permissions import Role  # noqa: E402
from index_service import create_app  # noqa: E402
from index_service.accounts.operations import add_user, record_checks  # noqa: E402
from index_service.auth.totp import code_at  # noqa: E402
from index_service.children import criteria as parse  # noqa: E402
from index_service.children.criteria import Criteria, query_from  # noqa: E402
from index_service.children.lookup import load_children, search_children  # noqa: E402
from index_service.children.models import (  # noqa: E402
    Address,
    BlockingKey,
    CarerContact,
    Child,
    ChildName,
    FieldProvenance,
    IdentifierKind,
    Involvement,
    SourceIdentifier,
)
from index_service.extensions import db  # noqa: E402
from index_service.index_ids import new_index_id  # noqa: E402
from index_service.organisation_models import Organisation, OrganisationType  # noqa: E402
from index_service.organisations.operations import accredit, add_organisation  # noqa: E402
from index_service.synthetic import ORGANISATIONS, ChildFactory  # noqa: E402
from matching import variants  # noqa: E402
from matching.blocking import record_keys  # noqa: E402
from matching.normalise import format_postcode, name_tokens, normalise_postcode, swapped_day_month  # noqa: E402
from matching.person import OtherName, Person  # noqa: E402
from shielding.redaction import Viewer  # noqa: E402

BATCH = 5_000
SEED = 20_240_601
PASSWORD = "benchmark password, not a secret"  # noqa: S105 - a throwaway user in a throwaway database
WARM_UP = 20
KINDS = {
    "a": "family name + date of birth",
    "b": "family name with a typo + date of birth",
    "c": "variant given name + family name + date of birth",
    "d": "family name + day/month swapped date of birth",
    "e": "family name + given name + postcode",
    "f": "NHS number",
}
PROVENANCE_FIELDS = ("given_name", "middle_names", "family_name", "date_of_birth", "gender")


# --- building the index -------------------------------------------------------------------


class BenchChildFactory(ChildFactory):
    """ChildFactory making exactly the same children, with the NHS number's check digit computed
    rather than found by validating all ten candidates (a fifth of the factory's time)."""

    def nhs_number(self) -> str:
        while True:
            body = str(self.random.randint(400_000_000, 999_999_999))
            check = -sum(weight * int(digit) for weight, digit in zip(range(10, 1, -1), body, strict=True)) % 11
            if check < 10:
                return body + str(check)


@dataclass(frozen=True)
class ChunkTask:
    number: int
    first_id: int
    count: int
    organisation_ids: dict[str, int]
    today: date
    now: datetime
    extras: bool


def _person(spec: Any, current_key: str | None, previous_keys: tuple[str, ...]) -> Person:
    """The Person that HeldRecord.person (held.person_of with the household) would build for this
    child once stored, whose keys a load stores: the first line of the address gives the "ad" key."""
    return Person(
        given_name=spec.given_name,
        family_name=spec.family_name,
        middle_names=spec.middle_names,
        other_names=tuple(OtherName(given, family) for _kind, given, family in spec.other_names),
        date_of_birth=spec.date_of_birth,
        gender=spec.gender.value,
        postcode=current_key,
        previous_postcodes=previous_keys,
        identifiers=frozenset(
            (kind, value) for kind, value in (("nhs_number", spec.nhs_number), ("upn", spec.upn)) if value
        ),
        address_line=spec.address.line1 if spec.address else None,
    )


def _address_row(child_id: int, address: Any, is_current: bool, now: datetime) -> dict[str, Any]:
    compact = normalise_postcode(address.postcode)
    return {
        "child_id": child_id,
        "line1": address.line1,
        "line2": address.line2,
        "town": address.town,
        "postcode": format_postcode(compact) if compact else address.postcode,
        "postcode_key": compact,
        "is_current": is_current,
        "source_id": None,
        "supplied_at": now,
    }


def make_chunk(task: ChunkTask) -> dict[str, list[dict[str, Any]]]:
    """Rows for one batch of children (runs in a worker process)."""
    factory = BenchChildFactory(seed=SEED + task.number, today=task.today)
    now = task.now
    rows: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in (
            "children",
            "child_names",
            "addresses",
            "source_identifiers",
            "involvements",
            "blocking_keys",
            "carer_contacts",
            "field_provenance",
        )
    }
    for offset, spec in enumerate(factory.children(task.count)):
        child_id = task.first_id + offset
        rows["children"].append(
            {
                "id": child_id,
                "index_id": new_index_id(),
                "given_name": spec.given_name,
                "middle_names": spec.middle_names,
                "family_name": spec.family_name,
                "date_of_birth": spec.date_of_birth,
                "gender": spec.gender.value,
                "status": "active",
                "is_shielded": spec.is_shielded,
                "created_at": now,
                "updated_at": now,
            }
        )
        for kind, given, family in spec.other_names:
            rows["child_names"].append(
                {
                    "child_id": child_id,
                    "kind": kind.value,
                    "given_name": given,
                    "family_name": family,
                    "source_id": None,
                    "supplied_at": now,
                }
            )
        addresses = [_address_row(child_id, spec.address, True, now)] if spec.address else []
        addresses += [_address_row(child_id, previous, False, now) for previous in spec.previous_addresses]
        rows["addresses"] += addresses
        for kind, value in ((IdentifierKind.NHS_NUMBER, spec.nhs_number), (IdentifierKind.UPN, spec.upn)):
            if value:
                rows["source_identifiers"].append(
                    {
                        "child_id": child_id,
                        "kind": kind.value,
                        "value": value,
                        "source_id": None,
                        "supplied_at": now,
                    }
                )
        for item in spec.involvements:
            rows["involvements"].append(
                {
                    "child_id": child_id,
                    "service": item.service.value,
                    "organisation_id": task.organisation_ids[item.organisation],
                    "role": item.role,
                    "practitioner_name": item.practitioner_name,
                    "practitioner_phone": item.practitioner_phone,
                    "practitioner_email": item.practitioner_email,
                    "start_date": item.start_date,
                    "end_date": item.end_date,
                    "is_lead_professional": item.is_lead_professional,
                    "has_early_help_assessment": item.has_early_help_assessment,
                    "source_id": None,
                    "supplied_at": now,
                }
            )
        current = [a["postcode_key"] for a in addresses if a["is_current"] and a["postcode_key"]]
        previous = tuple(a["postcode_key"] for a in addresses if not a["is_current"] and a["postcode_key"])
        person = _person(spec, current[0] if current else None, previous)
        rows["blocking_keys"] += [{"key": key, "child_id": child_id} for key in record_keys(person)]
        if task.extras:
            rows["carer_contacts"] += [
                {
                    "child_id": child_id,
                    "name": name,
                    "relationship_to_child": relation,
                    "phone": phone,
                    "source_id": None,
                    "supplied_at": now,
                }
                for name, relation, phone in spec.carers
            ]
            rows["field_provenance"] += [
                {"child_id": child_id, "field": name, "source_id": None, "supplied_at": now}
                for name in PROVENANCE_FIELDS
                if getattr(spec, name) is not None
            ]
    return rows


TABLES = {
    "children": Child.__table__,
    "child_names": ChildName.__table__,
    "addresses": Address.__table__,
    "source_identifiers": SourceIdentifier.__table__,
    "involvements": Involvement.__table__,
    "blocking_keys": BlockingKey.__table__,
    "carer_contacts": CarerContact.__table__,
    "field_provenance": FieldProvenance.__table__,
}


def _bulk_engine(url: str) -> sa.Engine:
    """An engine for loading only: on SQLite, no fsync and a large page cache."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = OFF")
            cursor.execute("PRAGMA cache_size = -2000000")
            cursor.execute("PRAGMA temp_store = MEMORY")
            cursor.close()

    return engine


def _chunks(total: int, task: dict[str, Any]) -> Iterator[ChunkTask]:
    for number, first in enumerate(range(0, total, BATCH)):
        yield ChunkTask(number=number, first_id=first + 1, count=min(BATCH, total - first), **task)


def build(app: Flask, url: str, total: int, extras: bool) -> dict[str, Any]:
    started = time.perf_counter()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
        db.engine.dispose()
    migrated = time.perf_counter()
    engine = _bulk_engine(url)
    with engine.begin() as connection:
        connection.execute(
            insert(Organisation.__table__),
            [
                {"name": o.name, "type": o.type.value, "phone": o.phone, "email": None, "created_at": datetime.now(UTC)}
                for o in ORGANISATIONS
            ],
        )
        organisation_ids = dict(connection.execute(select(Organisation.name, Organisation.id)).all())
    task = {"organisation_ids": organisation_ids, "today": date.today(), "now": datetime.now(UTC), "extras": extras}
    counts = dict.fromkeys(TABLES, 0)
    seen_index_ids: set[str] = set()
    workers = max(1, os.cpu_count() or 1)
    done = 0
    last_report = time.perf_counter()
    print(f"building {total:,} children with {workers} worker processes, batches of {BATCH:,}", flush=True)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: list[Any] = []
        tasks = _chunks(total, task)
        for chunk_task in tasks:
            pending.append(pool.apply_async(make_chunk, (chunk_task,)))
            if len(pending) < 2 * workers:
                continue
            done += _write(engine, pending.pop(0).get(), counts, seen_index_ids)
            if time.perf_counter() - last_report > 10 or done == total:
                _progress(done, total, counts, started)
                last_report = time.perf_counter()
        while pending:
            done += _write(engine, pending.pop(0).get(), counts, seen_index_ids)
            if time.perf_counter() - last_report > 10 or not pending:
                _progress(done, total, counts, started)
                last_report = time.perf_counter()
    loaded = time.perf_counter()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT setval(pg_get_serial_sequence('children', 'id'), :top)"), {"top": total})
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    finished = time.perf_counter()
    summary = {
        "children": total,
        "rows": counts,
        "migrate_seconds": round(migrated - started, 1),
        "load_seconds": round(loaded - migrated, 1),
        "finish_seconds": round(finished - loaded, 1),
        "total_seconds": round(finished - started, 1),
        "carers_and_provenance": extras,
        "finish_step": "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "WAL checkpoint",
    }
    print(
        f"built {total:,} children ({sum(counts.values()):,} rows) in {finished - started:,.1f} s "
        f"(migrations {summary['migrate_seconds']} s, load {summary['load_seconds']} s, "
        f"{summary['finish_step']} {summary['finish_seconds']} s)",
        flush=True,
    )
    if not extras:
        print("carer_contacts and field_provenance were NOT written (--lean); searches never read them", flush=True)
    return summary


def _write(
    engine: sa.Engine, rows: dict[str, list[dict[str, Any]]], counts: dict[str, int], seen_index_ids: set[str]
) -> int:
    for child in rows["children"]:
        while child["index_id"] in seen_index_ids:
            child["index_id"] = new_index_id()
        seen_index_ids.add(child["index_id"])
    with engine.begin() as connection:
        for name, table in TABLES.items():
            if rows[name]:
                connection.execute(insert(table), rows[name])
                counts[name] += len(rows[name])
    return len(rows["children"])


def _progress(done: int, total: int, counts: dict[str, int], started: float) -> None:
    elapsed = time.perf_counter() - started
    print(
        f"  {done:>9,} / {total:,} children, {sum(counts.values()):>11,} rows, {elapsed:7.1f} s, "
        f"{done / elapsed:7,.0f} children/s, {sum(counts.values()) / elapsed:8,.0f} rows/s",
        flush=True,
    )


def existing_children(app: Flask) -> int | None:
    with app.app_context():
        try:
            count = db.session.scalar(select(func.count()).select_from(Child))
        except sa.exc.SQLAlchemyError:
            count = None
        db.session.remove()
        db.engine.dispose()
    return count


def reset_postgresql(url: str) -> None:
    """An empty schema public in the database at url, made first if it does not exist."""
    base, name = url.rsplit("/", 1)
    server = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        if connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


# --- choosing the queries -------------------------------------------------------------------


@dataclass
class Search:
    kind: str
    target: str
    typed: dict[str, str]
    criteria: Criteria = field(default_factory=lambda: Criteria())


def _variant_groups() -> dict[str, set[str]]:
    """Every given name in a variant group, to the other names in its groups."""
    members: dict[str, set[str]] = {}
    for name, canonicals in variants._given().items():
        for canonical in canonicals:
            members.setdefault(canonical, set()).add(name)
    others: dict[str, set[str]] = {}
    for group in members.values():
        for name in group:
            others.setdefault(name, set()).update(group - {name})
    return others


def _typo(name: str, rng: random.Random) -> str | None:
    """One letter (never the first) replaced by another."""
    positions = [i for i, char in enumerate(name) if i > 0 and char.isalpha()]
    if not positions:
        return None
    at = rng.choice(positions)
    letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != name[at].lower()])
    return name[:at] + (letter.upper() if name[at].isupper() else letter) + name[at + 1 :]


def _typed(kind: str, child: Child, rng: random.Random, others: dict[str, set[str]]) -> dict[str, str] | None:
    dob = child.date_of_birth
    family = child.family_name
    if kind == "a":
        return {"family_name": family, "date_of_birth": dob.isoformat()}
    if kind == "b":
        typo = _typo(family, rng)
        return {"family_name": typo, "date_of_birth": dob.isoformat()} if typo else None
    if kind == "c":
        tokens = name_tokens(child.given_name)
        choices = sorted(others.get(tokens[0], ())) if tokens else []
        if not choices:
            return None
        return {"given_name": rng.choice(choices).title(), "family_name": family, "date_of_birth": dob.isoformat()}
    if kind == "d":
        swapped = swapped_day_month(dob)
        if swapped is None or swapped > date.today():
            return None
        return {"family_name": family, "date_of_birth": swapped.strftime("%d/%m/%Y")}
    if kind == "e":
        address = child.current_address
        if address is None or not address.postcode_key:
            return None
        return {"family_name": family, "given_name": child.given_name, "postcode": address.postcode}
    nhs = next((i.value for i in child.identifiers if i.kind == IdentifierKind.NHS_NUMBER), None)
    return {"nhs_number": nhs} if nhs else None


PARSERS = {
    "family_name": parse.parse_name,
    "given_name": parse.parse_name,
    "date_of_birth": parse.parse_date_of_birth,
    "postcode": parse.parse_postcode,
    "nhs_number": parse.parse_nhs_number,
}


def choose_searches(app: Flask, per_kind: int) -> list[Search]:
    """K searches of each kind, for children drawn at random (fixed seed) from the index."""
    rng = random.Random(SEED)
    others = _variant_groups()
    searches: list[Search] = []
    with app.app_context():
        ids = sorted(db.session.scalars(select(Child.id)))
        pool = rng.sample(ids, min(len(ids), per_kind * 12))
        children: list[Child] = []
        for first in range(0, len(pool), 500):
            children += load_children(pool[first : first + 500])
        by_id = {child.id: child for child in children}
        ordered = [by_id[i] for i in pool]
        for kind in KINDS:
            found = 0
            for child in rng.sample(ordered, len(ordered)):
                typed = _typed(kind, child, rng, others)
                if typed is None:
                    continue
                criteria = Criteria(**{key: PARSERS[key](value) for key, value in typed.items()})  # type: ignore[typeddict-item]
                searches.append(Search(kind, child.index_id, typed, criteria))
                found += 1
                if found == per_kind:
                    break
        db.session.remove()
    return searches


# --- timing --------------------------------------------------------------------------------


def time_function(app: Flask, searches: list[Search]) -> list[dict[str, Any]]:
    viewer = Viewer(may_see_shielded=False)
    timings = []
    with app.app_context():
        for search in searches[:WARM_UP]:
            search_children(query_from(search.criteria), viewer)
            db.session.remove()
        for search in searches:
            query = query_from(search.criteria)
            started = time.perf_counter()
            outcome = search_children(query, viewer)
            elapsed = time.perf_counter() - started
            db.session.remove()  # never hold SQLite's write lock between searches
            top = [result["index_id"] for result in outcome.results[:3]]
            timings.append(
                {
                    "ms": elapsed * 1000,
                    "candidates": outcome.candidates_read,
                    "too_many": outcome.too_many,
                    "hit": search.target in top,
                    "results": len(outcome.results),
                }
            )
    return timings


class Browser:
    """A keep-alive HTTP/1.1 client with a cookie jar, standard library only."""

    def __init__(self, port: int) -> None:
        self.connection = HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Host": "127.0.0.1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel["expires"] and "1970" in morsel["expires"] or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, data

    def form(self, path: str, fields: dict[str, str]) -> int:
        status, _ = self.request("POST", path, urlencode(fields).encode(), "application/x-www-form-urlencoded")
        return status

    def csrf(self, path: str) -> str:
        status, page = self.request("GET", path)
        marker = b'name="csrf_token" value="'
        start = page.index(marker) + len(marker)
        return page[start : page.index(b'"', start)].decode()


def sign_in(browser: Browser, email: str, secret: str) -> None:
    status = browser.form("/sign-in", {"email": email, "password": PASSWORD, "csrf_token": browser.csrf("/sign-in")})
    assert status == 302, f"password step answered {status}"
    token = browser.csrf("/sign-in/code")
    status = browser.form("/sign-in/code", {"code": code_at(secret, time.time()), "csrf_token": token})
    assert status == 302, f"code step answered {status}"


def make_practitioner(app: Flask) -> tuple[str, str]:
    with app.app_context():
        suffix = uuid.uuid4().hex[:8]
        organisation = add_organisation(f"Benchmark team {suffix}", OrganisationType.LOCAL_AUTHORITY, "0113 000 0000")
        user = add_user(f"bench-{suffix}@example.org", organisation, [Role.PRACTITIONER], PASSWORD, "Bench User")
        today = date.today()
        accredit(organisation, today + timedelta(days=30))
        record_checks(user, today + timedelta(days=30), today, today)
        db.session.commit()
        email, secret = user.email, user.totp_secret
        db.session.remove()
    return email, secret


def time_http(app: Flask, url: str, searches: list[Search]) -> list[dict[str, Any]]:
    email, secret = make_practitioner(app)
    server_app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timings = []
    try:
        browser = Browser(server.server_port)
        sign_in(browser, email, secret)
        for search in searches[:WARM_UP] + searches:
            body = json.dumps({"purpose": "case_work", **search.typed}).encode()
            started = time.perf_counter()
            status, data = browser.request("POST", "/api/v1/children/search", body, "application/json")
            elapsed = time.perf_counter() - started
            assert status == 200, f"search answered {status}: {data[:300]!r}"
            answer = json.loads(data)
            top = [result["index_id"] for result in answer["results"][:3]]
            timings.append(
                {"ms": elapsed * 1000, "too_many": answer["outcome"] == "too_many", "hit": search.target in top}
            )
    finally:
        server.shutdown()
        thread.join()
        with server_app.app_context():
            db.engine.dispose()
    return timings[WARM_UP:]


# --- reporting -----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summarise(searches: list[Search], function: list[dict[str, Any]], http: list[dict[str, Any]]) -> list[dict]:
    rows = []
    for kind, label in KINDS.items():
        picks = [i for i, search in enumerate(searches) if search.kind == kind]
        if not picks:
            continue
        fn = [function[i] for i in picks]
        web = [http[i] for i in picks]
        fn_ms = [t["ms"] for t in fn]
        web_ms = [t["ms"] for t in web]
        candidates = [t["candidates"] for t in fn]
        rows.append(
            {
                "kind": kind,
                "label": label,
                "searches": len(picks),
                "function_ms": {f"p{p}": round(percentile(fn_ms, p / 100), 2) for p in (50, 95, 99)},
                "http_ms": {f"p{p}": round(percentile(web_ms, p / 100), 2) for p in (50, 95, 99)},
                "candidates_mean": round(sum(candidates) / len(candidates), 1),
                "candidates_max": max(candidates),
                "recall_at_3": round(sum(t["hit"] for t in fn) / len(fn), 3),
                "http_recall_at_3": round(sum(t["hit"] for t in web) / len(web), 3),
                "too_many": round(sum(t["too_many"] for t in fn) / len(fn), 3),
                "http_too_many": round(sum(t["too_many"] for t in web) / len(web), 3),
            }
        )
    return rows


def print_table(rows: list[dict], title: str) -> None:
    print()
    print(title)
    header = (
        f"{'kind':<52} {'n':>4} | {'fn p50':>7} {'p95':>7} {'p99':>7} | {'http p50':>8} {'p95':>7} "
        f"{'p99':>7} | {'cand mean':>9} {'max':>5} | {'rec@3':>6} {'too many':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        fn, web = row["function_ms"], row["http_ms"]
        print(
            f"({row['kind']}) {row['label']:<48} {row['searches']:>4} | {fn['p50']:>7.2f} {fn['p95']:>7.2f} "
            f"{fn['p99']:>7.2f} | {web['p50']:>8.2f} {web['p95']:>7.2f} {web['p99']:>7.2f} | "
            f"{row['candidates_mean']:>9.1f} {row['candidates_max']:>5} | {row['recall_at_3']:>6.1%} "
            f"{row['too_many']:>8.1%}"
        )
    print(
        "(latencies in ms; fn = search_children in an app context; http = POST /api/v1/children/search "
        "through a threaded werkzeug server in this process, audit and session writes included)"
    )


def machine(engine_url: str, app: Flask) -> dict[str, Any]:
    with app.app_context():
        backend = db.engine.dialect.name
        version_sql = "SELECT sqlite_version()" if backend == "sqlite" else "SHOW server_version"
        version = db.session.scalar(sa.text(version_sql))
        db.session.remove()
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "backend": backend,
        "backend_version": version,
        "database": engine_url.split("@")[-1] if backend == "postgresql" else engine_url,
    }


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100_000, help="children in the index (default 100000)")
    parser.add_argument("--database-url", help="a PostgreSQL URL; its schema public is dropped and rebuilt")
    parser.add_argument("--searches", type=int, default=300, help="searches of each kind (default 300)")
    parser.add_argument("--keep", action="store_true", help="reuse the database when it already has N children")
    parser.add_argument("--lean", action="store_true", help="skip carer_contacts and field_provenance rows")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        url = args.database_url
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        backend = sa.make_url(url).get_backend_name()
    else:
        backend = "sqlite"
        path = OUT / f"search-sqlite-{args.children}.sqlite3"
        url = f"sqlite:///{path}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})

    build_summary: dict[str, Any] | None = None
    if args.keep and existing_children(app) == args.children:
        print(f"reusing {url} with {args.children:,} children (--keep)", flush=True)
    else:
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            reset_postgresql(url)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        build_summary = build(app, url, args.children, extras=not args.lean)

    searches = choose_searches(app, args.searches)
    print(f"timing {len(searches)} searches through search_children", flush=True)
    function = time_function(app, searches)
    print(f"timing {len(searches)} searches through HTTP", flush=True)
    http = time_http(app, url, searches)
    rows = summarise(searches, function, http)
    info = machine(url, app)
    title = (
        f"{args.children:,} children on {info['backend']} {info['backend_version']}, "
        f"{info['nproc']} CPUs, Python {info['python']}"
    )
    if build_summary:
        title += f"; built in {build_summary['total_seconds']:,.1f} s"
        if not build_summary["carers_and_provenance"]:
            title += " (without carers and provenance)"
    print_table(rows, title)
    report = {
        "children": args.children,
        "searches_per_kind": args.searches,
        "warm_up": WARM_UP,
        "machine": info,
        "build": build_summary,
        "kinds": rows,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = OUT / f"search-{info['backend']}-{args.children}.json"
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {target.relative_to(ROOT)}")
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
