"""The stored-forecast cache: time to live, size bound, and off when the TTL is 0."""

from __future__ import annotations

import time

from aircast_api.forecast_cache import ForecastCache


def test_entries_expire_after_the_time_to_live() -> None:
    cache = ForecastCache(ttl_seconds=0.2)
    cache.put("k", b"body")
    assert cache.get("k") == b"body"
    time.sleep(0.3)
    assert cache.get("k") is None


def test_the_oldest_entries_are_evicted_when_full() -> None:
    cache = ForecastCache(ttl_seconds=60, max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, key.encode())
    assert cache.get("a") is None
    assert (cache.get("b"), cache.get("c")) == (b"b", b"c")


def test_a_zero_time_to_live_disables_the_cache() -> None:
    cache = ForecastCache(ttl_seconds=0)
    cache.put("k", b"body")
    assert cache.get("k") is None
