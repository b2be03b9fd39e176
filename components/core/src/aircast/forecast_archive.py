"""The forecast archive: the champion's forecast of every active location, issued and kept.

The Mage pipeline ``issue_forecasts`` calls :func:`issue_forecasts` every hour. A location is
*active* when its newest observation of the parameter is at most ``archive_active_hours`` old;
its issue time is the hour of that observation, the issue time the API's stored-location route
uses, so an archived forecast is the forecast the API would compute (same model, same history,
same feature builder). Each issue is stored once per (location, parameter, issue time, model
version): issues already archived are not recomputed, and the write is
``INSERT ... ON CONFLICT DO NOTHING``, so a re-run (or a run killed half-way and re-run) adds
exactly what is missing. Locations are written in chunks, one transaction each, with the
issue's persistence reference (the observation of the issue hour) in ``forecast_issues``.

``forecasts`` is range-partitioned by issue month (see migration 0003); :func:`prune` drops
months older than the retention and deletes the older rows of the oldest month kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from aircast.features import build_features, history_hours
from aircast.forecaster import Forecaster
from aircast.store.queries import Conninfo, _connected, _utc, load_locations, measurement_rows

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
# Binary COPY rows of the staging table: every field is fixed-width, so numpy writes them all.
_STAGED = np.dtype(
    [
        ("nfields", ">i2"),
        ("location_len", ">i4"), ("location", ">i8"),
        ("issue_len", ">i4"), ("issue", ">i8"),
        ("target_len", ">i4"), ("target", ">i8"),
        ("point_len", ">i4"), ("point", ">f8"),
        ("p10_len", ">i4"), ("p10", ">f8"),
        ("p90_len", ">i4"), ("p90", ">f8"),
        ("horizon_len", ">i4"), ("horizon", ">i2"),
    ]
)  # fmt: skip
_PARTITION_LOCK = 4242003


@dataclass(frozen=True)
class IssueSummary:
    """What one :func:`issue_forecasts` call did."""

    parameter: str
    model_version: int
    active: int = 0
    already_archived: int = 0
    too_short: int = 0
    issued: int = 0
    rows: int = 0
    chunks: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for logs and Mage block outputs)."""
        return asdict(self)


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(moment: datetime) -> datetime:
    return datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    """The name of the ``forecasts`` partition holding issues of ``month``'s first day."""
    return f"forecasts_y{month.year:04d}m{month.month:02d}"


def ensure_partitions(conn: psycopg.Connection[Any], first: datetime, last: datetime) -> list[str]:
    """Create the monthly ``forecasts`` partitions covering issue times ``first..last``.

    Idempotent and safe with concurrent writers (an advisory lock serialises the DDL).
    Returns the partitions created.
    """
    created: list[str] = []
    month = _month_start(first.astimezone(UTC))
    end = last.astimezone(UTC)
    wanted = []
    while month <= end:
        wanted.append(month)
        month = _next_month(month)
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'forecasts'::regclass"
        ).fetchall()
    }
    missing = [m for m in wanted if partition_name(m) not in existing]
    if not missing:
        return created
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
    for start in missing:
        name = partition_name(start)
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF forecasts FOR VALUES FROM ({}) TO ({})"
            ).format(sql.Identifier(name), sql.Literal(start), sql.Literal(_next_month(start)))
        )
        created.append(name)
    return created


def _staged_payload(frame: pd.DataFrame) -> bytes:
    rows = np.empty(len(frame), dtype=_STAGED)
    rows["nfields"] = 7
    for name in ("location", "issue", "target", "point", "p10", "p90"):
        rows[f"{name}_len"] = 8
    rows["horizon_len"] = 2
    rows["location"] = frame["location_id"].to_numpy(dtype="int64")
    for column, name in (("issue_time", "issue"), ("target_time", "target")):
        micros = pd.DatetimeIndex(frame[column]).tz_convert("UTC").as_unit("us").asi8
        rows[name] = micros - _PG_EPOCH_US
    for name in ("point", "p10", "p90"):
        rows[name] = frame[name].to_numpy(dtype="float64")
    rows["horizon"] = frame["horizon"].to_numpy(dtype="int16")
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def store_forecasts(
    conn: psycopg.Connection[Any],
    parameter: str,
    model_version: int,
    forecasts: pd.DataFrame,
    persistence: pd.DataFrame,
) -> tuple[int, int]:
    """Archive forecasts (``Forecaster.predict`` output) of one model version.

    ``persistence`` has one row per issue: ``location_id``, ``issue_time``, ``persistence``
    (the observation of the issue hour, NaN when unknown). Issues already archived for this
    version are left as they are (``ON CONFLICT DO NOTHING``). Runs in the caller's
    transaction; returns (issues inserted, forecast rows inserted).
    """
    if forecasts.empty:
        return 0, 0
    issue = pd.DatetimeIndex(forecasts["issue_time"])
    ensure_partitions(conn, issue.min().to_pydatetime(), issue.max().to_pydatetime())
    with conn.cursor() as cur:
        cur.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS staging_forecasts (
                location_id bigint, issue_time timestamptz, target_time timestamptz,
                point double precision, p10 double precision, p90 double precision,
                horizon smallint
            ) ON COMMIT DELETE ROWS;
            TRUNCATE staging_forecasts;
            """
        )
        with cur.copy("COPY staging_forecasts FROM STDIN (FORMAT binary)") as copy:
            copy.write(_staged_payload(forecasts))
        horizons = forecasts.groupby(["location_id", "issue_time"])["horizon"].size()
        keys = persistence.set_index(["location_id", "issue_time"])["persistence"]
        values = keys.reindex(horizons.index).to_numpy(dtype="float64")
        cur.execute(
            """
            INSERT INTO forecast_issues (location_id, parameter, issue_time, model_version,
                                         persistence, horizons)
            SELECT l, %(parameter)s, t, %(version)s, NULLIF(p, 'NaN'::float8), h
            FROM unnest(%(locations)s::int8[], %(times)s::timestamptz[],
                        %(persistence)s::float8[], %(horizons)s::int2[]) AS u(l, t, p, h)
            ON CONFLICT DO NOTHING
            """,
            {
                "parameter": parameter,
                "version": int(model_version),
                "locations": [int(v) for v in horizons.index.get_level_values(0)],
                "times": [t.to_pydatetime() for t in horizons.index.get_level_values(1)],
                "persistence": [float(v) for v in values],
                "horizons": [int(v) for v in horizons.to_numpy()],
            },
        )
        issues = cur.rowcount
        cur.execute(
            """
            INSERT INTO forecasts (location_id, issue_time, target_time, point, p10, p90,
                                   model_version, horizon, parameter)
            SELECT location_id, issue_time, target_time, point, p10, p90, %(version)s,
                   horizon, %(parameter)s
            FROM staging_forecasts
            ON CONFLICT DO NOTHING
            """,
            {"parameter": parameter, "version": int(model_version)},
        )
        rows = cur.rowcount
        cur.execute("TRUNCATE staging_forecasts")
    return issues, rows


def active_issue_times(
    conn: psycopg.Connection[Any], parameter: str, until: datetime, active_hours: int
) -> list[tuple[int, datetime]]:
    """(location, issue time) of every location whose newest ``parameter`` observation at or
    before ``until`` is at most ``active_hours`` old; the issue time is that observation's hour.

    The newest observation is taken over the location's sensors of the parameter, as the API's
    stored-location route does.
    """
    rows = conn.execute(
        """
        SELECT l.location_id, latest.datetime
        FROM locations l
        CROSS JOIN LATERAL (
            SELECT m.datetime
            FROM sensors s
            CROSS JOIN LATERAL (
                SELECT datetime FROM measurements
                WHERE sensor_id = s.sensor_id AND datetime <= %(until)s
                ORDER BY datetime DESC LIMIT 1
            ) m
            WHERE s.location_id = l.location_id AND s.parameter = %(parameter)s
            ORDER BY m.datetime DESC LIMIT 1
        ) latest
        WHERE latest.datetime > %(until)s - make_interval(hours => %(hours)s)
        ORDER BY l.location_id
        """,
        {"parameter": parameter, "until": until, "hours": int(active_hours)},
    ).fetchall()
    return [(int(loc), when) for loc, when in rows]


def archived_issues(
    conn: psycopg.Connection[Any],
    parameter: str,
    model_version: int,
    issues: Sequence[tuple[int, datetime]],
) -> set[tuple[int, datetime]]:
    """Which of ``issues`` (location, issue time) this model version has already archived."""
    if not issues:
        return set()
    rows = conn.execute(
        """
        SELECT i.location_id, i.issue_time
        FROM unnest(%(locations)s::int8[], %(times)s::timestamptz[]) AS u(l, t)
        JOIN forecast_issues i
          ON i.location_id = u.l AND i.issue_time = u.t
         AND i.parameter = %(parameter)s AND i.model_version = %(version)s
        """,
        {
            "parameter": parameter,
            "version": int(model_version),
            "locations": [loc for loc, _ in issues],
            "times": [when for _, when in issues],
        },
    ).fetchall()
    return {(int(loc), when) for loc, when in rows}


def forecast_issues(
    conn: psycopg.Connection[Any],
    forecaster: Forecaster,
    issues: Sequence[tuple[int, datetime]],
    min_recent_hours: int,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Forecasts of ``issues`` from the stored history: (forecasts, persistence, too short).

    Features come from :func:`aircast.features.build_features` on the
    :func:`aircast.features.history_hours` before each issue time (the API's serving
    arithmetic); an issue with fewer than ``min_recent_hours`` observed target hours of the
    24 up to it is not forecast (the API answers 409 for it).
    """
    spec = forecaster.spec
    wanted = pd.DataFrame(
        {
            "location_id": np.asarray([loc for loc, _ in issues], dtype=np.int64),
            "issue_time": pd.DatetimeIndex([pd.Timestamp(t) for _, t in issues]).tz_convert("UTC"),
        }
    )
    since = wanted["issue_time"].min() - pd.Timedelta(hours=history_hours(spec))
    rows = measurement_rows(
        conn,
        list(spec.parameters),
        location_ids=wanted["location_id"].tolist(),
        since=since,
        until=wanted["issue_time"].max(),
    )
    measurements = pd.DataFrame(rows, columns=["location_id", "parameter", "datetime", "value"])
    locations = load_locations(conn, wanted["location_id"].tolist())
    weather = None
    if spec.weather:
        from aircast.weather.store import load_forecasts

        # the build_features as-of rule then gives each issue only what was issued by it
        weather = load_forecasts(
            conn,
            location_ids=wanted["location_id"].tolist(),
            since=wanted["issue_time"].min() - pd.Timedelta(hours=1),
            until=wanted["issue_time"].max() + pd.Timedelta(hours=spec.horizons),
            issued_until=wanted["issue_time"].max(),
        )
    features = build_features(measurements, locations, spec, issue_times=wanted, weather=weather)
    usable = features["y_count_24"].to_numpy() >= min_recent_hours
    features = features[usable].reset_index(drop=True)
    persistence = pd.DataFrame(
        {
            "location_id": features["location_id"].to_numpy(dtype=np.int64),
            "issue_time": pd.DatetimeIndex(features["issue_time"]),
            "persistence": features["y_lag_0"].to_numpy(dtype="float64"),
        }
    )
    short = int((~usable).sum())
    if features.empty:
        empty = pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in ("point", "p10", "p90")}
        ).assign(location_id=pd.Series(dtype="int64"), horizon=pd.Series(dtype="int64"))
        return empty, persistence, short
    return forecaster.predict(features), persistence, short


def issue_forecasts(
    conninfo: str,
    parameter: str,
    forecaster: Forecaster,
    model_version: int,
    *,
    until: datetime | str | pd.Timestamp | None = None,
    active_hours: int = 6,
    min_recent_hours: int = 12,
    chunk_locations: int = 1000,
    after_chunk: Callable[[int], None] | None = None,
) -> IssueSummary:
    """Forecast every active location with ``forecaster`` and archive the result.

    ``until`` (default: now) bounds the observations considered. Issues this model version
    already archived are skipped; the others are computed and written ``chunk_locations`` at
    a time, each chunk in its own transaction, so a killed run keeps its finished chunks and
    a re-run writes the rest. ``after_chunk(n)`` is called after the n-th chunk committed.
    """
    moment = _utc(until) or datetime.now(UTC)
    with psycopg.connect(conninfo) as conn:
        active = active_issue_times(conn, parameter, moment, active_hours)
        done = archived_issues(conn, parameter, model_version, active)
        conn.commit()
        todo = [issue for issue in active if issue not in done]
        issued = rows = too_short = chunks = 0
        for start in range(0, len(todo), chunk_locations):
            chunk = todo[start : start + chunk_locations]
            forecasts, persistence, short = forecast_issues(
                conn, forecaster, chunk, min_recent_hours
            )
            with conn.transaction():
                new_issues, new_rows = store_forecasts(
                    conn, parameter, model_version, forecasts, persistence
                )
            conn.commit()
            issued += new_issues
            rows += new_rows
            too_short += short
            chunks += 1
            if after_chunk is not None:
                after_chunk(chunks)
    return IssueSummary(
        parameter=parameter,
        model_version=int(model_version),
        active=len(active),
        already_archived=len(done),
        too_short=too_short,
        issued=issued,
        rows=rows,
        chunks=chunks,
    )


def prune(
    conninfo: Conninfo, retention_days: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Delete forecasts issued more than ``retention_days`` ago.

    Whole months older than the cut-off are dropped as partitions (instant, nothing to
    vacuum); the older rows of the month holding the cut-off are deleted, with their issues.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    dropped: list[str] = []
    with _connected(conninfo) as conn:
        parts = conn.execute(
            """
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'forecasts'::regclass
            """
        ).fetchall()
        for name, bound in parts:
            # "FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')"
            upper = pd.Timestamp(str(bound).split("TO ('")[1].split("')")[0])
            if upper <= cutoff:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(str(name))))
                dropped.append(str(name))
        deleted = conn.execute("DELETE FROM forecasts WHERE issue_time < %s", (cutoff,)).rowcount
        issues = conn.execute(
            "DELETE FROM forecast_issues WHERE issue_time < %s", (cutoff,)
        ).rowcount
        conn.commit()
    return {
        "cutoff": cutoff.isoformat(),
        "dropped_partitions": dropped,
        "deleted_rows": deleted,
        "deleted_issues": issues,
    }


# ----------------------------------------------------------------------------- reads


def newest_forecast_query(
    location_id: int, parameter: str, model_version: int, issue_time: datetime
) -> tuple[bytes, dict[str, Any]]:
    """SQL of the archived forecast of one issue: ``(horizon, point, p10, p90)`` rows by
    horizon; no row when that issue is not archived for ``model_version``."""
    sql = b"""
        SELECT horizon, point, p10, p90 FROM forecasts
        WHERE location_id = %(location)s AND parameter = %(parameter)s
          AND issue_time = %(issue)s AND model_version = %(version)s
        ORDER BY horizon
    """
    return sql, {
        "location": int(location_id),
        "parameter": parameter,
        "issue": issue_time,
        "version": int(model_version),
    }


def forecast_page_query(
    location_id: int,
    parameter: str,
    *,
    issued_since: datetime | None,
    issued_until: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> tuple[bytes, dict[str, Any]]:
    """SQL of one page of a location's archived forecasts, oldest issue first.

    Rows: ``(issue_time, model_version, horizons int2[], points, p10s, p90s float8[])``, one per
    issue, at most ``limit``. ``issued_since``/``issued_until`` are inclusive bounds of the
    issue time; ``after`` is the (issue time, model version) of the previous page's last item.
    """
    args: dict[str, Any] = {
        "location": int(location_id),
        "parameter": parameter,
        "since": issued_since or datetime(1970, 1, 1, tzinfo=UTC),
        "until": issued_until or datetime(9999, 1, 1, tzinfo=UTC),
        "after_time": after[0] if after else datetime(1970, 1, 1, tzinfo=UTC),
        "after_version": after[1] if after else -1,
        "limit": int(limit),
    }
    sql = b"""
        WITH page AS (
            SELECT issue_time, model_version FROM forecast_issues
            WHERE location_id = %(location)s AND parameter = %(parameter)s
              AND issue_time >= %(since)s AND issue_time <= %(until)s
              AND (issue_time, model_version) > (%(after_time)s, %(after_version)s)
            ORDER BY issue_time, model_version
            LIMIT %(limit)s
        )
        SELECT p.issue_time, p.model_version,
               array_agg(f.horizon ORDER BY f.horizon), array_agg(f.point ORDER BY f.horizon),
               array_agg(f.p10 ORDER BY f.horizon), array_agg(f.p90 ORDER BY f.horizon)
        FROM page p
        JOIN forecasts f
          ON f.location_id = %(location)s AND f.parameter = %(parameter)s
         AND f.issue_time = p.issue_time AND f.model_version = p.model_version
         AND f.issue_time >= %(since)s AND f.issue_time <= %(until)s
        GROUP BY p.issue_time, p.model_version
        ORDER BY p.issue_time, p.model_version
    """
    return sql, args
