"""The schema is made by the migrations alone, and they agree with the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from index_service.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def test_migrations_have_a_single_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_models_and_migrations_agree(migrated_app: Flask) -> None:
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_app_factory_never_creates_tables() -> None:
    source = (Path(__file__).resolve().parents[2] / "index_service").rglob("*.py")
    assert not [path for path in source if "create_all(" in path.read_text()]


def test_0006_encrypts_existing_secrets_and_keeps_existing_grants(tmp_path: Path) -> None:
    """Upgrading a database with people in it: their secrets encrypted, their roles kept; and back down."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from accreditation.permissions import Role
    from index_service import create_app
    from index_service.auth.models import User

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0005")
        with db.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO organisations (name, type, created_at) VALUES ('Org', 'school', '2026-01-01 00:00:00')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO users (email, display_name, organisation_id, password_hash, totp_secret, is_active, "
                    "created_at) VALUES ('a@example.org', 'A', 1, 'x', 'JBSWY3DPEHPK3PXP', 1, '2026-01-01 00:00:00')"
                )
            )
            connection.execute(sa.text("INSERT INTO user_roles (user_id, role) VALUES (1, 'shielder')"))
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT totp_secret_encrypted FROM users")).scalar_one()
        assert "JBSWY3DPEHPK3PXP" not in stored
        user = db.session.get(User, 1)
        assert user.totp_secret == "JBSWY3DPEHPK3PXP" and user.roles == {Role.SHIELDER}
        assert user.token_enrolled_at is not None and user.organisation.accredited_until is None
        db.session.remove()
        downgrade(directory=str(MIGRATIONS), revision="0005")
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT totp_secret FROM users")).scalar_one() == "JBSWY3DPEHPK3PXP"
        db.engine.dispose()


def test_0010_will_not_drop_the_roles_that_events_hashes_cover(tmp_path: Path) -> None:
    """Downgrading past 0010 would take a hashed value out of events: refused, and the chain stays whole."""
    import pytest
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from index_service import create_app
    from index_service.audit.events import record_event
    from index_service.audit.models import AuditTag
    from tests.audit.support import verify_session
    from tests.factories import make_user

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'roles.sqlite3'}"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        record_event(AuditTag.RECORD_VIEW, user=make_user(), target_ids=["X"])
        db.session.commit()
        db.session.remove()
        with pytest.raises(SystemExit):  # Flask-Migrate reports the migration's refusal and exits
            downgrade(directory=str(MIGRATIONS), revision="0008")
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0010"
            assert connection.execute(sa.text("SELECT actor_roles FROM audit_events")).scalar_one() == "practitioner"
        assert verify_session().intact
        db.session.remove()
        db.engine.dispose()
