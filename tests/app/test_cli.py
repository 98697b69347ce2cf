"""The command line: organisations, users, closing accounts and the demo."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import delete, func, select

from accreditation.permissions import Role
from index_service.auth.models import User
from index_service.children.held import person_of
from index_service.children.models import BlockingKey, Child
from index_service.database import utc_today
from index_service.extensions import db
from index_service.organisation_models import Organisation, OrganisationType
from matching.blocking import record_keys
from tests.factories import make_child, make_user, sign_in


def test_orgs_add_and_users_add_print_the_provisioning_uri(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["orgs", "add", "Leeds City Council", "--type", "local_authority"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "users",
            "add",
            "Sam.Jones@Leeds.gov.uk",
            "--org",
            "Leeds City Council",
            "--role",
            "practitioner",
            "--role",
            "data_admin",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/Child%20Index:sam.jones%40leeds.gov.uk?secret=" in result.output
    user = db.session.scalars(select(User).where(User.email == "sam.jones@leeds.gov.uk")).one()
    assert user.roles == {Role.PRACTITIONER, Role.DATA_ADMIN}
    assert user.organisation.type == OrganisationType.LOCAL_AUTHORITY
    assert "a long enough password" not in user.password_hash


def test_users_add_refuses_bad_input_with_a_message(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["orgs", "add", "Org A", "--type", "school"])
    unknown_org = runner.invoke(
        args=["users", "add", "a@example.org", "--org", "Nope", "--role", "practitioner", "--password-stdin"],
        input="a long enough password\n",
    )
    assert unknown_org.exit_code != 0 and "No organisation is called 'Nope'" in unknown_org.output
    short = runner.invoke(
        args=["users", "add", "a@example.org", "--org", "Org A", "--role", "practitioner", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    bad_role = runner.invoke(
        args=["users", "add", "a@example.org", "--org", "Org A", "--role", "wizard", "--password-stdin"],
        input="a long enough password\n",
    )
    assert bad_role.exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    duplicate = runner.invoke(args=["orgs", "add", "Org A", "--type", "school"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output


def test_users_close_ends_sessions(app: Flask) -> None:
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    result = app.test_cli_runner().invoke(args=["users", "close", user.email])
    assert result.exit_code == 0 and "ended 1 session" in result.output
    assert client.get("/search").status_code == 302


def test_users_code_only_in_development(app: Flask) -> None:
    user = make_user()
    result = app.test_cli_runner().invoke(args=["users", "code", user.email])
    assert result.exit_code != 0 and "only when CHILD_INDEX_ENV=development" in result.output


def test_demo_fills_an_empty_database_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--children", "60"])
    assert result.exit_code == 0, result.output
    assert "practitioner@demo.childindex.example" in result.output and "otpauth://" in result.output
    assert db.session.scalar(select(func.count()).select_from(Child)) == 60
    assert db.session.scalar(select(func.count()).select_from(User)) == len(Role)
    assert db.session.scalar(select(func.count()).select_from(Organisation)) >= 8
    again = runner.invoke(args=["demo", "--children", "10"])
    assert again.exit_code != 0 and "already holds data" in again.output
    quietly = runner.invoke(args=["demo", "--if-empty"])
    assert quietly.exit_code == 0 and db.session.scalar(select(func.count()).select_from(Child)) == 60


def test_sessions_purge_removes_only_dead_rows(app: Flask) -> None:
    from datetime import timedelta

    from index_service.auth.models import FailedAttempt, UserSession
    from index_service.database import utcnow

    live, gone = make_user(), make_user()
    live_client, gone_client = app.test_client(), app.test_client()
    sign_in(live_client, live)
    sign_in(gone_client, gone)
    stale = db.session.scalars(
        select(UserSession).where(UserSession.user_id == gone.id, UserSession.ended_at.is_(None))
    ).one()
    stale.last_seen_at = utcnow() - timedelta(hours=1)
    db.session.add(FailedAttempt(key="account:old@example.org", at=utcnow() - timedelta(hours=1)))
    db.session.add(FailedAttempt(key="account:new@example.org"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(UserSession.user_id)).all() == [live.id]
    assert db.session.scalars(select(FailedAttempt.key)).all() == ["account:new@example.org"]
    assert live_client.get("/search").status_code == 200


def test_children_refresh_keys_stores_the_keys_of_each_record_as_held(app: Flask) -> None:
    fresh, stale = make_child(), make_child(given_name="Amelia", family_name="Khan", nhs_number=None)
    db.session.execute(delete(BlockingKey).where(BlockingKey.child_id == stale.id))
    db.session.add(BlockingKey(key=12345, child_id=stale.id))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["children", "refresh-keys", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "Refreshed the blocking keys of 1 of 2 records" in result.output
    for child in (fresh, stale):
        db.session.expire_all()
        held = set(db.session.scalars(select(BlockingKey.key).where(BlockingKey.child_id == child.id)))
        assert held == record_keys(person_of(db.session.get_one(Child, child.id), household=True))


def test_orgs_accredit_and_users_checks_let_the_first_people_in(app: Flask) -> None:
    from index_service.audit.models import AuditEvent, AuditTag

    runner = app.test_cli_runner()
    runner.invoke(args=["orgs", "add", "Child Index National Team", "--type", "national_index"])
    result = runner.invoke(
        args=[
            "users",
            "add",
            "lead@index.example",
            "--org",
            "Child Index National Team",
            "--role",
            "index_team",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    checks = runner.invoke(
        args=[
            "users",
            "checks",
            "lead@index.example",
            "--vetting-expires",
            "2099-01-31",
            "--trained-on",
            "2026-01-05",
            "--approved-on",
            "2026-01-06",
        ]
    )
    assert checks.exit_code == 0 and "not accredited" in checks.output
    past = runner.invoke(args=["orgs", "accredit", "Child Index National Team", "--until", "2020-01-01"])
    assert past.exit_code != 0 and "after today" in past.output
    done = runner.invoke(args=["orgs", "accredit", "Child Index National Team", "--until", "2099-01-01"])
    assert done.exit_code == 0, done.output
    user = db.session.scalars(select(User).where(User.email == "lead@index.example")).one()
    assert user.roles == {Role.INDEX_TEAM}
    assert user.access(utc_today()).allowed
    tags = set(db.session.scalars(select(AuditEvent.tag)))
    assert {AuditTag.ORGANISATION_ACCREDIT, AuditTag.ACCOUNT_CHANGE} <= tags


def test_users_add_refuses_a_common_password(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["orgs", "add", "Org B", "--type", "school"])
    result = runner.invoke(
        args=["users", "add", "b@example.org", "--org", "Org B", "--role", "practitioner", "--password-stdin"],
        input="qwerty123456\n",
    )
    assert result.exit_code != 0 and "easy to guess" in result.output
