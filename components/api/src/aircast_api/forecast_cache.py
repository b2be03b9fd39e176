"""Rendered forecasts of stored locations, reused while their inputs cannot have changed.

A stored location's forecast is a pure function of the served model version, the location's
newest measurement (its issue time), the requested horizons and the stored history before it.
The key holds all but the last, so a new measurement or a model swap is seen on the next
request; history backfilled *before* an unchanged newest measurement is picked up when the
entry expires (``AIRCAST_API_FORECAST_CACHE_SECONDS``). A hit still reads the location (and
its newest measurement) from the database, but skips the history query and the model.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable

from aircast_api import metrics


class ForecastCache:
    """Rendered forecast bodies with a time to live; the oldest insertions go first when full."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        """The body stored under ``key`` if it has not expired."""
        if self.ttl_seconds <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            metrics.FORECAST_CACHE.labels(result="miss").inc()
            return None
        metrics.FORECAST_CACHE.labels(result="hit").inc()
        return entry[1]

    def put(self, key: Hashable, body: bytes) -> None:
        """Store ``body`` under ``key`` for the time to live, evicting the oldest entries."""
        if self.ttl_seconds <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl_seconds, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
