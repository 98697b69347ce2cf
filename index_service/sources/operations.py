"""Operations on loads that pages, the API and commands share: submitting an extract, loading a dry
run for real, resuming, and what the data administrator's pages read.

Both ways an extract arrives, the upload page (sources.blueprint) and POST /api/v1/sources/ID/loads
(sources.api), go through `store_upload` and then `submit`: the file is streamed to its
organisation's upload folder, its header checked at once, and its load queued (or the unfinished
load of the same file found, to carry on) to start in a process of its own once the request has
committed. Views only parse the request, call these and answer; they turn the errors raised here
(ExtractError, uploads.QuotaExceeded, LoadConflict, FileGone) into a form error, a flash message
or a 4xx. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select

from index_service.audit.events import record_event
from index_service.audit.models import AuditTag
from index_service.auth.models import User
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadStatus
from index_service.oauth.models import OAuthClient
from index_service.oauth.operations import client_details
from index_service.sources import jobs, uploads
from index_service.sources.extract import ExtractError
from index_service.sources.loading import run as load_run
from index_service.sources.models import DataSource

NO_LONGER_STORED = (
    "The file is no longer stored: upload it again (a stopped load of the same file carries on from where it stopped)"
)


class LoadConflict(Exception):
    """The load is not in a state for what was asked (a 409); the message says why."""


class FileGone(Exception):
    """The load's stored file has been deleted after its retention: it must be uploaded again."""

    def __init__(self) -> None:
        super().__init__(NO_LONGER_STORED)


@dataclass(frozen=True)
class Submitted:
    load: Load
    # The unfinished load of the same file, carried on rather than started twice; this upload's copy
    # is deleted at the end of the request unless that load's own copy had expired.
    repeat: bool


def store_upload(source: DataSource, stream: BinaryIO, file_name: str, *, expected: int | None = None) -> Path:
    """The upload, streamed into the folder of the source's organisation (uploads.QuotaExceeded past its quota)."""
    return uploads.store(stream, file_name, source.organisation_id, expected=expected)


def submit(
    source: DataSource,
    stored: Path,
    fmt: str,
    kind: LoadKind,
    *,
    file_name: str,
    dry_run: bool,
    user: User | None = None,
    client: OAuthClient | None = None,
) -> Submitted:
    """Queue the load of a stored upload: a new load, or the unfinished one of the same file.

    ExtractError if the file cannot load at all (its header) or the source is inactive. The load
    starts once the request has committed. A source system's submission (`client`) is audited
    here as load:submit; a person's upload is audited when its load starts (load:start).
    """
    jobs.check_header(stored, fmt)
    load = load_run.begin_load(source, stored, kind, file_name=file_name, dry_run=dry_run, user=user)
    repeat = uploads.adopt(load, stored)
    jobs.start_after_commit(load, repeat=repeat)
    if client is not None:
        record_event(
            AuditTag.LOAD_SUBMIT,
            details={
                **client_details(client),
                "load_id": load.id,
                "file_name": load.file_name,
                "file_sha256": load.file_sha256,
                "kind": load.kind.value,
                "dry_run": load.is_dry_run,
                "repeat": repeat,
            },
            organisation_id=client.source.organisation_id,
        )
    return Submitted(load, repeat)


def load_for_real(dry_run: Load, user: User) -> Load:
    """The same stored file as a completed dry run, loaded for real (LoadConflict, FileGone)."""
    if not dry_run.is_dry_run or dry_run.status is not LoadStatus.COMPLETED:
        raise LoadConflict("Only a completed dry run can be loaded for real from this page.")
    if uploads.file_missing(dry_run):
        raise FileGone
    stored = Path(dry_run.stored_path or "")
    try:
        real = load_run.begin_load(
            dry_run.source, stored, dry_run.kind, file_name=dry_run.file_name, dry_run=False, user=user
        )
    except (ExtractError, OSError) as error:
        raise FileGone from error
    uploads.adopt(real, stored)  # an unfinished load whose own copy expired runs from this one
    jobs.start_after_commit(real, repeat=real.started_at is not None)
    return real


def resume(load: Load) -> None:
    """Start a stopped load again from where it stopped (LoadConflict, FileGone)."""
    if load.status is not LoadStatus.FAILED:
        raise LoadConflict("Only a load that stopped can be resumed.")
    if uploads.file_missing(load):
        raise FileGone
    jobs.start_after_commit(load, repeat=True)


def record_report_view(
    load: Load, *, user: User | None = None, form: str | None = None, client: OAuthClient | None = None
) -> None:
    """The load:report:view event: a person's (with the form: page or csv), or a source system's."""
    if client is not None:
        record_event(
            AuditTag.LOAD_REPORT_VIEW,
            details={**client_details(client), "load_id": load.id},
            organisation_id=client.source.organisation_id,
        )
    else:
        record_event(AuditTag.LOAD_REPORT_VIEW, user=user, details={"load_id": load.id, "format": form})


# What the pages read.


def load_by_id(load_id: int) -> Load | None:
    return db.session.get(Load, load_id)


def last_loads(source_ids: Sequence[int]) -> dict[int, Load]:
    """The latest load of each of these sources, by source id."""
    if not source_ids:
        return {}
    latest = select(func.max(Load.id)).where(Load.source_id.in_(source_ids)).group_by(Load.source_id).scalar_subquery()
    return {load.source_id: load for load in db.session.scalars(select(Load).where(Load.id.in_(latest)))}


def recent_loads(organisation_id: int, limit: int) -> list[Load]:
    """The organisation's latest loads, of any of its sources, newest first."""
    return list(
        db.session.scalars(
            select(Load)
            .join(DataSource)
            .where(DataSource.organisation_id == organisation_id)
            .order_by(Load.id.desc())
            .limit(limit)
        )
    )


def source_loads(source: DataSource, limit: int) -> list[Load]:
    """The source's latest loads, newest first."""
    return list(
        db.session.scalars(select(Load).where(Load.source_id == source.id).order_by(Load.id.desc()).limit(limit))
    )
