"""Many writers at once, in threads and in processes, still make one unbroken chain; the command verifies it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from index_service.audit.models import AuditChainHead, AuditEvent, AuditTag
from index_service.audit.verify import verify
from index_service.auth.models import User
from index_service.database import read_snapshot
from index_service.extensions import db
from tests.database import owner_bypass
from tests.factories import make_child, make_user, sign_in

ROOT = Path(__file__).resolve().parents[2]
THREADS = 8
SEARCHES_EACH = 6
PROCESSES = 4
EVENTS_EACH = 40


def _verified(app: Flask) -> tuple[int, int]:
    """(events, head position) after verifying the committed chain as the command does."""
    with db.engine.connect() as connection:
        result = verify(read_snapshot(connection), app.config["AUDIT_CHECKPOINT_KEY"].encode())
    assert result.intact, result.broken
    db.session.remove()
    count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    head = db.session.get(AuditChainHead, 1)
    positions = db.session.scalars(select(AuditEvent.chain_position).order_by(AuditEvent.chain_position)).all()
    assert list(positions) == list(range(1, count + 1))
    assert result.events == count
    return count, head.position


def _released(user: User) -> User:
    """The user detached with what sign-in reads, and no transaction (nor SQLite's write lock) held."""
    _ = (user.email, user.totp_secret)
    db.session.expunge(user)
    db.session.commit()
    return user


def _signed_in_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    sign_in(client, _released(make_user()))
    return client


def test_many_threads_searching_at_once_make_one_unbroken_chain(committed_app: Flask) -> None:
    make_child()
    clients = [_signed_in_client(committed_app) for _ in range(THREADS)]
    db.session.remove()
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []

    def search(client: FlaskClient) -> None:
        with committed_app.app_context():
            barrier.wait()
            for _ in range(SEARCHES_EACH):
                response = client.post(
                    "/api/v1/children/search",
                    json={"purpose": "case_work", "family_name": "Bennett", "date_of_birth": "2016-03-27"},
                )
                statuses.append(response.status_code)

    threads = [threading.Thread(target=search, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * (THREADS * SEARCHES_EACH)
    count, head = _verified(committed_app)
    searches = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.tag == AuditTag.RECORD_SEARCH)
    )
    assert searches == THREADS * SEARCHES_EACH and head == count


def _environment(app: Flask) -> dict[str, str]:
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    return {**os.environ, "CHILD_INDEX_ENV": "testing", "DATABASE_URL": url}


def test_many_processes_writing_at_once_make_one_unbroken_chain(committed_app: Flask) -> None:
    db.session.remove()
    writers = [
        subprocess.Popen(  # noqa: S603 - our own test writer, with arguments we made
            [sys.executable, "-m", "tests.audit.writer", str(EVENTS_EACH), f"P{number}-"],
            cwd=ROOT,
            env=_environment(committed_app),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for number in range(PROCESSES)
    ]
    for writer in writers:
        output, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0, output.decode()
    count, head = _verified(committed_app)
    assert count == head == PROCESSES * EVENTS_EACH


def _command(app: Flask, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command line, with arguments we made
        [sys.executable, "-m", "flask", "--app", "wsgi", "audit", *args],
        cwd=ROOT,
        env=_environment(app),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_verify_command_reports_the_first_broken_link_and_fails(committed_app: Flask) -> None:
    make_child()
    client = _signed_in_client(committed_app)
    db.session.remove()
    for _ in range(3):
        client.get("/search")
    intact = _command(committed_app, "verify")
    assert intact.returncode == 0, intact.stderr
    assert "The audit chain is intact" in intact.stdout
    with db.engine.begin() as connection, owner_bypass(connection):
        position = connection.scalar(select(func.max(AuditEvent.chain_position))) - 1
        connection.execute(sa.update(AuditEvent).where(AuditEvent.chain_position == position).values(reason="edited"))
    broken = _command(committed_app, "verify")
    assert broken.returncode == 1
    assert f"BROKEN at position {position}" in broken.stderr and "altered" in broken.stderr
