"""Reads from the aircast database as the read-only role: locations and recent history.

Every query is the store's own SQL (:mod:`aircast.store`), so the API picks the same sensor and
the same hours as training. The reads run on an asynchronous psycopg pool, on the event loop:
a database round trip no longer hands the request to a worker thread (and back), which cost
more CPU than the query and, under load, waited on the GIL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from aircast import forecast_archive, store
from aircast.weather import store as weather_store

# parameter -> (hours since the epoch, values) of its hourly series, in time order
Series = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class StoredLocation:
    """A stored location with its newest measurement of one parameter."""

    location_id: int
    name: str
    timezone: str
    latitude: float | None
    longitude: float | None
    country: str | None
    latest_datetime: datetime | None
    latest_value: float | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredLocation:
        """Build from a row of :func:`aircast.store.list_locations`."""
        return cls(
            location_id=int(row["location_id"]),
            name=str(row["name"]),
            timezone=str(row["timezone"]),
            latitude=_float(row.get("latitude")),
            longitude=_float(row.get("longitude")),
            country=row.get("country"),
            latest_datetime=row.get("latest_datetime"),
            latest_value=_float(row.get("latest_value")),
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class HistoryReader:
    """The API's read-only access to the aircast database (an asynchronous pool)."""

    def __init__(self, conninfo: str, *, pool_size: int, timeout: float) -> None:
        self.conninfo = conninfo
        self.pool = AsyncConnectionPool(
            conninfo,
            # every connection opened at start (in the background): growing the pool under
            # load put a connection set-up inside requests, the slowest of them
            min_size=pool_size,
            max_size=pool_size,
            timeout=timeout,
            open=False,
            name="aircast-reader",
            # Connections are opened in the background: the API starts even when the
            # database is down, and /readyz reports it.
            kwargs={"connect_timeout": max(1, int(timeout)), "autocommit": True},
        )

    async def open(self) -> None:
        """Start the pool without waiting for a first connection."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.pool.close()

    async def reachable(self) -> bool:
        """True when a pooled connection answers ``SELECT 1``."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means "not reachable" for the probe
            return False
        return True

    async def page(self, parameter: str, after: int | None, limit: int) -> list[StoredLocation]:
        """One page of locations measuring ``parameter``, ordered by id, after ``after``."""
        sql, args = store.location_page_query(parameter, after=after, limit=limit)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, args)
            rows = await cur.fetchall()
        return [StoredLocation.from_row(row) for row in rows]

    @asynccontextmanager
    async def session(self) -> AsyncIterator[HistorySession]:
        """One pooled connection for the reads of one stored-location forecast."""
        async with self.pool.connection() as conn:
            yield HistorySession(conn)


class HistorySession:
    """The reads of one stored-location forecast, on one pooled connection.

    Two steps, so the caller decides between them (unknown location, stale data, a reusable
    forecast) without reading the history it will not use.
    """

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def location(self, location_id: int, parameter: str) -> StoredLocation | None:
        """The location with its newest ``parameter`` measurement (None if unknown)."""
        sql, args = store.location_query(parameter, location_id)
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, args)
            row = await cur.fetchone()
        return None if row is None else StoredLocation.from_row(row)

    async def series(
        self, location: StoredLocation, parameters: tuple[str, ...], hours: int
    ) -> Series:
        """The last ``hours`` hours of ``parameters`` up to the newest measurement (inclusive).

        One (hours since the epoch, values) pair of arrays per parameter, in time order; the
        store's own query, so the same sensor and hours as training.
        """
        if location.latest_datetime is None:
            return {}
        sql, args = store.hourly_series_query(
            parameters,
            location.location_id,
            since=location.latest_datetime - timedelta(hours=hours),
            until=location.latest_datetime,
        )
        cursor = await self._conn.execute(sql, args)
        rows = await cursor.fetchall()
        return {
            name: (
                np.asarray(when, dtype=np.int64),
                # a NULL value (None) becomes NaN
                np.asarray(values, dtype=np.float64),
            )
            for name, when, values in rows
        }

    async def weather(self, location: StoredLocation, hours_after: int) -> pd.DataFrame | None:
        """The location's stored weather forecast as known at its issue time (the hour of the
        newest measurement): the as-of reader's SQL (:mod:`aircast.weather.store`)."""
        if location.latest_datetime is None:
            return None
        issue = location.latest_datetime.replace(minute=0, second=0, microsecond=0)
        sql, args = weather_store.forecasts_as_of_query(
            [location.location_id], issue, hours_before=0, hours_after=hours_after
        )
        cursor = await self._conn.execute(sql, args)
        rows = await cursor.fetchall()
        return pd.DataFrame(rows, columns=list(weather_store.FORECAST_COLUMNS))

    async def archived(
        self, location: StoredLocation, parameter: str, model_version: int
    ) -> list[tuple[int, float, float, float]]:
        """The archived forecast of the location's newest issue time by ``model_version``:
        ``(horizon, point, p10, p90)`` rows by horizon, none when it is not archived."""
        if location.latest_datetime is None:
            return []
        sql, args = forecast_archive.newest_forecast_query(
            location.location_id, parameter, model_version, location.latest_datetime
        )
        cursor = await self._conn.execute(sql, args)
        return [(int(h), p, lo, hi) for h, p, lo, hi in await cursor.fetchall()]
