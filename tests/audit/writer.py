"""A process of its own writing audit events, one transaction each: `python -m tests.audit.writer COUNT PREFIX`."""

from __future__ import annotations

import sys

from index_service import create_app
from tests.audit.support import write_events

if __name__ == "__main__":
    app = create_app()
    with app.app_context():
        write_events(int(sys.argv[1]), prefix=sys.argv[2])
