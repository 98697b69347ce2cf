"""Command line: `flask --app wsgi sources add | list | load | run-load | work | uploads sweep`."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

import click
from sqlalchemy import select

from index_service.children.models import Service
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadStatus
from index_service.organisations.operations import OrganisationRefused, organisation_named
from index_service.sources.claims import WAITING, loading_turn
from index_service.sources.extract import ExtractError
from index_service.sources.loading.run import begin_load, resumes_after, run_load
from index_service.sources.models import DataSource, SourceKind
from index_service.sources.registry import SourceError, register_source, source_named
from index_service.sources.report import report_csv, summary_lines
from index_service.sources.uploads import file_missing, size_text, sweep

sources = click.Group("sources", help="Data sources and their bulk loads.")
uploads = click.Group("uploads", help="The extracts stored for web and API loads.")
sources.add_command(uploads)


@sources.command("add")
@click.argument("name")
@click.option("--org", "org_name", required=True, help="The organisation that owns and runs the source.")
@click.option(
    "--involvement",
    "service",
    required=True,
    type=click.Choice([s.value for s in Service]),
    help="The involvement each row implies (the school, GP practice, social care team...).",
)
@click.option("--involvement-org", help="The organisation the involvement is with (defaults to --org).")
@click.option("--role", help="The practitioner role shown when a row gives none, e.g. 'Designated safeguarding lead'.")
@click.option(
    "--kind",
    default=SourceKind.OTHER.value,
    show_default=True,
    type=click.Choice([k.value for k in SourceKind]),
    help="The kind of system.",
)
def sources_add(
    name: str, org_name: str, service: str, involvement_org: str | None, role: str | None, kind: str
) -> None:
    """Register a data source."""
    try:
        organisation = organisation_named(org_name)
        involvement_organisation = organisation_named(involvement_org) if involvement_org else organisation
    except OrganisationRefused as error:
        raise click.ClickException(str(error)) from error
    try:
        source = register_source(name, organisation, SourceKind(kind), Service(service), involvement_organisation, role)
    except SourceError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(
        f"Added data source {source.name} (id {source.id}) for {organisation.name}: "
        f"each row is a {Service(service).label.lower()} involvement with {involvement_organisation.name}"
    )


@sources.command("list")
def sources_list() -> None:
    """List the registered data sources."""
    for source in db.session.scalars(select(DataSource).order_by(DataSource.name)):
        state = "active" if source.is_active else "inactive"
        click.echo(f"{source.id:>4}  {source.name}  ({source.organisation.name}; {source.service.label}; {state})")


class _ProgressBar:
    """Rows, rate and time left, redrawn in place on a terminal and every 10% elsewhere."""

    def __init__(self, out: TextIO, expected: int | None, already: int) -> None:
        self.out, self.expected, self.already = out, expected, already
        self.started = time.monotonic()
        self.last_tenth = -1

    def __call__(self, load: Load) -> None:
        done = load.rows_done
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self.already) / elapsed
        expected = max(self.expected or done, done)
        share = done / expected if expected else 1.0
        left = (expected - done) / rate if rate > 0 else 0.0
        width = 30
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        line = f"[{bar}] {done:,}/{expected:,} rows  {rate:,.0f} rows/s  {int(left // 60)}m{int(left % 60):02d}s left"
        if self.out.isatty():
            self.out.write("\r" + line)
        elif int(share * 10) != self.last_tenth:
            self.last_tenth = int(share * 10)
            self.out.write(line + "\n")
        self.out.flush()


def _say_waiting() -> None:
    click.echo(WAITING, err=True)
    db.session.rollback()  # hold no transaction (nor, on SQLite, its read snapshot) while waiting


def _run_in_turn(load: Load) -> bool:
    """Run the load once no other is being applied; False if another process finished it meanwhile."""
    with loading_turn(_say_waiting):
        db.session.refresh(load)
        if load.status is LoadStatus.COMPLETED:
            return False
        run_load(load)
    return True


@sources.command("run-load")
@click.argument("load_id", type=int)
def sources_run_load(load_id: int) -> None:
    """Run (or resume) a queued load by its id: what a web upload or an API call starts."""
    load = db.session.get(Load, load_id)
    if load is None:
        raise click.ClickException(f"No load has the id {load_id}")
    if not _run_in_turn(load):
        click.echo(f"Load {load_id} is already complete")
        return
    for line in summary_lines(load):
        click.echo(line)


@sources.command("work")
def sources_work() -> None:
    """Finish every queued or interrupted load, oldest first (after a restart, say)."""
    pending = db.session.scalars(select(Load).where(Load.status != LoadStatus.COMPLETED).order_by(Load.id)).all()
    failed = 0
    for load in pending:
        click.echo(f"Load {load.id}: {load.file_name} for {load.source.name}, from row {resumes_after(load) + 1:,}")
        if file_missing(load):
            failed += 1
            click.echo(
                "  could not finish: its file is no longer stored; send the same file again to resume it", err=True
            )
            continue
        try:
            _run_in_turn(load)
        except (OSError, ExtractError) as error:
            failed += 1
            click.echo(f"  could not finish: {error}", err=True)
    click.echo(f"{len(pending) - failed} load(s) finished, {failed} could not be")


@sources.command("load")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--full",
    "kind",
    flag_value=LoadKind.FULL.value,
    help="The source's whole caseload: its involvements not in the file are ended.",
)
@click.option(
    "--delta", "kind", flag_value=LoadKind.DELTA.value, default=True, help="Only additions and updates (the default)."
)
@click.option("--dry-run", is_flag=True, help="Check the file and predict the outcome without changing the index.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report (one line per input row) to this CSV file.",
)
def sources_load(name: str, file: Path, kind: str, dry_run: bool, report: Path | None) -> None:
    """Load an extract (CSV or JSON lines) for a data source; rerun the same command to resume."""
    source = source_named(name)
    if source is None:
        raise click.ClickException(f"No data source is called {name!r}; see: sources list")
    try:
        with nullcontext() if dry_run else loading_turn(_say_waiting):
            load = begin_load(source, file.resolve(), LoadKind(kind), dry_run=dry_run)
            db.session.commit()
            if resumes_after(load):
                click.echo(f"Resuming load {load.id} after row {load.rows_done:,}", err=True)
            elif load.rows_done:
                click.echo(
                    f"Dry run {load.id} stopped after row {load.rows_done:,}; it starts again from the first "
                    "row (what its earlier rows would have done is not kept)",
                    err=True,
                )
            run_load(load, progress=_ProgressBar(sys.stderr, load.rows_expected, resumes_after(load)))
    except ExtractError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    if sys.stderr.isatty():
        click.echo(err=True)
    for line in summary_lines(load):
        click.echo(line)
    if report:
        with report.open("w", newline="", encoding="utf-8") as out:
            for chunk in report_csv(load.id):
                out.write(chunk)
        click.echo(f"Report written to {report}")


@uploads.command("sweep")
def uploads_sweep() -> None:
    """Delete the stored extracts no load needs any longer (run it every hour, say)."""
    swept = sweep()
    click.echo(
        f"Deleted {swept.deleted} stored extract(s), {size_text(swept.freed)}; kept {swept.kept} that a "
        "load still needs"
    )
