"""The garbage collector of a long-running service process, settled once start-up is done.

CPython's cyclic collector runs a full (oldest-generation) collection from time to time, and each one walks every
object the process holds: the modules, pydantic schemas, SQLAlchemy metadata and pools that start-up built and
that live as long as the process. Measured in a 3,000-report replay (issue 18), the four pipeline services spent
7-9% of their CPU in the collector, a full collection taking ~0.1 s. ``settle`` freezes what start-up left
(``gc.freeze``: moved to a permanent generation the collector no longer walks; reference counting still frees
it) and collects the young generation less often, so a collection walks only what the service made since.
"""

from __future__ import annotations

import gc


def settle(young_threshold: int) -> None:
    """Collect once, freeze every object start-up left, then collect the youngest generation every
    ``young_threshold`` net allocations (the older generations' thresholds are kept)."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)
