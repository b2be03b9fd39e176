"""Weather ingest: keep every active location's next hours current, and backfill history.

Each stored row carries ``issued_at``, the time its values existed for aircast (the as-of rule of
:mod:`aircast.weather.store` reads nothing issued after an issue time):

* live Forecast API (:func:`ingest_forecasts`, the ``ingest_weather`` pipeline): the fetch time
  itself. aircast cannot know when the provider's run started, only when it had the values.
* Previous Runs (:func:`backfill_weather`, source ``previous_runs``): ``<var>_previous_dayN``
  is what a run started about ``N`` days before the target hour said; it is stamped
  ``target - N days + PUBLICATION_DELAY``, a bound on when that run could be read.
* Historical Forecast (source ``historical_forecast``): the first hours of the run started at
  ``floor(target, RUN_INTERVAL)``; stamped that start ``+ PUBLICATION_DELAY``.
* Reanalysis (source ``reanalysis``): observed-like, stored in ``weather_observations`` and
  never read by the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg

from aircast.store.queries import Conninfo, _connected
from aircast.weather import store as weather_store
from aircast.weather.client import OpenMeteoClient, Point, WeatherStats

PUBLICATION_DELAY = pd.Timedelta(hours=6)
"""A bound on how long after its start a model run can be read (docs/weather.md)."""
RUN_INTERVAL = pd.Timedelta(hours=6)
"""Model runs start every 6 h (00/06/12/18 UTC) for the global models Open-Meteo serves."""
PAST_HOURS = 5
"""Hours before the fetch also asked from the Forecast API (the issue hour's own weather)."""
BACKFILL_SOURCES = ("previous_runs", "historical_forecast", "reanalysis")


@dataclass
class WeatherIngestSummary:
    """What a weather ingest or backfill did (printed by the CLI and the pipeline)."""

    source: str = "forecast"
    locations: int = 0
    rows_fetched: int = 0
    inserted: int = 0
    updated: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    missing_variables: list[str] = field(default_factory=list)
    issued_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for logs)."""
        return asdict(self)

    def add_stats(self, stats: WeatherStats) -> None:
        """Fold the client's counters in."""
        self.requests += stats.requests
        self.retries += stats.retries
        self.rate_limited += stats.rate_limited
        self.missing_variables = sorted(set(self.missing_variables) | stats.missing_variables)


def _utc(value: datetime | str | pd.Timestamp | None) -> pd.Timestamp:
    ts = pd.Timestamp.now(tz="UTC") if value is None or value == "" else pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def active_points(
    conninfo: Conninfo,
    *,
    now: datetime | str | pd.Timestamp | None = None,
    active_days: int = 7,
    location_ids: Sequence[int] | None = None,
) -> list[Point]:
    """Locations with coordinates and a measurement in the ``active_days`` before ``now``
    (or exactly ``location_ids``, when given)."""
    at = _utc(now).to_pydatetime()
    sql = """
        SELECT l.location_id, l.latitude, l.longitude FROM locations l
        WHERE l.latitude IS NOT NULL AND l.longitude IS NOT NULL
    """
    args: dict[str, Any] = {"now": at, "days": int(active_days)}
    if location_ids:
        sql += " AND l.location_id = ANY(%(ids)s)"
        args["ids"] = [int(i) for i in location_ids]
    else:
        sql += """ AND EXISTS (
            SELECT 1 FROM measurements m WHERE m.location_id = l.location_id
              AND m.datetime > %(now)s - make_interval(days => %(days)s)
              AND m.datetime <= %(now)s)"""
    sql += " ORDER BY l.location_id"
    with _connected(conninfo) as conn:
        rows = conn.execute(sql.encode(), args).fetchall()
    return [Point(int(r[0]), float(r[1]), float(r[2])) for r in rows]


def fetch_forecasts(
    conninfo: Conninfo,
    client: OpenMeteoClient,
    *,
    now: datetime | str | pd.Timestamp | None = None,
    hours: int | None = None,
    location_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The live forecast of every active location (``PAST_HOURS`` back to ``hours`` ahead),
    stamped ``issued_at`` = ``now`` (the fetch time). ``attrs["summary"]`` says what was done."""
    issued = _utc(now)
    points = active_points(conninfo, now=issued, location_ids=location_ids)
    ahead = hours or client.settings.weather_forecast_hours
    frame = client.forecast(points, hours=ahead, past_hours=PAST_HOURS) if points else None
    if frame is None:
        frame = pd.DataFrame(columns=["location_id", "target_time", *weather_store.VARIABLES])
    frame = frame.assign(issued_at=issued)
    summary = WeatherIngestSummary(
        source="forecast",
        locations=len(points),
        rows_fetched=len(frame),
        issued_at=issued.isoformat(),
    )
    summary.add_stats(client.stats)
    frame.attrs["summary"] = summary.as_dict()
    return frame


def store_forecasts(
    conninfo: str, frame: pd.DataFrame, *, source: str = "forecast"
) -> WeatherIngestSummary:
    """Upsert fetched forecast rows (idempotent) and return the summary with the counts."""
    summary = WeatherIngestSummary(**frame.attrs.get("summary", {"source": source}))
    with psycopg.connect(conninfo) as conn:
        result = weather_store.upsert_forecasts(conn, frame, source=source)
    summary.inserted += result.inserted
    summary.updated += result.updated
    return summary


def ingest_forecasts(
    conninfo: str,
    client: OpenMeteoClient,
    *,
    now: datetime | str | pd.Timestamp | None = None,
    hours: int | None = None,
    location_ids: Sequence[int] | None = None,
) -> WeatherIngestSummary:
    """Fetch and store the live forecast of every active location (the pipeline's work)."""
    frame = fetch_forecasts(conninfo, client, now=now, hours=hours, location_ids=location_ids)
    return store_forecasts(conninfo, frame)


def previous_runs_rows(wide: pd.DataFrame) -> pd.DataFrame:
    """Previous Runs rows (with ``previous_day``) stamped with their conservative issue time."""
    days = pd.to_timedelta(wide["previous_day"].astype("int64") * 24, unit="h")
    target = pd.to_datetime(wide["target_time"], utc=True)
    return wide.drop(columns=["previous_day"]).assign(
        target_time=target, issued_at=target - days + PUBLICATION_DELAY
    )


def historical_forecast_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Historical Forecast rows stamped with their run's start plus the publication delay."""
    target = pd.to_datetime(frame["target_time"], utc=True)
    return frame.assign(
        target_time=target, issued_at=target.dt.floor(RUN_INTERVAL) + PUBLICATION_DELAY
    )


def backfill_weather(
    conninfo: str,
    client: OpenMeteoClient,
    *,
    since: datetime | str | pd.Timestamp,
    until: datetime | str | pd.Timestamp,
    source: str = "previous_runs",
    location_ids: Sequence[int] | None = None,
    chunk_days: int = 31,
) -> WeatherIngestSummary:
    """Load history for the locations (``location_ids``, else every stored one) from
    ``source`` (:data:`BACKFILL_SOURCES`) in chunks of ``chunk_days``; idempotent."""
    if source not in BACKFILL_SOURCES:
        raise ValueError(f"backfill source must be one of {BACKFILL_SOURCES}, got {source!r}")
    start, end = _utc(since).normalize(), _utc(until).normalize()
    if end < start:
        raise ValueError("--until is before --since")
    with _connected(conninfo) as conn:
        sql = "SELECT location_id, latitude, longitude FROM locations WHERE latitude IS NOT NULL"
        args: list[Any] = []
        if location_ids:
            sql += " AND location_id = ANY(%s)"
            args.append([int(i) for i in location_ids])
        rows = conn.execute(sql.encode(), args).fetchall()
    points = [Point(int(r[0]), float(r[1]), float(r[2])) for r in rows]
    summary = WeatherIngestSummary(source=source, locations=len(points))
    if not points:
        return summary
    day = start
    while day <= end:
        last = min(day + pd.Timedelta(days=chunk_days - 1), end)
        with psycopg.connect(conninfo) as conn:
            if source == "reanalysis":
                frame = client.reanalysis(points, day, last)
                result = weather_store.upsert_observations(conn, frame, source="era5")
            elif source == "previous_runs":
                frame = previous_runs_rows(client.previous_runs(points, day, last))
                result = weather_store.upsert_forecasts(conn, frame, source=source)
            else:
                frame = historical_forecast_rows(client.historical_forecast(points, day, last))
                result = weather_store.upsert_forecasts(conn, frame, source=source)
        summary.rows_fetched += len(frame)
        summary.inserted += result.inserted
        summary.updated += result.updated
        day = last + pd.Timedelta(days=1)
    summary.add_stats(client.stats)
    return summary
