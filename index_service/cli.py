"""Command line: `flask --app wsgi orgs ...`, `users ...`, `demo`."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import click
import segno
from flask import Flask, current_app
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.auth.models import User, UserRole
from index_service.auth.passwords import hash_password
from index_service.auth.totp import code_at, new_secret, provisioning_uri
from index_service.children.held import read_held
from index_service.children.models import Child
from index_service.children.writes import Writes
from index_service.database import utcnow
from index_service.extensions import db
from index_service.organisations.models import Organisation, OrganisationType
from index_service.sessions import end_sessions_for_user, purge_stale_rows
from matching.blocking import record_keys

MIN_PASSWORD_LENGTH = 12


def organisation_named(name: str) -> Organisation:
    organisation = db.session.scalar(select(Organisation).where(Organisation.name == name))
    if organisation is None:
        raise click.ClickException(f"No organisation is called {name!r}. Add it with: orgs add {name!r} --type TYPE")
    return organisation


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user has the email address {email}")
    return user


def add_organisation(name: str, kind: OrganisationType, phone: str | None = None) -> Organisation:
    if db.session.scalar(select(Organisation).where(Organisation.name == name)) is not None:
        raise click.ClickException(f"An organisation called {name!r} already exists")
    organisation = Organisation(name=name, type=kind, phone=phone)
    db.session.add(organisation)
    db.session.flush()
    return organisation


def add_user(email: str, organisation: Organisation, roles: list[Role], password: str, name: str) -> User:
    email = email.strip().lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"The password must be at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(User).where(func.lower(User.email) == email)) is not None:
        raise click.ClickException(f"A user with the email address {email} already exists")
    user = User(
        email=email,
        display_name=name,
        organisation=organisation,
        password_hash=hash_password(password),
        totp_secret=new_secret(),
        role_grants=[UserRole(role=role) for role in sorted(set(roles))],
    )
    db.session.add(user)
    db.session.flush()
    return user


def show_provisioning(user: User) -> None:
    uri = provisioning_uri(user.totp_secret, user.email)
    click.echo(f"Two-factor set-up for {user.email}: {uri}")
    if sys.stdout.isatty():
        segno.make(uri, error="m").terminal(compact=True)


orgs = click.Group("orgs", help="Organisations whose staff use the index.")
users = click.Group("users", help="People who sign in to the index.")
sessions = click.Group("sessions", help="Server-side sessions.")
children = click.Group("children", help="Child records as a whole.")


@orgs.command("add")
@click.argument("name")
@click.option("--type", "kind", required=True, type=click.Choice([t.value for t in OrganisationType]))
@click.option("--phone", help="The organisation's switchboard, shown on involvements.")
def orgs_add(name: str, kind: str, phone: str | None) -> None:
    """Add an organisation."""
    add_organisation(name, OrganisationType(kind), phone)
    db.session.commit()
    click.echo(f"Added organisation {name}")


@users.command("add")
@click.argument("email")
@click.option("--org", "org_name", required=True, help="The organisation's exact name.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", "display_name", help="The person's name (defaults to the email address).")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
def users_add(email: str, org_name: str, roles: tuple[str, ...], display_name: str | None,
              password_stdin: bool) -> None:
    """Add a user and print the two-factor provisioning URI for their authenticator app."""
    password = sys.stdin.readline().rstrip("\n")
    user = add_user(email, organisation_named(org_name), [Role(r) for r in roles], password, display_name or email)
    db.session.commit()
    click.echo(f"Added user {user.email} ({', '.join(sorted(r.value for r in user.roles))})")
    show_provisioning(user)


@users.command("close")
@click.argument("email")
def users_close(email: str) -> None:
    """Close an account: the user cannot sign in and every session ends at once."""
    user = _user(email)
    user.is_active = False
    ended = end_sessions_for_user(user.id)
    db.session.commit()
    click.echo(f"Closed {user.email}; ended {ended} session(s)")


@users.command("code")
@click.argument("email")
def users_code(email: str) -> None:
    """Print a user's current security code (local development only)."""
    if current_app.config["INDEX_ENVIRONMENT"] != "development":
        raise click.ClickException("Codes are shown only when CHILD_INDEX_ENV=development")
    click.echo(code_at(_user(email).totp_secret, time.time()))


@sessions.command("purge")
def sessions_purge() -> None:
    """Delete ended and expired sessions, and failed attempts older than the lockout window."""
    removed_sessions, removed_attempts = purge_stale_rows()
    db.session.commit()
    click.echo(f"Removed {removed_sessions} session(s) and {removed_attempts} failed attempt(s)")


@children.command("refresh-keys")
@click.option("--batch", default=2000, show_default=True, help="Children read and written in one transaction.")
def children_refresh_keys(batch: int) -> None:
    """Store every record's blocking keys again from its details as held.

    Run it once after an upgrade that changes how keys are made (the release notes say so):
    until then, searches and loads miss candidates by the new keys. Safe to stop and rerun.
    """
    total = db.session.scalar(select(func.count()).select_from(Child).where(Child.merged_into_id.is_(None))) or 0
    done = stale = 0
    last = 0
    while ids := db.session.scalars(
        select(Child.id).where(Child.id > last, Child.merged_into_id.is_(None)).order_by(Child.id).limit(batch)
    ).all():
        writes = Writes(utcnow())
        for record in read_held(ids).values():
            if record_keys(record.person()) != record.blocking_keys:
                writes.keys_changed(record)
                stale += 1
        writes.flush()
        db.session.commit()
        done, last = done + len(ids), ids[-1]
        click.echo(f"{done:,} of {total:,} records checked, {stale:,} with keys refreshed", err=True)
    click.echo(f"Refreshed the blocking keys of {stale:,} of {done:,} records")


@click.command("demo")
@click.option("--children", "count", default=5000, show_default=True, help="How many synthetic children.")
@click.option("--credentials-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the demo sign-in details to this file.")
@click.option("--if-empty", is_flag=True, help="Do nothing, successfully, when the database holds data.")
def demo(count: int, credentials_file: Path | None, if_empty: bool) -> None:
    """Fill an empty database with demo organisations, one user per role and synthetic children."""
    from index_service.demo import load_demo

    if current_app.config["INDEX_ENVIRONMENT"] == "production":
        raise click.ClickException("Demo data is never loaded in production")
    if db.session.scalar(select(func.count()).select_from(Child)) or db.session.scalar(
        select(func.count()).select_from(User)
    ):
        if if_empty:
            click.echo("The database already holds data; no demo data added")
            return
        raise click.ClickException("The database already holds data; the demo fills only an empty one")
    lines = load_demo(count, progress=lambda done: click.echo(f"\r  {done}/{count} children", nl=False))
    db.session.commit()
    click.echo()
    text = "\n".join(lines)
    click.echo(text)
    if credentials_file:
        credentials_file.write_text(text + "\n", encoding="utf-8")
        credentials_file.chmod(0o600)


def register_commands(app: Flask) -> None:
    from index_service.audit.cli import audit
    from index_service.oauth.cli import clients
    from index_service.overrides.cli import overrides
    from index_service.sources.cli import sources

    sources.add_command(clients)
    app.cli.add_command(sources)
    app.cli.add_command(orgs)
    app.cli.add_command(users)
    app.cli.add_command(sessions)
    app.cli.add_command(children)
    app.cli.add_command(demo)
    app.cli.add_command(overrides)
    app.cli.add_command(audit)


def random_password() -> str:
    return secrets.token_urlsafe(12)
