"""Loads that run in the background: the file kept under the instance folder, the work in its own process.

A web upload or an API call stores the file and queues a load; a separate process applies it,
so a web worker is never tied up and a restarted worker loses nothing: the load row holds
its position, and `sources work` (or the next start of the same load) carries on from there.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from index_service.after_commit import after_commit
from index_service.sources.extract import open_extract
from index_service.sources.models import Load, LoadStatus

CHUNK = 1 << 20


def upload_folder() -> Path:
    folder = Path(current_app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(stream: BinaryIO, file_name: str) -> Path:
    """Copy an uploaded file to the instance folder, under a random name, in chunks."""
    suffix = Path(file_name).suffix.lower()[:10]
    target = upload_folder() / f"{secrets.token_hex(16)}{suffix}"
    try:
        with target.open("wb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)  # over the size limit, or the sender went away: keep no part-file
        raise
    target.chmod(0o600)
    return target


def check_header(stored: Path, fmt: str) -> None:
    """Read the header now, so a file that cannot load at all is refused at once (ExtractError), not later."""
    with stored.open("rb") as stream:
        open_extract(stream, fmt)


def start_after_commit(load: Load, *, repeat: bool) -> None:
    """Run the load in a process of its own once this request has committed it: a new load, or a failed one.

    A repeat of a load still queued or running is left to the process that has it (a retry after
    a time-out must not start a second one); `sources work` finishes any load left behind.
    """
    if repeat and load.status is not LoadStatus.FAILED:
        return
    if load.status is LoadStatus.FAILED:
        load.status, load.error = LoadStatus.QUEUED, None  # resumes (a dry run starts again)
    after_commit(partial(start_in_background, load))


def start_in_background(load: Load) -> None:
    """Run `flask sources run-load ID` in its own process, detached from this request."""
    if current_app.config.get("LOADS_RUN_INLINE"):
        return
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": current_app.config["SQLALCHEMY_DATABASE_URI"]}
    subprocess.Popen(  # noqa: S603 - our own command with an id we made
        [sys.executable, "-m", "flask", "--app", "wsgi", "sources", "run-load", str(load.id)],
        cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
