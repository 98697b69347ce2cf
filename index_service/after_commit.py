"""Work that waits for the request's one commit: run only if it succeeded, never before.

Starting a process that reads what the request wrote (a background load, say) must wait until
the write is committed, or the process would not find it; and if the commit fails, the work
must not start at all. A failure of the work itself is logged: what the request committed
stands, and `flask sources work` finishes any load left queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import g

log = logging.getLogger(__name__)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once this request's transaction has been committed."""
    g.setdefault("after_commit", []).append(callback)


def run_after_commit() -> None:
    """Called by the request pipeline straight after its commit."""
    for callback in g.pop("after_commit", []):
        try:
            callback()
        except Exception:
            log.exception("work queued for after the commit failed; the committed request stands")


def discard_after_commit() -> None:
    """Called by the request pipeline when it rolls back: nothing queued may run."""
    g.pop("after_commit", None)
