"""Command line: `flask --app wsgi orgs ...`, `users ...`, `demo`."""

from __future__ import annotations

import sys
import time
from datetime import date, datetime
from pathlib import Path

import click
import segno
from flask import Flask, current_app
from sqlalchemy import func, select

from accreditation.permissions import Role
from index_service.accounts.operations import AccountRefused, add_user, record_checks
from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.auth.sessions import purge_stale_rows
from index_service.auth.tokens import revoke_token
from index_service.auth.totp import code_at, provisioning_uri
from index_service.children.held import read_held
from index_service.children.models import Child
from index_service.children.writes import Writes
from index_service.database import utc_today, utcnow
from index_service.extensions import db
from index_service.organisation_models import OrganisationType
from index_service.organisations.operations import (
    OrganisationRefused,
    accredit,
    add_organisation,
    organisation_named,
)
from matching.blocking import record_keys

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user has the email address {email}")
    return user


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def show_provisioning(user: User) -> None:
    assert user.totp_secret is not None
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
    try:
        add_organisation(name, OrganisationType(kind), phone)
    except OrganisationRefused as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Added organisation {name}")


@orgs.command("accredit")
@click.argument("name")
@click.option("--until", "until", required=True, type=DATE, help="The day the accreditation expires (YYYY-MM-DD).")
def orgs_accredit(name: str, until: datetime) -> None:
    """Accredit an organisation from the server (bootstrapping the index team's own); the index team
    accredits the others against the criteria in the web UI."""
    try:
        organisation = organisation_named(name)
    except OrganisationRefused as error:
        raise click.ClickException(str(error)) from error
    if until.date() <= utc_today():
        raise click.ClickException("The accreditation must expire after today")
    accredit(organisation, until.date())
    record_event(
        AuditTag.ORGANISATION_ACCREDIT,
        organisation_id=organisation.id,
        details={"organisation_id": organisation.id, "until": until.date().isoformat(), "by": "command line"},
    )
    db.session.commit()
    click.echo(f"Accredited {organisation.name} until {until.date().isoformat()}")


checks_options = (
    click.option("--vetting-expires", type=DATE, help="The day the enhanced vetting check expires (YYYY-MM-DD)."),
    click.option("--trained-on", type=DATE, help="The day the person completed training."),
    click.option("--approved-on", type=DATE, help="The day their manager approved their access."),
)


def _with_checks(command):  # type: ignore[no-untyped-def]
    for option in reversed(checks_options):
        command = option(command)
    return command


@users.command("add")
@click.argument("email")
@click.option("--org", "org_name", required=True, help="The organisation's exact name.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", "display_name", help="The person's name (defaults to the email address).")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
@_with_checks
def users_add(
    email: str,
    org_name: str,
    roles: tuple[str, ...],
    display_name: str | None,
    password_stdin: bool,
    vetting_expires: datetime | None,
    trained_on: datetime | None,
    approved_on: datetime | None,
) -> None:
    """Add a user and print the two-factor provisioning URI for their authenticator app."""
    password = sys.stdin.readline().rstrip("\n")
    try:
        user = add_user(email, organisation_named(org_name), [Role(r) for r in roles], password, display_name or email)
    except (OrganisationRefused, AccountRefused) as error:
        raise click.ClickException(str(error)) from error
    record_checks(user, _day(vetting_expires), _day(trained_on), _day(approved_on))
    db.session.commit()
    click.echo(f"Added user {user.email} ({', '.join(sorted(r.value for r in user.roles))})")
    show_provisioning(user)


@users.command("checks")
@click.argument("email")
@_with_checks
def users_checks(
    email: str, vetting_expires: datetime | None, trained_on: datetime | None, approved_on: datetime | None
) -> None:
    """Record a person's checks from the server (user administrators do it in the web UI)."""
    user = _user(email)
    record_checks(user, _day(vetting_expires), _day(trained_on), _day(approved_on))
    record_event(
        AuditTag.ACCOUNT_CHANGE,
        organisation_id=user.organisation_id,
        target_ids=[str(user.id)],
        details={"by": "command line", "checks": True},
    )
    db.session.commit()
    decision = user.access(utc_today())
    click.echo(f"{user.email}: " + ("may sign in" if decision.allowed else decision.message))


@users.command("close")
@click.argument("email")
def users_close(email: str) -> None:
    """Close an account: the user cannot sign in, their token is revoked and every session ends at once."""
    user = _user(email)
    user.is_active = False
    user.closed_at = utcnow()
    ended = revoke_token(user)
    record_event(
        AuditTag.ACCOUNT_CLOSE,
        organisation_id=user.organisation_id,
        target_ids=[str(user.id)],
        details={"by": "command line", "sessions_ended": ended},
    )
    db.session.commit()
    click.echo(f"Closed {user.email}; ended {ended} session(s)")


@users.command("code")
@click.argument("email")
def users_code(email: str) -> None:
    """Print a user's current security code (local development only)."""
    if current_app.config["INDEX_ENVIRONMENT"] != "development":
        raise click.ClickException("Codes are shown only when CHILD_INDEX_ENV=development")
    secret = _user(email).totp_secret
    if secret is None:
        raise click.ClickException("This user has no two-factor token enrolled")
    click.echo(code_at(secret, time.time()))


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


@children.command("find-duplicates")
@click.option("--limit", type=click.IntRange(min=1), help="Compare at most this many new candidate pairs (a trial).")
@click.option("--dry-run", is_flag=True, help="Compare and count only: no item is made, no event written.")
def children_find_duplicates(limit: int | None, dry_run: bool) -> None:
    """Compare held records with each other, as a load compares a row, and put each pair that may be
    one child in the review queue ("possible duplicate found by the sweep").

    Safe to run on a schedule, and from two machines at once: one sweep runs at a time, and a pair
    is proposed once, whatever was decided. Counts only are printed and audited.
    """
    from index_service.duplicates.sweep import MAX_BLOCK, SweepBusy, find_duplicates

    try:
        counts = find_duplicates(limit=limit, dry_run=dry_run, progress=lambda line: click.echo(line, err=True))
    except SweepBusy as busy:
        click.echo(str(busy))
        return
    made = "would be made" if dry_run else "made"
    click.echo(
        f"{counts.pairs_compared:,} pairs compared in {counts.seconds:,.1f} s: {counts.items_made:,} possible "
        f"duplicates {made} ({counts.shielded_items:,} with a shielded record), {counts.twins:,} twin pairs not "
        f"proposed, {counts.already_known:,} pairs proposed or merged before, {counts.pairs_skipped:,} pairs "
        f"skipped in {counts.blocks_skipped:,} blocks of over {MAX_BLOCK} records"
        + (" (stopped at --limit)" if counts.limited else "")
    )


@click.command("demo")
@click.option("--children", "count", default=5000, show_default=True, help="How many synthetic children.")
@click.option(
    "--credentials-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the demo sign-in details to this file.",
)
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
    from index_service.overrides.cli import overrides
    from index_service.sources.cli import sources
    from index_service.sources.clients_cli import clients

    sources.add_command(clients)
    app.cli.add_command(sources)
    app.cli.add_command(orgs)
    app.cli.add_command(users)
    app.cli.add_command(sessions)
    app.cli.add_command(children)
    app.cli.add_command(demo)
    app.cli.add_command(overrides)
    app.cli.add_command(audit)
