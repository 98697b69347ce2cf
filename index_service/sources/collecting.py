"""Python's cycle collector run between units of work (a load's batches, a matching worker's
tasks: sources.loading.run, sources.pool) rather than whenever it likes.

A unit makes many objects, nearly all freed when it ends; left to itself the collector runs again
and again meanwhile, rescanning the long-lived objects (the app, matching's name caches) each
time. Here what is held at the start is set aside (frozen), each unit's prepared people are
forgotten and its young objects collected after it, and everything every so many units, so that
no garbage cycle outlives a few.
"""

from __future__ import annotations

import gc

from matching.levels import forget_prepared


class CollectedBetween:
    """From its making, the collector off but after each unit (see the module's docstring)."""

    def __init__(self, full_every: int) -> None:
        self.full_every = full_every
        self.done = 0
        gc.collect()
        gc.freeze()
        gc.disable()

    def after(self) -> None:
        """One unit done: its prepared people forgotten (the next unit's are others; kept in
        matching's cache, the collector scanned them all after every unit), its young objects
        collected, and everything every full_every units."""
        forget_prepared()
        self.done += 1
        gc.collect(2 if self.done % self.full_every == 0 else 0)
