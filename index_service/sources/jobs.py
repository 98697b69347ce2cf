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
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from index_service.auth.models import User
from index_service.children.models import DataSource
from index_service.sources.loading import begin_load
from index_service.sources.models import Load, LoadKind

CHUNK = 1 << 20


def upload_folder() -> Path:
    folder = Path(current_app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_upload(stream: BinaryIO, file_name: str) -> Path:
    """Copy an uploaded file to the instance folder, under a random name, in chunks."""
    suffix = Path(file_name).suffix.lower()[:10]
    target = upload_folder() / f"{secrets.token_hex(16)}{suffix}"
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
    target.chmod(0o600)
    return target


def queue_load(
    source: DataSource, stored: Path, file_name: str, kind: LoadKind, *, dry_run: bool, user: User | None
) -> Load:
    """The load of an uploaded file, ready for a background process (or the unfinished one to resume)."""
    return begin_load(source, stored, kind, dry_run=dry_run, user=user, file_name=file_name)


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
