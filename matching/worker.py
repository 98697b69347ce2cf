"""What a load's helper process (a matching worker, the extract's reader) runs beside its work:
it ends when the load that started it has gone.

A load stopped by `kill -9` cannot stop its helpers; a matching worker would otherwise wait for
work for ever. Here: nothing but the standard library, so a worker still imports only matching.
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
