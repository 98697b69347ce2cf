"""A helper process (a load's matching worker or extract reader, an audit verification worker)
ends when the process that started it has gone.

A parent stopped by `kill -9` cannot stop its helpers, and a helper waiting for work would
otherwise wait for ever. A leaf: nothing but the standard library, so that the trail's workers
and the loads' can both use it.
"""

from __future__ import annotations

import os
import threading
import time

CHECK_SECONDS = 1.0


def end_with_parent(parent: int) -> None:
    """Watch, in a thread of this process, that the parent process is still there; end this
    process at once when it is not (its parent is then another process)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
