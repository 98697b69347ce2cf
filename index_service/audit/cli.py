"""`flask --app wsgi audit verify` and `audit prune`."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import click
from flask import current_app

from index_service.audit import retention
from index_service.audit.chain import checkpoint_key
from index_service.audit.verify import verify
from index_service.audit.verify_workers import VerificationStopped
from index_service.database import read_snapshot, utcnow
from index_service.extensions import db

audit = click.Group("audit", help="The audit trail: verify the hash chain, remove events past retention.")


@audit.command("verify")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="the CPU count",
    help="Processes that walk stretches of the chain at once; 1 walks it in this process.",
)
def audit_verify(workers: int) -> None:
    """Walk the hash chain and its signed checkpoints; exit 1 at the first broken link."""
    with db.engine.connect() as connection:
        try:
            result = verify(read_snapshot(connection), checkpoint_key(), workers=workers)
        except VerificationStopped as error:
            raise click.ClickException(str(error)) from error
    for note in result.notes:
        click.echo(note)
    summary = (
        f"{result.events:,} events checked (positions {result.first_position:,} to "
        f"{result.last_position:,}), {result.checkpoints:,} signed checkpoints, in {result.seconds:.2f} s "
        f"({result.rate:,.0f} events/s), by {result.processes} "
        f"{'process' if result.processes == 1 else 'processes'}"
    )
    if result.broken:
        click.echo(f"BROKEN at {result.broken}", err=True)
        click.echo(summary, err=True)
        sys.exit(1)
    click.echo(f"The audit chain is intact: {summary}")


@audit.command("prune")
@click.option("--days", type=click.IntRange(min=1), help="Keep this many days (default: AUDIT_RETENTION_DAYS).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed, and remove nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=retention.BATCH,
    show_default=True,
    help="Events removed in each transaction.",
)
def audit_prune(days: int | None, dry_run: bool, batch_size: int) -> None:
    """Remove the events older than the retention period, a batch a transaction, leaving a signed checkpoint
    where the chain now starts."""
    kept_days = days or current_app.config["AUDIT_RETENTION_DAYS"]
    before = utcnow() - timedelta(days=kept_days)
    if dry_run:
        pruned = retention.prune(before, dry_run=True)
        db.session.rollback()
        click.echo(f"Would remove {pruned.removed:,} events older than {kept_days:,} days")
        return
    removed, batches, through = 0, 0, None
    while (pruned := retention.prune(before, limit=batch_size)).removed:
        db.session.commit()
        removed, batches, through = removed + pruned.removed, batches + 1, pruned.through_position
    db.session.rollback()  # the last look found nothing more, and wrote nothing
    if through is None:
        click.echo(f"No events are older than {kept_days:,} days")
        return
    click.echo(
        f"Removed {removed:,} events older than {kept_days:,} days, through position {through:,}, in "
        f"{batches:,} {'batch' if batches == 1 else 'batches'}; a signed checkpoint marks where the chain "
        "now starts"
    )
