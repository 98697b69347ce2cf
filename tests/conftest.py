"""Test fixtures: a real database made by the migrations, and a rolled-back transaction per test.

Every test that uses the app runs on SQLite and, when TEST_DATABASE_URL is set, on
PostgreSQL too. The schema comes only from the migrations. Under pytest-xdist (scripts/test runs
the suite in parallel) each worker has a SQLite file and a PostgreSQL database of its own.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

os.environ["CHILD_INDEX_ENV"] = "testing"
# One checkpoint key per test run, shared with the commands the tests start in processes of their own.
os.environ.setdefault("AUDIT_CHECKPOINT_KEY", secrets.token_urlsafe(32))

from index_service import create_app  # noqa: E402
from index_service.database import IndexSession  # noqa: E402
from index_service.extensions import db  # noqa: E402
from tests.database import empty_database, worker_database_name  # noqa: E402

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _maintenance_engine(url: str) -> sa.Engine:
    """An engine on the server's `postgres` database, outside transactions, for making and dropping databases."""
    maintenance = make_url(url).set(drivername="postgresql+psycopg", database="postgres")
    return sa.create_engine(maintenance, isolation_level="AUTOCOMMIT")


def _worker_database(url: str) -> str | None:
    """This pytest-xdist worker's database, made if missing, so that parallel workers never empty each
    other's tables; None when not running under xdist."""
    shared = make_url(url).database or ""
    name = worker_database_name(shared)
    if name == shared:
        return None
    engine = _maintenance_engine(url)
    with engine.connect() as connection:
        if connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return name


def _drop_database(url: str, name: str) -> None:
    engine = _maintenance_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def _reset_postgresql(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


class FreshContextClient(FlaskClient):
    """Runs each request in a context of its own, as a server does.

    Flask reuses an app context that is already pushed (the test's own), which would share
    `g` and the database session between requests and hide bugs that production would show.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    worker_database = None
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    else:
        url = os.environ["TEST_DATABASE_URL"]
        worker_database = _worker_database(url)
        if worker_database:
            url = make_url(url).set(database=worker_database).render_as_string(hide_password=False)
        _reset_postgresql(url)
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ADDRESS_LOCKOUT_FAILURES": 20})
    app.test_client_class = FreshContextClient
    with app.app_context():
        upgrade(directory=str(Path(__file__).parent.parent / "migrations"))
    yield app
    with app.app_context():
        db.engine.dispose()
    if worker_database:
        _drop_database(url, worker_database)


@pytest.fixture
def app(migrated_app: Flask) -> Iterator[Flask]:
    """The app with every database write inside one transaction, rolled back after the test."""
    with migrated_app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {"class_": IndexSession, "bind": connection, "join_transaction_mode": "create_savepoint"}
        )
        try:
            yield migrated_app
        finally:
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def committed_app(migrated_app: Flask) -> Iterator[Flask]:
    """The app writing for real, for tests of concurrent requests; every table is emptied after."""
    with migrated_app.app_context():
        yield migrated_app
        db.session.remove()
        with db.engine.begin() as connection:
            empty_database(connection)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
