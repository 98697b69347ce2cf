"""scripts/postgresql_roles.sql, applied by the owner to a database of its own: the app's role adds and reads
audit events but can never change, remove or empty them; retention's role removes them only behind a prune
checkpoint. PostgreSQL only (the script is PostgreSQL's); it runs when TEST_DATABASE_URL is set.

The two roles are made if missing, without a login, and left in place: roles belong to the whole server,
and the database the grants were made in is dropped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url

from index_service import create_app
from index_service.audit import retention
from index_service.audit.events import record_event
from index_service.audit.models import AuditEvent, AuditTag
from index_service.extensions import db
from tests.audit.support import verify_session
from tests.database import worker_database_name

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="the script is PostgreSQL's")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgresql_roles.sql"
APP_ROLE, RETENTION_ROLE = "child_index_app", "child_index_retention"
DENIED = r"permission denied for table"


@pytest.fixture
def roles_database() -> Iterator[URL]:
    """A database of its own, made by the migrations, with the script applied by its owner."""
    base = make_url(os.environ.get("TEST_DATABASE_URL", "")).set(drivername="postgresql+psycopg")
    url = base.set(database=worker_database_name(f"{base.database}_roles"))
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
        for role in (APP_ROLE, RETENTION_ROLE):
            connection.exec_driver_sql(
                f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
    owner = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False)})
    with owner.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    with psycopg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    ) as connection:
        connection.execute(SCRIPT.read_text())  # no parameters: run as one script, as psql would
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        admin.dispose()


def _app_as(url: URL, role: str) -> Flask:
    """The app connecting with the given role in force, as a production worker logged in as it would be."""
    as_role = url.update_query_dict({"options": f"-c role={role}"})
    return create_app({"SQLALCHEMY_DATABASE_URI": as_role.render_as_string(hide_password=False)})


def _refused(statement: str) -> None:
    with pytest.raises(sa.exc.ProgrammingError, match=DENIED):
        db.session.execute(sa.text(statement))
    db.session.rollback()


def test_the_apps_role_adds_and_reads_audit_events_and_never_changes_or_removes_one(roles_database: URL) -> None:
    app = _app_as(roles_database, APP_ROLE)
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT current_user")) == APP_ROLE
        record_event(AuditTag.RECORD_VIEW, target_ids=["ROLE1"], details={"n": 1})
        db.session.commit()  # the event inserted and the chain head moved, as the app's role
        [event] = db.session.scalars(select(AuditEvent)).all()
        assert event.target_ids == ["ROLE1"] and event.chain_position == 1
        _refused("UPDATE audit_events SET reason = 'edited'")
        _refused("DELETE FROM audit_events")
        _refused("TRUNCATE audit_events")
        _refused("UPDATE audit_checkpoints SET signature = 'x'")
        _refused("DELETE FROM audit_chain_head")
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1
        assert verify_session().intact
        db.session.remove()
        db.engine.dispose()


def test_the_retention_role_prunes_behind_its_checkpoint(roles_database: URL) -> None:
    app = _app_as(roles_database, APP_ROLE)
    with app.app_context():
        for number in range(3):
            record_event(AuditTag.RECORD_VIEW, target_ids=[f"OLD{number}"]).occurred_at = datetime.now(UTC) - timedelta(
                days=400, minutes=number
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    retention_app = _app_as(roles_database, RETENTION_ROLE)
    with retention_app.app_context():
        assert retention.prune(datetime.now(UTC) - timedelta(days=365), limit=2) == retention.Pruned(2, 2)
        db.session.commit()
        assert db.session.scalars(select(AuditEvent.chain_position).order_by(AuditEvent.chain_position)).all() == [3, 4]
        assert verify_session().intact
        db.session.remove()
        db.engine.dispose()
