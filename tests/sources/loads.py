"""Helpers for load tests: extract files written from dicts, a registered source, a load run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from index_service.children.models import Child, IdentifierKind, Service, SourceIdentifier
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadRow
from index_service.organisation_models import Organisation, OrganisationType
from index_service.sources import uploads as uploads_module
from index_service.sources.loading.dry_run import SCRATCH_PREFIX
from index_service.sources.loading.run import begin_load, run_load
from index_service.sources.models import DataSource, SourceKind
from index_service.sources.registry import register_source
from tests.factories import make_organisation

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 26)
COLUMNS = (
    "source_record_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "gender",
    "middle_names",
    "nhs_number",
    "upn",
    "address_line1",
    "town",
    "postcode",
    "parent_carer_name",
    "parent_carer_phone",
    "practitioner_name",
    "practitioner_phone",
)


def row(source_record_id: str, **values: str) -> dict[str, str]:
    """A valid row for a boy called Oliver Bennett unless told otherwise."""
    base = {
        "source_record_id": source_record_id,
        "given_name": "Oliver",
        "family_name": "Bennett",
        "date_of_birth": "2016-03-27",
        "gender": "m",
        "address_line1": "12 Meadow Lane",
        "town": "Leeds",
        "postcode": "LS6 2AB",
        "parent_carer_name": "Sarah Bennett",
        "parent_carer_phone": "07700 900123",
    }
    base.update(values)
    return base


def _letters(number: int) -> str:
    text = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        text += chr(ord("a") + digit)
    return text


def distinct_children(prefix: str, count: int) -> list[dict[str, str]]:
    """Rows of `count` children plainly not one another: names, dates of birth and houses apart."""
    born = date(2009, 1, 1)
    return [
        row(
            f"{prefix}{n}",
            given_name="Kit" + _letters(n),
            family_name="Stone" + _letters(n * 7 + 3),
            date_of_birth=(born + timedelta(days=n % 6000)).isoformat(),
            address_line1=f"{n} Long Road",
            postcode="",
            parent_carer_name="",
        )
        for n in range(count)
    ]


def load_command(app: Flask, source_name: str, path: Path, **settings: str) -> subprocess.Popen[bytes]:
    """`flask sources load SOURCE FILE` in a process of its own on the app's database (batches of 100
    unless a setting says otherwise), its output and errors in one pipe."""
    env = {
        **os.environ,
        "CHILD_INDEX_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LOAD_BATCH_ROWS": "100",
        **settings,
    }
    return subprocess.Popen(  # noqa: S603 - our own command line, with arguments we made
        [sys.executable, "-m", "flask", "--app", "wsgi", "sources", "load", source_name, str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def rerun_resumes(app: Flask, source_name: str, path: Path, **settings: str) -> None:
    """The same command again, after an interruption: it says it resumes and finishes."""
    rerun = load_command(app, source_name, path, **settings)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and "Resuming load" in output.decode(), output.decode()
    db.session.rollback()


def uploads_kept_in(folder: Path, app: Flask, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads stored in the test's own folder (made here), and loads run only when a test runs them."""
    folder.mkdir()
    monkeypatch.setattr(uploads_module, "upload_folder", lambda: folder)
    monkeypatch.setitem(app.config, "LOADS_RUN_INLINE", True)
    return folder


def stored_files(folder: Path) -> list[Path]:
    """The files stored in an upload folder (under each organisation's folder)."""
    return sorted(path for path in folder.rglob("*") if path.is_file())


def write_extract(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = list(COLUMNS) + sorted({key for r in rows for key in r} - set(COLUMNS))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for item in rows:
            writer.writerow(item)
    return path


def make_source(
    name: str = "Leeds school census",
    service: Service = Service.EDUCATION,
    organisation: Organisation | None = None,
) -> DataSource:
    organisation = organisation or make_organisation(kind=OrganisationType.SCHOOL)
    source = register_source(
        name, organisation, SourceKind.SCHOOL_CENSUS, service, involvement_role="Designated safeguarding lead"
    )
    db.session.commit()
    return source


def supplied_by(child: Child, organisation: Organisation) -> Child:
    """Mark a child as supplied by a source of this organisation (as any load would)."""
    source = db.session.scalar(select(DataSource).where(DataSource.organisation_id == organisation.id))
    source = source or make_source(f"Source of {organisation.name}", organisation=organisation)
    child.identifiers.append(SourceIdentifier(kind=IdentifierKind.SOURCE_RECORD, value=f"R{child.id}", source=source))
    db.session.commit()
    return child


def load_file(source: DataSource, path: Path, kind: LoadKind = LoadKind.DELTA, dry_run: bool = False) -> Load:
    load = begin_load(source, path, kind, dry_run=dry_run)
    db.session.commit()
    return run_load(load, today=TODAY)


def outcomes(load: Load) -> dict[str, str]:
    """source_record_id -> outcome for every report row of the load."""
    rows = db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id).order_by(LoadRow.row_number))
    return {r.source_record_id or f"row {r.row_number}": r.outcome.value for r in rows}


def scratch_in(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Callable[[], list[Path]]:
    """Make dry runs spill to scratch files in this directory (tempfile's, for this test); the
    function lists the scratch files there at the moment."""
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return lambda: sorted(directory.glob(f"{SCRATCH_PREFIX}*/*"))
