"""Adaptive micro-batching: concurrent forecasts share one predict and are unchanged by it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from aircast_api import coalesce
from aircast_api.coalesce import ForecastCoalescer
from aircast_api.forecasting import (
    HorizonRange,
    Windows,
    forecast_windows,
    history_windows,
    spec_of,
)
from aircast_api.lifecycle import Served
from aircast_api.models import LocationHistory

from .conftest import Registry, history_body, make_lifecycle

ALL = HorizonRange(1, 24)


def as_json(documents: Any) -> Any:
    """Forecast documents as a client reads them (their horizon rows are pre-rendered JSON)."""
    return orjson.loads(orjson.dumps(documents))


@pytest.fixture
def served(registry: Registry) -> Served:
    lifecycle = make_lifecycle(registry)
    slot = lifecycle.slots["pm25"]
    lifecycle.refresh(slot)
    assert slot.served is not None
    return slot.served


def windows_of(served: Served, location_id: int, hours: int) -> Windows:
    item = LocationHistory.model_validate(history_body(hours=hours, location_id=location_id))
    _, windows, _ = history_windows(spec_of(served), [item], min_recent_hours=12)
    assert windows is not None
    return windows


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Locations per forecast_windows call the coalescer makes."""
    sizes: list[int] = []

    def counted(served: Served, parameter: str, batch: Windows, horizons: HorizonRange) -> Any:
        sizes.append(len(batch.issue_hour))
        return forecast_windows(served, parameter, batch, horizons)

    monkeypatch.setattr(coalesce, "forecast_windows", counted)
    return sizes


def test_concurrent_forecasts_share_one_predict_and_equal_separate_ones(
    served: Served, calls: list[int]
) -> None:
    parts = [windows_of(served, i, hours) for i, hours in ((1, 48), (2, 100), (3, 30))]

    async def run() -> list[list[dict[str, Any]]]:
        coalescer = ForecastCoalescer(max_wait_seconds=0.002)
        return await asyncio.gather(
            *(coalescer.forecast(served, "pm25", part, ALL) for part in parts)
        )

    merged = as_json(asyncio.run(run()))
    assert calls == [3]
    separate = as_json([forecast_windows(served, "pm25", part, ALL) for part in parts])
    assert merged == separate
    # the locations' forecasts differ, so a mix-up of the slices would show
    assert merged[0][0]["forecasts"] != merged[1][0]["forecasts"]


def test_different_horizons_are_not_merged(served: Served, calls: list[int]) -> None:
    part = windows_of(served, 1, 48)

    async def run() -> list[list[dict[str, Any]]]:
        coalescer = ForecastCoalescer()
        return await asyncio.gather(
            coalescer.forecast(served, "pm25", part, HorizonRange(1, 6)),
            coalescer.forecast(served, "pm25", part, HorizonRange(24, 24)),
        )

    short, last = as_json(asyncio.run(run()))
    assert sorted(calls) == [1, 1]
    assert [row["horizon"] for row in short[0]["forecasts"]] == [1, 2, 3, 4, 5, 6]
    assert [row["horizon"] for row in last[0]["forecasts"]] == [24]


def test_a_ready_forecast_waits_for_a_reader_that_joins(served: Served, calls: list[int]) -> None:
    first, second = windows_of(served, 1, 48), windows_of(served, 2, 48)

    async def run() -> None:
        # a bound far above the test's run time: the flush must come from the reader joining
        coalescer = ForecastCoalescer(max_wait_seconds=60)

        async def reader() -> list[dict[str, Any]]:
            async with coalescer.reading():
                await asyncio.sleep(0.01)  # the database read
            return await coalescer.forecast(served, "pm25", second, ALL)

        reading = asyncio.create_task(reader())
        await asyncio.sleep(0)  # the reader is now reading
        ready = await coalescer.forecast(served, "pm25", first, ALL)
        assert as_json(ready) == as_json(forecast_windows(served, "pm25", first, ALL))
        await reading

    asyncio.run(asyncio.wait_for(run(), timeout=30))
    assert calls == [2]


def test_a_reader_that_never_joins_holds_a_forecast_no_longer_than_the_bound(
    served: Served, calls: list[int]
) -> None:
    part = windows_of(served, 1, 48)

    async def run() -> None:
        coalescer = ForecastCoalescer(max_wait_seconds=0.05)
        release = asyncio.Event()

        async def stuck_reader() -> None:
            async with coalescer.reading():
                await release.wait()

        reading = asyncio.create_task(stuck_reader())
        await asyncio.sleep(0)
        await coalescer.forecast(served, "pm25", part, ALL)
        assert not reading.done()  # answered while the other request was still reading
        release.set()
        await reading

    asyncio.run(asyncio.wait_for(run(), timeout=30))
    assert calls == [1]


def test_a_failing_request_does_not_fail_the_ones_merged_with_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails_on_location_2(
        served: Served, parameter: str, batch: Windows, horizons: HorizonRange
    ) -> Any:
        if 2 in batch.location_id.tolist():
            raise RuntimeError("unusable inputs of location 2")
        return forecast_windows(served, parameter, batch, horizons)

    monkeypatch.setattr(coalesce, "forecast_windows", fails_on_location_2)
    good, bad = windows_of(served, 1, 48), windows_of(served, 2, 48)

    async def run() -> list[Any]:
        coalescer = ForecastCoalescer()
        return await asyncio.gather(
            coalescer.forecast(served, "pm25", good, ALL),
            coalescer.forecast(served, "pm25", bad, ALL),
            coalescer.forecast(served, "pm25", good, ALL),
            return_exceptions=True,
        )

    first, failed, last = asyncio.run(run())
    assert str(failed) == "unusable inputs of location 2"
    expected = as_json(forecast_windows(served, "pm25", good, ALL))
    assert as_json(first) == expected
    assert as_json(last) == expected


def test_a_request_that_went_away_is_left_out(served: Served, calls: list[int]) -> None:
    kept, dropped = windows_of(served, 1, 48), windows_of(served, 2, 48)

    async def run() -> list[dict[str, Any]]:
        coalescer = ForecastCoalescer()
        gone = asyncio.create_task(coalescer.forecast(served, "pm25", dropped, ALL))
        await asyncio.sleep(0)  # queued
        gone.cancel()
        return await coalescer.forecast(served, "pm25", kept, ALL)

    result = asyncio.run(run())
    assert calls == [1]
    assert as_json(result) == as_json(forecast_windows(served, "pm25", kept, ALL))
