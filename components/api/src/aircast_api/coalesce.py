"""Adaptive micro-batching: concurrent forecasts share one feature pass and one predict.

A single forecast costs mostly fixed overhead (a feature pass and a CatBoost call over a
handful of rows); forecasting k locations together costs little more than one. So a
forecast whose inputs are ready waits, for at most ``max_wait_seconds``
(``AIRCAST_API_COALESCE_MS``), for the stored-location requests still reading their history
from the database, and all of them go through one
:func:`aircast_api.forecasting.forecast_windows` call.

- **Idle or light load:** no other request is reading, so the forecast runs at once (in the
  next turn of the event loop, with any others that became ready in the same turn): the
  latency is what it was without batching.
- **Under load:** forecasts gather while others read; the server gets cheaper per request
  instead of queueing. The wait is bounded, so a slow read never holds the others back.

Every row is computed on its own (window features and the CatBoost predict are row by row),
so a forecast is bit-identical whether it was merged or not; when a merged predict fails,
each request is forecast alone, so only the one whose inputs fail gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any

from aircast_api import metrics
from aircast_api.forecasting import HorizonRange, Windows, forecast_windows
from aircast_api.lifecycle import Served

_Entry = tuple[Served, str, HorizonRange, Windows, "asyncio.Future[list[dict[str, Any]]]"]


class ForecastCoalescer:
    """Merges concurrent forecasts into one vectorised predict (see the module docstring)."""

    def __init__(self, max_wait_seconds: float = 0.005) -> None:
        self.max_wait_seconds = max_wait_seconds
        self._pending: list[_Entry] = []
        self._reading = 0
        self._timer: asyncio.Handle | None = None  # a TimerHandle when delayed

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Mark a request that is reading inputs and may ask for a forecast next."""
        self._reading += 1
        try:
            yield
        finally:
            self._reading -= 1
            if self._reading == 0 and self._pending:
                self._schedule(0.0)

    async def forecast(
        self, served: Served, parameter: str, windows: Windows, horizons: HorizonRange
    ) -> list[dict[str, Any]]:
        """The forecast documents of ``windows`` (in order), computed with concurrent ones."""
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pending.append((served, parameter, horizons, windows, future))
        others_reading = self._reading > 0 and self.max_wait_seconds > 0
        self._schedule(self.max_wait_seconds if others_reading else 0.0)
        return await future

    def _schedule(self, delay: float) -> None:
        """Flush after ``delay`` seconds, or sooner if a flush is already due sooner."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._timer is not None:
            if isinstance(self._timer, asyncio.TimerHandle) and self._timer.when() > due:
                self._timer.cancel()
            else:
                return
        self._timer = loop.call_soon(self._flush) if delay <= 0 else loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, []
        groups: dict[Hashable, list[_Entry]] = {}
        for entry in pending:
            served, parameter, horizons, _, future = entry
            if future.done():  # the request went away (client disconnect)
                continue
            # one predict per served model version, parameter and horizon range
            groups.setdefault((id(served), parameter, horizons), []).append(entry)
        for entries in groups.values():
            served, parameter, horizons = entries[0][:3]
            metrics.COALESCED.observe(sum(len(entry[3].issue_hour) for entry in entries))
            try:
                documents = forecast_windows(
                    served, parameter, Windows.concat([entry[3] for entry in entries]), horizons
                )
            except Exception:  # noqa: BLE001 - isolated below
                if len(entries) == 1:
                    _settle(entries[0], served, parameter, horizons)
                else:
                    # One request's inputs must not fail the others: each on its own.
                    for entry in entries:
                        _settle(entry, served, parameter, horizons)
                continue
            start = 0
            for *_, windows, future in entries:
                count = len(windows.issue_hour)
                if not future.done():
                    future.set_result(documents[start : start + count])
                start += count


def _settle(entry: _Entry, served: Served, parameter: str, horizons: HorizonRange) -> None:
    """Forecast one request alone and hand it the result or the error."""
    future = entry[4]
    try:
        documents = forecast_windows(served, parameter, entry[3], horizons)
    except Exception as error:  # noqa: BLE001 - the request's own error, raised in its task
        if not future.done():
            future.set_exception(error)
        return
    if not future.done():
        future.set_result(documents)
