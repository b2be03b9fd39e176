"""Writes: locations and sensors, COPY-staged measurement upserts, rejections, watermarks.

Every function takes an open psycopg connection and leaves transaction control to the caller,
so a batch (measurements + rejections + watermark) commits as one unit: the watermark never runs
ahead of the data it describes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from aircast.openaq.models import Location

MEASUREMENT_COLUMNS = (
    "sensor_id",
    "datetime",
    "location_id",
    "parameter",
    "value",
    "unit",
    "coverage_count",
    "source",
)


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert changed: rows new to the table and rows whose content changed."""

    inserted: int = 0
    updated: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(self.inserted + other.inserted, self.updated + other.updated)

    @property
    def written(self) -> int:
        """Rows written; rows equal to what is stored are not rewritten and not counted."""
        return self.inserted + self.updated


def upsert_locations(
    conn: psycopg.Connection[Any], locations: Iterable[Location], *, only_new: bool = False
) -> int:
    """Insert or update locations and their sensors; returns the number of rows changed.

    ``only_new`` inserts what is missing and leaves stored rows alone: sources that know less
    than the API (the archive, CSV exports) must not erase a licence the API gave us.
    """
    changed = 0
    with conn.cursor() as cur:
        for loc in locations:
            if only_new:
                cur.execute(
                    """
                    INSERT INTO locations (location_id, name, locality, timezone, country,
                        latitude, longitude, provider, owner, license, attribution,
                        attribution_url, is_monitor, is_synthetic)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT DO NOTHING
                    """,
                    (
                        loc.location_id, loc.name, loc.locality, loc.timezone, loc.country,
                        loc.latitude, loc.longitude, loc.provider, loc.owner, loc.license,
                        loc.attribution, loc.attribution_url, loc.is_monitor, loc.is_synthetic,
                    ),
                )  # fmt: skip
                changed += cur.rowcount
                for sensor in loc.sensors:
                    cur.execute(
                        """
                        INSERT INTO sensors (sensor_id, location_id, parameter, parameter_id, unit)
                        VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
                        """,
                        (
                            sensor.sensor_id, loc.location_id, sensor.parameter,
                            sensor.parameter_id, sensor.unit,
                        ),
                    )  # fmt: skip
                    changed += cur.rowcount
                continue
            cur.execute(
                """
                INSERT INTO locations AS l (location_id, name, locality, timezone, country,
                    latitude, longitude, provider, owner, license, attribution, attribution_url,
                    is_monitor, is_synthetic)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (location_id) DO UPDATE SET
                    name = EXCLUDED.name, locality = EXCLUDED.locality,
                    timezone = EXCLUDED.timezone, country = EXCLUDED.country,
                    latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                    provider = EXCLUDED.provider, owner = EXCLUDED.owner,
                    license = EXCLUDED.license, attribution = EXCLUDED.attribution,
                    attribution_url = EXCLUDED.attribution_url,
                    is_monitor = EXCLUDED.is_monitor, is_synthetic = EXCLUDED.is_synthetic,
                    updated_at = now()
                WHERE (l.name, l.locality, l.timezone, l.country, l.latitude, l.longitude,
                       l.provider, l.owner, l.license, l.attribution, l.attribution_url,
                       l.is_monitor, l.is_synthetic)
                    IS DISTINCT FROM
                      (EXCLUDED.name, EXCLUDED.locality, EXCLUDED.timezone, EXCLUDED.country,
                       EXCLUDED.latitude, EXCLUDED.longitude, EXCLUDED.provider, EXCLUDED.owner,
                       EXCLUDED.license, EXCLUDED.attribution, EXCLUDED.attribution_url,
                       EXCLUDED.is_monitor, EXCLUDED.is_synthetic)
                """,
                (
                    loc.location_id, loc.name, loc.locality, loc.timezone, loc.country,
                    loc.latitude, loc.longitude, loc.provider, loc.owner, loc.license,
                    loc.attribution, loc.attribution_url, loc.is_monitor, loc.is_synthetic,
                ),
            )  # fmt: skip
            changed += cur.rowcount
            for sensor in loc.sensors:
                cur.execute(
                    """
                    INSERT INTO sensors AS s (sensor_id, location_id, parameter, parameter_id, unit)
                    VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (sensor_id) DO UPDATE SET
                        location_id = EXCLUDED.location_id, parameter = EXCLUDED.parameter,
                        parameter_id = EXCLUDED.parameter_id, unit = EXCLUDED.unit,
                        updated_at = now()
                    WHERE (s.location_id, s.parameter, s.parameter_id, s.unit)
                        IS DISTINCT FROM (EXCLUDED.location_id, EXCLUDED.parameter,
                                          EXCLUDED.parameter_id, EXCLUDED.unit)
                    """,
                    (
                        sensor.sensor_id, loc.location_id, sensor.parameter,
                        sensor.parameter_id, sensor.unit,
                    ),
                )  # fmt: skip
                changed += cur.rowcount
    return changed


# PostgreSQL's binary COPY: a fixed header, then per row a field count and (length, value)
# pairs, big-endian. Every staged field has a fixed width, so numpy writes all rows at once.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_STAGED = np.dtype(
    [
        ("nfields", ">i2"),
        ("series_len", ">i4"), ("series", ">i4"),
        ("sensor_len", ">i4"), ("sensor", ">i8"),
        ("time_len", ">i4"), ("time", ">i8"),
        ("value_len", ">i4"), ("value", ">f8"),
        ("coverage_len", ">i4"), ("coverage", ">i4"),
    ]
)  # fmt: skip
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
SERIES_COLUMNS = ["location_id", "parameter", "unit", "source"]


def _binary_payload(frame: pd.DataFrame, series: np.ndarray) -> bytes:
    """Rows for ``staging_measurements`` in binary COPY format."""
    rows = np.empty(len(frame), dtype=_STAGED)
    rows["nfields"] = 5
    rows["series_len"], rows["sensor_len"], rows["time_len"] = 4, 8, 8
    rows["value_len"], rows["coverage_len"] = 8, 4
    rows["series"] = series
    rows["sensor"] = frame["sensor_id"].to_numpy(dtype="int64")
    micros = frame["datetime"].dt.tz_convert("UTC").dt.as_unit("us").astype("int64").to_numpy()
    rows["time"] = micros - _PG_EPOCH_US
    rows["value"] = frame["value"].to_numpy(dtype="float64")
    # Coverage is validated >= 0, so -1 can stand for "unknown" and keep every row fixed-width.
    rows["coverage"] = frame["coverage_count"].astype("Int64").fillna(-1).to_numpy(dtype="int32")
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def upsert_measurements(
    conn: psycopg.Connection[Any], frame: pd.DataFrame, *, chunk_rows: int = 1_000_000
) -> UpsertResult:
    """COPY a validated frame into a staging table, then upsert it into ``measurements``.

    Rows equal to what is stored are left alone (``IS DISTINCT FROM``), so re-running a window
    rewrites nothing and reports zero inserted and zero updated. The frame must already be
    validated (:func:`aircast.schemas.validate_measurements`): one row per (sensor, hour).
    Every sensor must be registered (:func:`upsert_locations`); that is checked once per batch
    rather than by a per-row foreign key, which would double the cost of the upsert.
    """
    if frame.empty:
        return UpsertResult()
    # The per-series columns repeat on every row; stage them once and join them back in SQL.
    keys = frame[SERIES_COLUMNS].astype({"location_id": "int64"})
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize()
    series_rows = [(i, int(loc), str(par), str(unit), str(src))
                   for i, (loc, par, unit, src) in enumerate(uniques)]  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS staging_series (
                series integer PRIMARY KEY, location_id bigint, parameter text, unit text,
                source text
            ) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS staging_measurements (
                series integer, sensor_id bigint, datetime timestamptz,
                value double precision, coverage_count integer
            ) ON COMMIT DELETE ROWS;
            TRUNCATE staging_series, staging_measurements;
            """
        )
        with cur.copy("COPY staging_series FROM STDIN") as copy:
            for record in series_rows:
                copy.write_row(record)
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            payload = _binary_payload(part, codes[start : start + chunk_rows])
            with cur.copy("COPY staging_measurements FROM STDIN (FORMAT binary)") as copy:
                copy.write(payload)
        if len(frame) > 50_000:
            # A fresh temp table has no statistics, and the default work_mem would spill the
            # hash joins of a big batch to disk.
            cur.execute("ANALYZE staging_measurements")
            cur.execute("SELECT set_config('work_mem', '256MB', true)")
        unknown = cur.execute(
            """
            SELECT array_agg(DISTINCT st.sensor_id) FROM staging_measurements st
            WHERE NOT EXISTS (SELECT 1 FROM sensors s WHERE s.sensor_id = st.sensor_id)
            """
        ).fetchone()
        if unknown and unknown[0]:
            raise ValueError(
                f"measurements for unregistered sensors {sorted(unknown[0])[:10]}: "
                "store their locations first (upsert_locations)"
            )
        # Writers of measurements take turns (per batch), so the anti-join below cannot race
        # another writer inserting the same new hour. Cheaper than ON CONFLICT's speculative
        # insertion, which costs about a third more per row.
        cur.execute("SELECT pg_advisory_xact_lock(4242002)")
        cur.execute(
            """
            UPDATE measurements m SET
                location_id = ss.location_id, parameter = ss.parameter, value = st.value,
                unit = ss.unit, coverage_count = NULLIF(st.coverage_count, -1),
                source = ss.source, ingested_at = now()
            FROM staging_measurements st JOIN staging_series ss USING (series)
            WHERE m.sensor_id = st.sensor_id AND m.datetime = st.datetime
              AND (m.location_id, m.parameter, m.value, m.unit, m.coverage_count)
                  IS DISTINCT FROM (ss.location_id, ss.parameter, st.value, ss.unit,
                                    NULLIF(st.coverage_count, -1))
            """
        )
        updated = cur.rowcount
        cur.execute(
            """
            INSERT INTO measurements (sensor_id, datetime, location_id, parameter, value, unit,
                                      coverage_count, source)
            SELECT st.sensor_id, st.datetime, ss.location_id, ss.parameter, st.value, ss.unit,
                   NULLIF(st.coverage_count, -1), ss.source
            FROM staging_measurements st JOIN staging_series ss USING (series)
            WHERE NOT EXISTS (
                SELECT 1 FROM measurements m
                WHERE m.sensor_id = st.sensor_id AND m.datetime = st.datetime
            )
            """
        )
        inserted = cur.rowcount
        cur.execute("TRUNCATE staging_series, staging_measurements")
    return UpsertResult(inserted=inserted, updated=updated)


def _jsonable(value: Any) -> Any:
    # NaT passes for a datetime, so it must be caught before the isinstance check below.
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def record_rejections(conn: psycopg.Connection[Any], rejected: pd.DataFrame) -> int:
    """Store rejected rows with their source and reason; returns how many were new.

    A fingerprint of (source, reason, row) makes this idempotent: rejecting the same row again
    on a re-run adds nothing.
    """
    if rejected.empty:
        return 0
    rows = []
    for record in rejected.to_dict("records"):
        raw = record.get("raw")
        if not isinstance(raw, dict):
            raw = {k: v for k, v in record.items() if k not in ("raw", "reason")}
        raw = {str(k): _jsonable(v) for k, v in raw.items()}
        raw_json = json.dumps(raw, sort_keys=True, default=str)
        source = str(record.get("source") or raw.get("source") or "unknown")
        reason = str(record["reason"])
        fingerprint = hashlib.md5(  # noqa: S324 - a dedup key, not security
            f"{source}\x1f{reason}\x1f{raw_json}".encode()
        ).hexdigest()
        dt = _jsonable(record.get("datetime"))
        value = _jsonable(record.get("value"))
        try:
            value = float(value) if value is not None else None
        except (TypeError, ValueError):
            value = None
        rows.append(
            (
                source,
                _int_or_none(record.get("sensor_id")),
                _int_or_none(record.get("location_id")),
                dt,
                _jsonable(record.get("parameter")),
                value if value is None or math.isfinite(value) else None,
                _jsonable(record.get("unit")),
                reason,
                raw_json,
                fingerprint,
            )
        )
    with conn.cursor() as cur:
        before = _count(cur, "rejected_measurements")
        cur.executemany(
            """
            INSERT INTO rejected_measurements (source, sensor_id, location_id, datetime, parameter,
                                               value, unit, reason, raw, fingerprint)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)
            ON CONFLICT (fingerprint) DO NOTHING
            """,
            rows,
        )
        after = _count(cur, "rejected_measurements")
    return after - before


def _count(cur: psycopg.Cursor[Any], table: str) -> int:
    row = cur.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()  # noqa: S608 - constant
    return int(row[0]) if row else 0


def _int_or_none(value: Any) -> int | None:
    value = _jsonable(value)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def advance_watermarks(conn: psycopg.Connection[Any], frame: pd.DataFrame, source: str) -> int:
    """Move each sensor's watermark to the newest hour in ``frame`` (never backwards).

    Call it in the same transaction as the upsert of ``frame``.
    """
    if frame.empty:
        return 0
    newest = frame.groupby("sensor_id")["datetime"].max()
    rows = [
        (int(sensor), pd.Timestamp(ts).to_pydatetime(), source)
        for sensor, ts in zip(newest.index, newest.to_numpy(), strict=True)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO ingest_watermarks AS w (sensor_id, last_datetime, source)
            VALUES (%s, %s, %s)
            ON CONFLICT (sensor_id) DO UPDATE SET
                last_datetime = EXCLUDED.last_datetime, source = EXCLUDED.source,
                updated_at = now()
            WHERE EXCLUDED.last_datetime > w.last_datetime
            """,
            rows,
        )
    return len(rows)


def get_watermarks(conninfo_or_conn: str | psycopg.Connection[Any]) -> dict[int, datetime]:
    """Newest committed hour (hour-ending, UTC) per sensor id."""
    if isinstance(conninfo_or_conn, str):
        with psycopg.connect(conninfo_or_conn) as conn:
            return get_watermarks(conn)
    rows = conninfo_or_conn.execute(
        "SELECT sensor_id, last_datetime FROM ingest_watermarks"
    ).fetchall()
    return {int(r[0]): r[1] for r in rows}
