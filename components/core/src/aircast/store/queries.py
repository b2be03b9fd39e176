"""History queries: what training and the API read from the aircast database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg

LOCATION_COLUMNS = (
    "location_id",
    "name",
    "timezone",
    "latitude",
    "longitude",
    "country",
    "provider",
    "owner",
    "attribution",
    "is_synthetic",
)


Conninfo = str | psycopg.Connection[Any]
"""A libpq URL (a connection is opened and closed per call) or an open connection (a pool's)."""


@contextlib.contextmanager
def _connected(conninfo: Conninfo) -> Iterator[psycopg.Connection[Any]]:
    if isinstance(conninfo, psycopg.Connection):
        yield conninfo
        return
    with psycopg.connect(conninfo) as conn:
        yield conn


def _utc(value: datetime | str | pd.Timestamp | None) -> datetime | None:
    if value is None:
        return None
    if type(value) is datetime and value.tzinfo is not None:
        return value.astimezone(UTC)  # the API's per-request path: no pandas round trip
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def load_measurements(
    conninfo: Conninfo,
    parameters: Sequence[str] | str,
    *,
    location_ids: Sequence[int] | None = None,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Hourly history in long format: ``location_id, parameter, datetime, value``.

    One row per (location, parameter, hour-ending UTC ``datetime``). When a location has several
    sensors of a parameter, the one with the most stored rows wins (lowest sensor id on ties), so
    training and serving pick the same series. ``since`` is exclusive and ``until`` inclusive,
    as in OpenAQ. Naive datetimes are read as UTC.
    """
    rows = measurement_rows(
        conninfo, parameters, location_ids=location_ids, since=since, until=until
    )
    frame = pd.DataFrame(rows, columns=["location_id", "parameter", "datetime", "value"])
    return frame.astype(
        {
            "location_id": "int64",
            "parameter": str,
            "datetime": "datetime64[ns, UTC]",
            "value": "float64",
        }
    )


def measurement_rows(
    conninfo: Conninfo,
    parameters: Sequence[str] | str,
    *,
    location_ids: Sequence[int] | None = None,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
) -> list[tuple[int, str, datetime, float]]:
    """The rows of :func:`load_measurements` as tuples, without building a frame.

    ``(location_id, parameter, datetime, value)``, same sensor choice and window.
    """
    sql, args = measurement_query(parameters, location_ids=location_ids, since=since, until=until)
    with _connected(conninfo) as conn:
        return conn.execute(sql, args).fetchall()


def measurement_query(
    parameters: Sequence[str] | str,
    *,
    location_ids: Sequence[int] | None = None,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """SQL and arguments of :func:`measurement_rows`, for callers with their own connection.

    The API runs it on an asynchronous connection (:func:`hourly_series_query` wraps it), so
    training and serving choose the same sensor and the same hours from one piece of SQL.
    """
    params = [parameters] if isinstance(parameters, str) else list(parameters)
    where = ["s.parameter = ANY(%(parameters)s)"]
    args: dict[str, Any] = {"parameters": params}
    if location_ids is not None:
        where.append("s.location_id = ANY(%(locations)s)")
        args["locations"] = [int(i) for i in location_ids]
    window = []
    if since is not None:
        window.append("m.datetime > %(since)s")
        args["since"] = _utc(since)
    if until is not None:
        window.append("m.datetime <= %(until)s")
        args["until"] = _utc(until)
    sql = f"""
        WITH candidates AS (
            SELECT s.sensor_id, s.location_id, s.parameter,
                   -- rows are counted only where there is a choice to make: counting a
                   -- sensor's whole history on every API request grew with the history
                   CASE WHEN EXISTS (
                       SELECT 1 FROM sensors o
                       WHERE o.location_id = s.location_id AND o.parameter = s.parameter
                         AND o.sensor_id <> s.sensor_id
                   ) THEN (SELECT count(*) FROM measurements c WHERE c.sensor_id = s.sensor_id)
                   ELSE 0 END AS n
            FROM sensors s
            WHERE {" AND ".join(where)}
        ), chosen AS (
            SELECT DISTINCT ON (location_id, parameter) sensor_id, location_id, parameter
            FROM candidates
            ORDER BY location_id, parameter, n DESC, sensor_id
        )
        SELECT c.location_id, c.parameter, m.datetime, m.value
        FROM chosen c JOIN measurements m ON m.sensor_id = c.sensor_id
        {"WHERE " + " AND ".join(window) if window else ""}
        ORDER BY c.location_id, c.parameter, m.datetime
    """  # noqa: S608 - only fixed fragments are interpolated; values are bound
    return sql.encode(), args


def hourly_series_query(
    parameters: Sequence[str],
    location_id: int,
    *,
    since: datetime,
    until: datetime,
) -> tuple[bytes, dict[str, Any]]:
    """The rows of :func:`measurement_query` for one location as one row per parameter.

    Each row is ``(parameter, hours, values)``: hours since the Unix epoch of the hour-ending
    UTC ``datetime`` (an ``int8[]``) and the values (a ``float8[]``, NULL kept), in time
    order. Arrays instead of rows: the API turns them into numpy arrays without a Python
    object per measurement.
    """
    inner, args = measurement_query(
        parameters, location_ids=[location_id], since=since, until=until
    )
    sql = (
        b"""
        SELECT parameter,
               array_agg(floor(extract(epoch FROM datetime) / 3600)::int8 ORDER BY datetime),
               array_agg(value ORDER BY datetime)
        FROM ("""
        + inner
        + b""") AS rows
        GROUP BY parameter
    """
    )
    return sql, args


def load_locations(conninfo: Conninfo, location_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Stored locations with their attribution: one row per location, ordered by id."""
    sql = f"SELECT {', '.join(LOCATION_COLUMNS)} FROM locations"  # noqa: S608 - constants
    args: dict[str, Any] = {}
    if location_ids is not None:
        sql += " WHERE location_id = ANY(%(ids)s)"
        args["ids"] = [int(i) for i in location_ids]
    sql += " ORDER BY location_id"
    with _connected(conninfo) as conn:
        rows = conn.execute(sql.encode(), args).fetchall()
    frame = pd.DataFrame(rows, columns=list(LOCATION_COLUMNS))
    return frame.astype(
        {
            "location_id": "int64",
            "latitude": "float64",
            "longitude": "float64",
            "is_synthetic": "bool",
        }
    )


def list_locations(
    conninfo: Conninfo, parameter: str, *, after: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """One page of locations that have a sensor of ``parameter``, ordered by ``location_id``.

    Keyset pagination: pass the last ``location_id`` of a page as ``after`` for the next one.
    Each item carries the location's attribution and ``latest_datetime``/``latest_value`` of
    ``parameter`` (None when nothing is stored yet).
    """
    sql, args = location_page_query(parameter, after=after, limit=limit)
    with _connected(conninfo) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def location_page_query(
    parameter: str, *, after: int | None = None, limit: int = 100
) -> tuple[bytes, dict[str, Any]]:
    """SQL and arguments of :func:`list_locations` (columns: ``LOCATION_COLUMNS`` + latest)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    args = {"parameter": parameter, "after": -1 if after is None else int(after), "limit": limit}
    return _location_sql("l.location_id > %(after)s"), args


def location_query(parameter: str, location_id: int) -> tuple[bytes, dict[str, Any]]:
    """One location in the shape of :func:`list_locations` (no row when it does not measure
    ``parameter``): the API's per-request lookup, by key rather than as a page."""
    args = {"parameter": parameter, "location": int(location_id), "limit": 1}
    return _location_sql("l.location_id = %(location)s"), args


def _location_sql(condition: str) -> bytes:
    sql = f"""
        SELECT {", ".join("l." + c for c in LOCATION_COLUMNS)},
               latest.datetime AS latest_datetime, latest.value AS latest_value
        FROM locations l
        LEFT JOIN LATERAL (
            SELECT m.datetime, m.value
            FROM sensors s
            CROSS JOIN LATERAL (
                SELECT datetime, value FROM measurements
                WHERE sensor_id = s.sensor_id ORDER BY datetime DESC LIMIT 1
            ) m
            WHERE s.location_id = l.location_id AND s.parameter = %(parameter)s
            ORDER BY m.datetime DESC, s.sensor_id
            LIMIT 1
        ) latest ON true
        WHERE EXISTS (SELECT 1 FROM sensors s
                      WHERE s.location_id = l.location_id AND s.parameter = %(parameter)s)
          AND {condition}
        ORDER BY l.location_id
        LIMIT %(limit)s
    """  # noqa: S608 - column names and the condition are constants
    return sql.encode()


def newest_measurement(conninfo: Conninfo, parameter: str) -> pd.Timestamp | None:
    """The newest stored hour of ``parameter`` over all sensors (UTC), or None when there is
    none. Where a training window ends by default."""
    # One index probe per sensor on the (sensor_id, datetime) primary key, not a scan.
    sql = b"""
        SELECT max(newest.datetime)
        FROM sensors s
        CROSS JOIN LATERAL (
            SELECT m.datetime FROM measurements m
            WHERE m.sensor_id = s.sensor_id ORDER BY m.datetime DESC LIMIT 1
        ) newest
        WHERE s.parameter = %(parameter)s
    """
    with _connected(conninfo) as conn:
        row = conn.execute(sql, {"parameter": parameter}).fetchone()
    if row is None or row[0] is None:
        return None
    return pd.Timestamp(row[0]).tz_convert("UTC")
