"""Loads that run in the background, each in its own process.

A web upload or an API call stores the file (sources.uploads) and queues a load; a separate
process applies it, so a web worker is never tied up and a restarted worker loses nothing: the
load row holds its position, and `sources work` (or the next start of the same load) carries on from there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

from flask import current_app

from index_service.after_commit import after_commit
from index_service.load_models import Load, LoadStatus
from index_service.sources.extract import open_extract


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
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
