"""The forecast service: what every forecast route asks for, in one place.

Routes parse the request, call one method of :class:`ForecastService` and render what it
returns. Behind it: the served model (:mod:`aircast_api.lifecycle`), the database reads
(:mod:`aircast_api.history`), the cache of rendered stored-location forecasts
(:mod:`aircast_api.forecast_cache`), the micro-batcher of concurrent forecasts
(:mod:`aircast_api.coalesce`), the windows and features (:mod:`aircast_api.forecasting`, which
calls :mod:`aircast.features`) and the stale-data rule. Failures are raised as
:class:`aircast_api.problems.ProblemError`, the API's one error vocabulary.

The stored-location path, :meth:`ForecastService.stored`, reads in this order, each step
able to end the request before the next costs anything:

1. the location and its newest measurement (404 unknown; 409 none yet);
2. the stale-data rule: a newest measurement older than ``AIRCAST_API_MAX_DATA_AGE_HOURS``
   answers 409 ``stale-data`` naming it, never a forecast issued in the past;
3. :meth:`ForecastService.reusable`: a forecast made earlier for the same inputs (the
   cache of rendered bodies);
4. the forecast archive: the forecast ``issue_forecasts`` archived for this issue time and
   the served model version (the same document, without reading history or predicting);
5. the history, the windows and the (coalesced) predict; the rendered body is cached.

Every forecast carries ``data_age_hours``, added when it is served (a cached body holds none,
so its age is never the age it had when cached).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from psycopg_pool import PoolTimeout

from aircast.features import history_hours
from aircast_api import archive, metrics
from aircast_api.archive import archived_document
from aircast_api.coalesce import ForecastCoalescer
from aircast_api.forecast_cache import ForecastCache
from aircast_api.forecasting import (
    HorizonRange,
    UnforecastableError,
    add_data_age,
    forecast_histories,
    history_windows,
    spec_of,
    stored_windows,
)
from aircast_api.history import HistoryReader, HistorySession, Series, StoredLocation
from aircast_api.lifecycle import ModelLifecycle, Served
from aircast_api.models import BatchRequest, ForecastRequest
from aircast_api.problems import ProblemError
from aircast_api.settings import ApiSettings

if TYPE_CHECKING:
    import pandas as pd

Clock = Callable[[], float]
"""Seconds since the Unix epoch (``time.time``; tests pass their own)."""

BATCH_THREAD = "aircast-batch"
_BATCH_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix=BATCH_THREAD)
"""The one thread batches are forecast on, one at a time.

Not the default executor (``asyncio.to_thread``, up to ``cpu_count + 4`` threads): glibc gives
each thread that allocates its own malloc arena, and an arena keeps most of what a batch
freed. A batch of 1,000 locations allocates tens of MB on its way (windows, features, ~7 MB
of rendered rows with their AQI), so batches spread over the default executor's threads left
the process ~100 MB larger after the load of ``bench/api.py`` (RSS 319 MB against 215 MB with
this one thread). The GIL serialises most of a batch's work anyway.
"""


class ForecastService:
    """Forecasts of stored locations and of caller-supplied histories (module docstring)."""

    def __init__(
        self,
        settings: ApiSettings,
        lifecycle: ModelLifecycle,
        reader: HistoryReader,
        *,
        cache: ForecastCache,
        coalescer: ForecastCoalescer,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.reader = reader
        self.cache = cache
        self.coalescer = coalescer
        self.clock = clock

    # ------------------------------------------------------------ the served model

    def served(self, parameter: str) -> Served:
        """The model served for ``parameter``; 404 when not configured, 503 when not loaded."""
        return served_model(self.lifecycle, parameter)

    # ------------------------------------------------------------ stored locations

    async def locations(
        self, parameter: str, after: int | None, limit: int
    ) -> list[StoredLocation]:
        """One page of stored locations measuring ``parameter``, by id, after ``after``."""
        async with _database():
            return await self.reader.page(parameter, after, limit)

    async def recent_history(
        self, location_id: int, parameter: str, parameters: tuple[str, ...], hours: int
    ) -> tuple[StoredLocation | None, Series]:
        """A stored location (None if unknown) and its last ``hours`` hours of ``parameters``
        up to its newest ``parameter`` value: for routes that need the data itself (NowCast)."""
        async with _database(), self.reader.session() as db:
            location = await db.location(location_id, parameter)
            if location is None:
                return None, {}
            return location, await db.series(location, parameters, hours)

    async def stored(self, location_id: int, parameter: str, horizons: HorizonRange) -> bytes:
        """The rendered forecast of a stored location from its newest history.

        The issue time is the hour of the newest stored ``parameter`` value; only
        ``history_hours(spec)`` hours before it are read.
        """
        served = self.served(parameter)
        spec = spec_of(served)
        # Marked as reading until the history is in, so a concurrent forecast that is ready
        # may wait for this one and share its predict (aircast_api.coalesce).
        series: Series = {}
        weather = None
        async with self.coalescer.reading(), _database(), self.reader.session() as db:
            found = await db.location(location_id, parameter)
            location = self._current(found, location_id, parameter)
            body = await self.reusable(db, served, parameter, location, horizons)
            if body is None:
                series = await db.series(location, spec.parameters, history_hours(spec))
                if spec.weather:
                    weather = await db.weather(location, spec.horizons)
        if body is None:
            body = await self._forecast_stored(
                served, parameter, location, series, horizons, weather
            )
        metrics.PREDICTIONS.labels(parameter=parameter, route="stored").inc()
        return _with_data_age(body, self._age_hours(location))

    def _current(
        self, location: StoredLocation | None, location_id: int, parameter: str
    ) -> StoredLocation:
        """``location`` if it can be forecast now; else the problem saying why not."""
        if location is None:
            raise ProblemError(
                404,
                "location-not-found",
                "Unknown location",
                f"No stored location {location_id} measures {parameter}; see GET /v1/locations.",
            )
        newest = location.latest_datetime
        if newest is None:
            raise ProblemError(
                409,
                "history-too-short",
                "History too short",
                f"Location {location_id} has no {parameter} measurements yet.",
            )
        age = self._age_hours(location)
        limit = self.settings.api_max_data_age_hours
        if age > limit:
            raise ProblemError(
                409,
                "stale-data",
                "Data too old to forecast",
                f"The newest measurement of location {location_id} is from "
                f"{_iso(newest)}, {age:.1f} h ago; forecasts need one within {limit:g} h "
                "(AIRCAST_API_MAX_DATA_AGE_HOURS). Ingestion may be behind or the station "
                "offline.",
                extensions={
                    "newest_observation": _iso(newest),
                    "data_age_hours": round(age, 3),
                    "max_data_age_hours": limit,
                },
            )
        return location

    async def reusable(
        self,
        db: HistorySession,
        served: Served,
        parameter: str,
        location: StoredLocation,
        horizons: HorizonRange,
    ) -> bytes | None:
        """A forecast rendered earlier for exactly these inputs; None: look further.

        The cache of rendered bodies (same model version, newest measurement and horizons),
        then the forecast ``issue_forecasts`` archived for this issue time and model version,
        read through ``db`` (the request's connection, also the one the history would be read
        on). A body holds no ``data_age_hours`` (added on serving).
        """
        body = self.cache.get(_cache_key(served, parameter, location, horizons))
        if body is None:
            rows = await db.archived(location, parameter, served.version)
            body = self._archived(served, parameter, location, horizons, rows)
        return body

    def _archived(
        self,
        served: Served,
        parameter: str,
        location: StoredLocation,
        horizons: HorizonRange,
        rows: list[tuple[int, float, float, float]],
    ) -> bytes | None:
        """The forecast ``issue_forecasts`` archived for this issue time and model version,
        rendered (and cached) like a computed one; None when it is not archived."""
        assert location.latest_datetime is not None  # noqa: S101 - checked by _current
        document = archived_document(
            rows,
            location.location_id,
            parameter,
            str(served.model.unit),
            served.version,
            location.latest_datetime,
            horizons,
        )
        if document is None:
            return None
        metrics.FORECAST_SOURCE.labels(parameter=parameter, source="archive").inc()
        body = orjson.dumps(document)
        self.cache.put(_cache_key(served, parameter, location, horizons), body)
        return body

    async def _forecast_stored(
        self,
        served: Served,
        parameter: str,
        location: StoredLocation,
        series: Series,
        horizons: HorizonRange,
        weather: pd.DataFrame | None = None,
    ) -> bytes:
        try:
            windows = stored_windows(
                served, location, series, self.settings.api_min_recent_hours, weather
            )
        except UnforecastableError as error:
            raise ProblemError(409, "history-too-short", "History too short", str(error)) from error
        # On the event loop (one location is ~2 ms of CPU), merged with the forecasts of
        # concurrent requests still reading their history.
        (document,) = await self.coalescer.forecast(served, parameter, windows, horizons)
        metrics.FORECAST_SOURCE.labels(parameter=parameter, source="computed").inc()
        body = orjson.dumps(document)
        self.cache.put(_cache_key(served, parameter, location, horizons), body)
        return body

    def _age_hours(self, location: StoredLocation) -> float:
        assert location.latest_datetime is not None  # noqa: S101 - checked by the caller
        return (self.clock() - location.latest_datetime.timestamp()) / 3600

    # ------------------------------------------------------------ archive and verification

    async def archived_forecasts(
        self,
        location_id: int,
        parameter: str,
        *,
        issued_since: datetime | None,
        issued_until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """One page of a location's archived forecasts (``items``, ``next_cursor``)."""
        async with _database():
            items, next_cursor = await archive.forecast_page(
                self.reader,
                location_id,
                parameter,
                issued_since=issued_since,
                issued_until=issued_until,
                cursor=cursor,
                limit=limit,
            )
        return {"items": items, "next_cursor": next_cursor}

    async def verification(
        self,
        parameter: str,
        *,
        location_id: int | None,
        horizon: int | None,
        window: str | None,
        model_version: int | None,
        cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """Live verification figures of a page of locations (``items``, ``next_cursor``)."""
        async with _database():
            scores, next_cursor = await archive.verification_page(
                self.reader,
                parameter,
                location_id=location_id,
                horizon=horizon,
                window=window,
                model_version=model_version,
                cursor=cursor,
                limit=limit,
            )
        return {"items": [s.as_dict() for s in scores], "next_cursor": next_cursor}

    # ------------------------------------------------------------ caller-supplied histories

    async def from_history(self, request: ForecastRequest) -> dict[str, Any]:
        """The forecast document of one caller-supplied history (no database).

        The issue time is the hour of the newest non-null target value. Not stale-checked:
        the caller chose the history; its age is reported all the same.
        """
        served = self.served(request.parameter)
        try:
            results, windows, _ = history_windows(
                spec_of(served), [request], self.settings.api_min_recent_hours
            )
        except UnforecastableError as error:
            raise ProblemError(409, "history-too-short", "History too short", str(error)) from error
        if windows is None:
            raise ProblemError(409, "history-too-short", "History too short", str(results[0]))
        # On the event loop: one location is ~2 ms of CPU, less than a thread hand-off and the
        # GIL switches it brings under load; merged with concurrent forecasts ready in the
        # same loop turn. Batches go to the batch thread (_BATCH_EXECUTOR).
        documents = await self.coalescer.forecast(
            served, request.parameter, windows, HorizonRange.parse(request.horizons)
        )
        add_data_age(documents, windows.issue_hour, self.clock())
        metrics.PREDICTIONS.labels(parameter=request.parameter, route="history").inc()
        return documents[0]

    async def batch(self, request: BatchRequest) -> dict[str, Any]:
        """Forecasts of up to ``AIRCAST_API_MAX_BATCH`` histories: one vectorised predict.

        A location whose history is too short gets ``forecast: null`` and an ``error``; the
        others are still forecast. A series outside the supported years fails the call (409).
        """
        served = self.served(request.parameter)
        if len(request.locations) > self.settings.api_max_batch:
            raise ProblemError(
                413,
                "batch-too-large",
                "Batch too large",
                f"At most {self.settings.api_max_batch} locations per call; split the batch.",
            )
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                _BATCH_EXECUTOR,
                # as asyncio.to_thread: in a copy of the request's context (its log fields)
                functools.partial(
                    contextvars.copy_context().run,
                    forecast_histories,
                    served,
                    request.parameter,
                    request.locations,
                    HorizonRange.parse(request.horizons),
                    self.settings.api_min_recent_hours,
                    self.clock(),
                ),
            )
        except UnforecastableError as error:
            raise ProblemError(409, "history-unusable", "History unusable", str(error)) from error
        items = [
            {
                "index": index,
                "location_id": location.location_id,
                "forecast": result if isinstance(result, dict) else None,
                "error": result if isinstance(result, str) else None,
            }
            for index, (location, result) in enumerate(zip(request.locations, results, strict=True))
        ]
        served_count = sum(1 for item in items if item["forecast"] is not None)
        metrics.PREDICTIONS.labels(parameter=request.parameter, route="batch").inc(served_count)
        return {"parameter": request.parameter, "model_version": served.version, "items": items}


def served_model(lifecycle: ModelLifecycle, parameter: str) -> Served:
    """The model served for ``parameter``; 404 when not configured, 503 when not loaded."""
    slot = lifecycle.slots.get(parameter)
    if slot is None:
        raise ProblemError(
            404,
            "parameter-not-served",
            "Parameter not served",
            f"This API serves {', '.join(lifecycle.slots)}; not {parameter}.",
        )
    served = slot.served
    if served is None:
        raise ProblemError(
            503,
            "model-unavailable",
            "No model loaded",
            f"No {slot.name}@{slot.alias} model is loaded yet; see /readyz, retry later.",
            headers={"Retry-After": "5"},
        )
    return served


def _cache_key(
    served: Served, parameter: str, location: StoredLocation, horizons: HorizonRange
) -> Hashable:
    return (parameter, location.location_id, served.version, location.latest_datetime, horizons)


def _with_data_age(body: bytes, age_hours: float) -> bytes:
    """``body`` (a rendered forecast object) with ``data_age_hours`` as its last member."""
    return body[:-1] + b',"data_age_hours":' + orjson.dumps(round(age_hours, 3)) + b"}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@asynccontextmanager
async def _database() -> AsyncIterator[None]:
    """Database reads inside: an outage becomes a 503 the client may retry."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as error:
        raise ProblemError(
            503,
            "database-unavailable",
            "Database unavailable",
            "The aircast database cannot be reached; retry later.",
            headers={"Retry-After": "5"},
        ) from error
