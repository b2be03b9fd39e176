"""Weather in the aircast database: idempotent upserts and the as-of reader.

``weather_forecasts`` rows are keyed by (location, target hour, ``issued_at``, source); the one
rule every reader applies is **as of**: for an issue time ``t`` and a target hour ``T`` the value
is the newest row with ``issued_at <= t`` (ties between sources broken by :data:`SOURCE_RANK`).
The serving path asks the database for exactly that (:func:`forecasts_as_of`, or the SQL of
:func:`forecasts_as_of_query` on the API's own connection); training loads every row of a
window (:func:`load_forecasts`) and the feature builder applies the same rule per training
row (:func:`aircast.features.weather_as_of`), so neither path can read a value issued after
its issue time.

``weather_observations`` (reanalysis) is written by :func:`upsert_observations` and read only
by :func:`load_observations`; the feature builder never reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from aircast.store.queries import Conninfo, _connected, _utc
from aircast.store.writes import UpsertResult
from aircast.weather.client import HOURLY

VARIABLES = HOURLY
"""The stored weather variables (Open-Meteo names, one ``real`` column each)."""

FORECAST_SOURCES = ("forecast", "previous_runs", "historical_forecast")
OBSERVATION_SOURCES = ("era5",)
SOURCE_RANK = {"forecast": 0, "previous_runs": 1, "historical_forecast": 2}
"""Tie-break between rows of one target hour issued at the same time: the live forecast first."""

FORECAST_COLUMNS = ("location_id", "target_time", "issued_at", "source", *VARIABLES)


def _frame_rows(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows for COPY: times as UTC datetimes, NaN as NULL."""
    head = frame.loc[:, list(keys)].copy()
    for name in keys:
        if name.endswith("_time") or name == "issued_at":
            head[name] = pd.to_datetime(head[name], utc=True)
    head["location_id"] = head["location_id"].astype("int64")
    values = frame[list(VARIABLES)].astype("float64").to_numpy()
    rows = []
    for key, vals in zip(head.itertuples(index=False), values, strict=True):
        converted = [v.to_pydatetime() if isinstance(v, pd.Timestamp) else int(v) for v in key]
        rows.append((*converted, *(None if np.isnan(v) else float(v) for v in vals)))
    return rows


def _check(frame: pd.DataFrame, keys: Sequence[str]) -> None:
    missing = [c for c in (*keys, *VARIABLES) if c not in frame.columns]
    if missing:
        raise ValueError(f"weather frame lacks column(s) {missing}")


def upsert_forecasts(
    conn: psycopg.Connection[Any], frame: pd.DataFrame, *, source: str
) -> UpsertResult:
    """Insert or update forecast rows (``location_id``, ``target_time``, ``issued_at``, vars).

    Idempotent: a row equal to the stored one is not rewritten and not counted, so re-running
    an ingest or a backfill window reports zero inserted and zero updated. The caller commits.
    """
    if source not in FORECAST_SOURCES:
        raise ValueError(f"forecast source must be one of {FORECAST_SOURCES}, got {source!r}")
    keys = ("location_id", "target_time", "issued_at")
    _check(frame, keys)
    if frame.empty:
        return UpsertResult()
    if (
        pd.to_datetime(frame["issued_at"], utc=True).isna().any()
        or frame["location_id"].isna().any()
    ):
        raise ValueError("every weather forecast row needs a location and an issue time")
    frame = frame.drop_duplicates(list(keys), keep="last")
    names = ", ".join(VARIABLES)
    changed = " OR ".join(f"weather_forecasts.{v} IS DISTINCT FROM excluded.{v}" for v in VARIABLES)
    with conn.cursor() as cur:
        cur.execute(
            f"""
            CREATE TEMP TABLE IF NOT EXISTS staging_weather (
                location_id bigint, target_time timestamptz, issued_at timestamptz,
                {", ".join(f"{v} real" for v in VARIABLES)}
            ) ON COMMIT DELETE ROWS;
            TRUNCATE staging_weather;
            """
        )
        with cur.copy(
            f"COPY staging_weather (location_id, target_time, issued_at, {names}) FROM STDIN"
        ) as copy:
            for row in _frame_rows(frame, keys):
                copy.write_row(row)
        cur.execute(
            f"""
            INSERT INTO weather_forecasts AS weather_forecasts
                (location_id, target_time, issued_at, source, lead_hours, {names})
            SELECT location_id, target_time, issued_at, %s,
                   (extract(epoch FROM target_time - issued_at) / 3600)::integer, {names}
            FROM staging_weather
            ON CONFLICT (location_id, target_time, issued_at, source) DO UPDATE SET
                {", ".join(f"{v} = excluded.{v}" for v in VARIABLES)}, fetched_at = now()
            WHERE {changed}
            RETURNING (xmax = 0)
            """,  # noqa: S608 - column names are constants
            (source,),
        )
        flags = [bool(r[0]) for r in cur.fetchall()]
        cur.execute("TRUNCATE staging_weather")
    inserted = sum(flags)
    return UpsertResult(inserted=inserted, updated=len(flags) - inserted)


def upsert_observations(
    conn: psycopg.Connection[Any], frame: pd.DataFrame, *, source: str = "era5"
) -> UpsertResult:
    """Insert or update observed-like weather (reanalysis); idempotent like the forecasts."""
    if source not in OBSERVATION_SOURCES:
        raise ValueError(f"observation source must be one of {OBSERVATION_SOURCES}")
    keys = ("location_id", "target_time")
    _check(frame, keys)
    if frame.empty:
        return UpsertResult()
    frame = frame.drop_duplicates(list(keys), keep="last")
    names = ", ".join(VARIABLES)
    changed = " OR ".join(
        f"weather_observations.{v} IS DISTINCT FROM excluded.{v}" for v in VARIABLES
    )
    placeholders = ", ".join(["%s"] * (len(VARIABLES) + 3))
    flags: list[bool] = []
    with conn.cursor() as cur:
        for row in _frame_rows(frame, keys):
            cur.execute(
                f"""
                INSERT INTO weather_observations AS weather_observations
                    (location_id, target_time, source, {names})
                VALUES ({placeholders})
                ON CONFLICT (location_id, target_time, source) DO UPDATE SET
                    {", ".join(f"{v} = excluded.{v}" for v in VARIABLES)}, fetched_at = now()
                WHERE {changed}
                RETURNING (xmax = 0)
                """,  # noqa: S608 - column names are constants
                (row[0], row[1], source, *row[2:]),
            )
            result = cur.fetchone()
            if result is not None:
                flags.append(bool(result[0]))
    inserted = sum(flags)
    return UpsertResult(inserted=inserted, updated=len(flags) - inserted)


def _frame(rows: list[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for name in columns:
        if name in ("target_time", "issued_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif name in VARIABLES:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame.astype({"location_id": "int64"})


def load_forecasts(
    conninfo: Conninfo,
    *,
    location_ids: Sequence[int] | None = None,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    issued_until: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Every stored forecast row whose target hour is in (``since``, ``until``].

    Columns :data:`FORECAST_COLUMNS`. Training passes this to the feature builder, which picks
    per training row the newest row issued at or before that row's issue time.
    ``issued_until`` drops rows issued later (a training window's end).
    """
    conditions, args = _target_window(location_ids, since, until)
    if issued_until is not None:
        conditions.append("issued_at <= %s")
        args.append(_utc(issued_until))
    order = "location_id, target_time, issued_at"
    return _select(conninfo, "weather_forecasts", FORECAST_COLUMNS, conditions, args, order)


def forecasts_as_of_query(
    location_ids: Sequence[int],
    issue_time: datetime | str | pd.Timestamp,
    *,
    hours_before: int,
    hours_after: int,
) -> tuple[bytes, list[Any]]:
    """SQL and arguments of :func:`forecasts_as_of` (for a caller's own connection)."""
    at = _utc(issue_time)
    assert at is not None  # noqa: S101 - _utc returns None only for None
    start = pd.Timestamp(at) - pd.Timedelta(hours=hours_before)
    end = pd.Timestamp(at) + pd.Timedelta(hours=hours_after)
    rank = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SOURCE_RANK.items())
    sql = f"""
        SELECT DISTINCT ON (location_id, target_time) {", ".join(FORECAST_COLUMNS)}
        FROM weather_forecasts
        WHERE location_id = ANY(%s) AND target_time >= %s AND target_time <= %s
          AND issued_at <= %s
        ORDER BY location_id, target_time, issued_at DESC, CASE source {rank} END
    """  # noqa: S608 - constants only
    return sql.encode(), [
        list(map(int, location_ids)),
        start.to_pydatetime(),
        end.to_pydatetime(),
        at,
    ]


def forecasts_as_of(
    conninfo: Conninfo,
    location_ids: Sequence[int],
    issue_time: datetime | str | pd.Timestamp,
    *,
    hours_before: int = 0,
    hours_after: int = 48,
) -> pd.DataFrame:
    """The forecast as it was known at ``issue_time``: per location and target hour in
    [issue - ``hours_before``, issue + ``hours_after``], the newest row with
    ``issued_at <= issue_time``. Columns :data:`FORECAST_COLUMNS`."""
    sql, args = forecasts_as_of_query(
        location_ids, issue_time, hours_before=hours_before, hours_after=hours_after
    )
    with _connected(conninfo) as conn:
        rows = conn.execute(sql, args).fetchall()
    return _frame(rows, FORECAST_COLUMNS)


def load_observations(
    conninfo: Conninfo,
    *,
    location_ids: Sequence[int] | None = None,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Observed-like weather (reanalysis) rows: for analysis only, never a feature input."""
    columns = ("location_id", "target_time", "source", *VARIABLES)
    conditions, args = _target_window(location_ids, since, until)
    order = "location_id, target_time"
    return _select(conninfo, "weather_observations", columns, conditions, args, order)


def _select(
    conninfo: Conninfo,
    table: str,
    columns: Sequence[str],
    conditions: list[str],
    args: list[Any],
    order: str,
) -> pd.DataFrame:
    """``columns`` of ``table``'s rows meeting every condition, ordered, as a frame."""
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} "  # noqa: S608 - our identifiers
        f"WHERE {' AND '.join(conditions)} ORDER BY {order}"
    )
    with _connected(conninfo) as conn:
        rows = conn.execute(sql.encode(), args).fetchall()
    return _frame(rows, columns)


def _target_window(
    location_ids: Sequence[int] | None,
    since: datetime | str | pd.Timestamp | None,
    until: datetime | str | pd.Timestamp | None,
) -> tuple[list[str], list[Any]]:
    """WHERE conditions and their arguments: these locations, target hours in (since, until]."""
    conditions: list[str] = ["true"]
    args: list[Any] = []
    if location_ids is not None:
        conditions.append("location_id = ANY(%s)")
        args.append(list(map(int, location_ids)))
    if since is not None:
        conditions.append("target_time > %s")
        args.append(_utc(since))
    if until is not None:
        conditions.append("target_time <= %s")
        args.append(_utc(until))
    return conditions, args
