"""`flask --app wsgi overrides summary`: the daily list of emergency overrides waiting for review.

Meant for a daily job that mails the output to the auditors. Like the dashboard, it carries
references and people, never the child's details.
"""

from __future__ import annotations

import click

from index_service.database import utcnow
from index_service.filters import date_time
from index_service.overrides.operations import Listed, open_overrides

overrides = click.Group("overrides", help="Emergency overrides of shielded records.")

STATE_TEXT = {"ready": "not yet shown", "used": "record shown", "expired": "expired unseen"}


def summary_line(listed: Listed) -> str:
    override = listed.override
    line = (
        f"{override.reference}  {date_time(override.created_at)}  {override.user.email} "
        f"({override.organisation.name})  {override.reason.label}; {STATE_TEXT[listed.state.value]}"
    )
    if listed.is_repeated:
        line += f"  REPEATED: {listed.repeats} by this user within a day"
    return line


@overrides.command("summary")
def summary() -> None:
    """List every emergency override not yet reviewed, oldest first."""
    now = utcnow()
    waiting = open_overrides(now)
    click.echo(f"Emergency overrides waiting for review on {date_time(now)}: {len(waiting)}")
    for listed in waiting:
        click.echo("  " + summary_line(listed))
