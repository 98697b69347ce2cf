"""Extracts the service stores for its loads: where they are kept, how much an organisation may
keep, and when each goes.

A web upload or an API submission is copied to the upload folder, into a folder of the
organisation that sent it, so that the organisation's stored bytes are that folder's size
(uploads still being written included) and UPLOAD_QUOTA_BYTES caps them. A stored file is kept
only while a load needs it:

- while one of its loads is queued or running (a crashed load resumes from it);
- for UPLOAD_RETENTION_HOURS after a load of it failed (to resume it) or a dry run of it
  completed (to load it for real), counted from the file's modification time, which is set
  when a load of it stops;
- never once a real load of it has completed.

A file that no load names is what is left of an upload that failed: the request that stored it
deletes it (see keep and discard_unkept), and `sources uploads sweep` deletes any that a crash
left once it is ORPHAN_GRACE old. A file an operator gives the command line (`sources load FILE`)
is the operator's: it is never stored here, and never deleted.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

from flask import current_app, g, has_request_context
from sqlalchemy import select

from index_service.after_commit import after_commit
from index_service.database import utcnow
from index_service.extensions import db
from index_service.load_models import Load, LoadStatus

log = logging.getLogger(__name__)
CHUNK = 1 << 20
# An upload being written, or stored and not yet committed with its load, is named by no load:
# only one untouched for this long is the remains of a failed upload.
ORPHAN_GRACE = timedelta(hours=1)
ACTIVE = (LoadStatus.QUEUED, LoadStatus.RUNNING)
PENDING_KEY = "stored_uploads"


class QuotaExceeded(Exception):
    """Storing this upload would take its organisation's stored uploads past the quota."""

    def __init__(self, quota: int, stored: int, incoming: int, *, at_least: bool) -> None:
        self.quota, self.stored, self.incoming = quota, stored, incoming
        super().__init__(
            f"Your organisation's stored extracts would go over its limit of {size_text(quota)}: "
            f"{size_text(stored)} is stored now for loads that are waiting, running, stopped or checked, and "
            f"this file is {'at least ' if at_least else ''}{size_text(incoming)}. Send it again once those loads "
            "have finished or their files have expired."
        )


def size_text(size: int) -> str:
    """A number of bytes as people read it: 1.5 GB, 20 MB, 1,000 bytes."""
    for unit, step in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= step:
            return f"{size / step:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


def upload_folder() -> Path:
    folder = Path(current_app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def organisation_folder(organisation_id: int) -> Path:
    folder = upload_folder() / str(int(organisation_id))
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def stored_bytes(organisation_id: int, *, besides: Path | None = None) -> int:
    """What the organisation's stored uploads take now (other than `besides`), those being written included."""
    total = 0
    with os.scandir(organisation_folder(organisation_id)) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and entry.path != str(besides):
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue  # deleted as it was counted
    return total


def _check_room(organisation_id: int, incoming: int, target: Path | None, *, at_least: bool) -> None:
    quota = current_app.config["UPLOAD_QUOTA_BYTES"]
    stored = stored_bytes(organisation_id, besides=target)
    if stored + incoming > quota:
        raise QuotaExceeded(quota, stored, incoming, at_least=at_least)


def store(stream: BinaryIO, file_name: str, organisation_id: int, expected: int | None = None) -> Path:
    """Copy an upload into the organisation's folder, under a random name, in chunks.

    Refused (QuotaExceeded) as soon as it would take the organisation past its quota: at once
    when its size is known, or when the bytes read so far would. Any failure deletes what was
    written; in a request, the copy is deleted when the request ends unless `keep` was called
    and the request committed.
    """
    if expected is not None:
        _check_room(organisation_id, expected, None, at_least=False)
    suffix = Path(file_name).suffix.lower()[:10]
    target = organisation_folder(organisation_id) / f"{secrets.token_hex(16)}{suffix}"
    if has_request_context():
        g.setdefault(PENDING_KEY, set()).add(target)
    try:
        written = 0
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                # Counted afresh each chunk: other uploads of the organisation grow, or end, meanwhile.
                _check_room(organisation_id, written, target, at_least=True)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)  # over a limit, a bad body, or the sender went away: keep no part-file
        raise
    return target


def _kept(path: Path) -> None:
    g.get(PENDING_KEY, set()).discard(path)


def keep(path: Path) -> None:
    """Keep the stored upload once this request has committed the load that names it."""
    after_commit(partial(_kept, path))


def discard_unkept(_error: BaseException | None = None) -> None:
    """At the end of a request: delete every upload it stored that no committed load of it keeps
    (a refused file, a repeat, an error, or a commit that failed)."""
    for path in g.pop(PENDING_KEY, set()):
        path.unlink(missing_ok=True)


def is_stored(path: Path) -> bool:
    """Whether the service stored this file (and so may delete it); never an operator's own file."""
    return path.resolve().is_relative_to(upload_folder().resolve())


def stored_path(load: Load) -> Path | None:
    """The load's file, if the service stored it and still has it."""
    if not load.stored_path:
        return None
    path = Path(load.stored_path)
    return path if is_stored(path) and path.is_file() else None


def file_missing(load: Load) -> bool:
    """Whether the load's file is gone (deleted after its retention): it must be sent again to run."""
    return not load.stored_path or not Path(load.stored_path).is_file()


def adopt(load: Load, stored: Path) -> bool:
    """After begin_load: whether the load is a repeat (an unfinished load of the same file),
    keeping the stored copy if the load runs from it: a new load, or a repeat whose own copy has
    expired, which this copy resumes."""
    if load.stored_path == str(stored):
        keep(stored)
        return False
    if file_missing(load):
        load.stored_path = str(stored)
        keep(stored)
    return True


def _retention() -> timedelta:
    return timedelta(hours=current_app.config["UPLOAD_RETENTION_HOURS"])


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _naming(path: Path) -> list[Load]:
    return list(db.session.scalars(select(Load).where(Load.stored_path == str(path))))


def _waiting(loads: list[Load]) -> bool:
    """Whether a load of the file waits to be resumed or loaded for real (so its retention applies)."""
    loaded = any(load.status is LoadStatus.COMPLETED and not load.is_dry_run for load in loads)
    return any(
        load.status is LoadStatus.FAILED or (load.is_dry_run and load.status is LoadStatus.COMPLETED and not loaded)
        for load in loads
    )


def kept_until(load: Load) -> datetime | None:
    """When the load's stored file goes unless the load runs again (None: kept while the load
    is queued or running, already gone, or never the service's to delete)."""
    path = stored_path(load)
    if path is None or load.status in ACTIVE or not _waiting(_naming(path)):
        return None
    return _modified(path) + _retention()


def _delete(path: Path, loads: list[Load]) -> None:
    """Forget the file, then delete it (a crash in between leaves a file no load names, for the sweep)."""
    for load in loads:
        load.stored_path = None
    db.session.commit()
    path.unlink(missing_ok=True)


def _settle(path: Path, now: datetime) -> bool:
    """Delete the stored file if nothing needs it any longer; whether it was deleted."""
    loads = _naming(path)
    modified = _modified(path)
    if not loads:
        expired = modified + ORPHAN_GRACE <= now
    elif any(load.status in ACTIVE for load in loads):
        expired = False
    else:
        expired = not _waiting(loads) or modified + _retention() <= now
    if expired:
        _delete(path, loads)
    return expired


def load_stopped(load: Load) -> None:
    """After a load has completed or failed (and committed so): delete its stored file if no load
    needs it, or start the file's retention."""
    try:
        path = stored_path(load)
        if path is not None:
            os.utime(path)
            _settle(path, utcnow())
    except FileNotFoundError:
        pass  # deleted meanwhile (by the sweep, or a load of the same file)
    except OSError:
        # The load's outcome stands whatever becomes of its file; the sweep deletes it later.
        log.warning("could not delete or date the stored extract of load %s", load.id, exc_info=True)
    finally:
        # End the transaction that read the load and its file's loads: on SQLite it holds the write
        # lock until then, and the load's caller may hand the database to other connections.
        db.session.commit()


@dataclass(frozen=True)
class Swept:
    deleted: int
    freed: int
    kept: int


def _stored_files() -> Iterator[Path]:
    for path in sorted(upload_folder().rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def sweep(now: datetime | None = None) -> Swept:
    """Delete every stored upload that nothing needs any longer (see the module's docstring)."""
    now = now or utcnow()
    deleted = freed = kept = 0
    for path in _stored_files():
        try:
            size = path.stat().st_size
            if _settle(path, now):
                deleted, freed = deleted + 1, freed + size
            else:
                kept += 1
        except FileNotFoundError:
            continue  # deleted meanwhile by the request or load that had it
    return Swept(deleted, freed, kept)
