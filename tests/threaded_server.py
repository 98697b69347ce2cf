"""A WSGI app served from a thread on loopback, for tests that need a real HTTP server."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def serving_in_thread(
    app: Any, name: str, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[int]:
    """The app served on a free port of `host` while the block runs; its port. Stopped and closed after."""
    server = make_server(host, 0, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
