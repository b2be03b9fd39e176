"""Live verification: archived forecasts scored against the observations that followed.

Definitions (docs/verification.md has the long form):

* A **comparison** is one (location, parameter, model version). A target time ``T`` of a
  comparison is scored only when every horizon ``h = 1..H`` has an archived forecast for ``T``
  (issued at ``T - h``), that issue has a persistence reference, and ``T`` is observed. All
  horizons of a comparison are therefore scored on the same target times: the 1 h and the
  24 h errors describe the same hours, not easier and harder ones.
* **Persistence** is the forecast that was available at the issue time: the observation of
  the issue hour, recorded with the issue (``forecast_issues.persistence``), for every horizon.
* Per horizon, over the scored target times of a window: ``mae``, ``bias`` (mean of forecast
  minus observed), ``rmse``, ``coverage`` (share of observations inside p10..p90),
  ``persistence_mae`` and ``skill = 1 - mae / persistence_mae``.
* **Windows** are rolling: the target times ``T`` with ``end - window < T <= end``, for
  24 h, 7 d and 30 d. A window is read from daily sums (``verification_daily``) for the whole
  UTC days inside it and from the scored rows (``forecast_scores``) for the hours at its edges,
  so it is exact to the hour and a 30-day window reads ~30 rows per horizon.

:func:`score` pairs new observations with the archive (idempotent: a target time is scored
once per comparison, and the daily sums grow only by the rows that insert added).
:func:`summarize` writes the all-locations figures that ``/metrics`` exposes and
:func:`log_live_metrics` sends them to the model version's MLflow run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from aircast.store.queries import Conninfo, _connected, _utc, measurement_query

WINDOWS: dict[str, int] = {"24h": 24, "7d": 24 * 7, "30d": 24 * 30}
"""Rolling windows by name, in hours."""


@dataclass(frozen=True)
class ScoreSummary:
    """What one :func:`score` call added."""

    parameter: str
    since: str
    until: str
    scored: int
    comparisons: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for logs and Mage block outputs)."""
        return asdict(self)


@dataclass(frozen=True)
class WindowScore:
    """Verification figures of one (location or all, parameter, version, horizon, window)."""

    location_id: int | None
    parameter: str
    model_version: int
    horizon: int
    window: str
    window_start: datetime
    window_end: datetime
    pairs: int
    mae: float | None
    bias: float | None
    rmse: float | None
    coverage: float | None
    persistence_mae: float | None
    skill: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (API items, MLflow)."""
        return asdict(self)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def score(
    conninfo: Conninfo,
    parameter: str,
    *,
    until: datetime | str | pd.Timestamp | None = None,
    lookback_hours: int = 48,
) -> ScoreSummary:
    """Score the archived forecasts of target times ``until - lookback_hours < T <= until``.

    Target times already scored for a comparison are skipped, so calling this every hour
    with an overlapping lookback scores late observations without counting any twice. Runs
    in one transaction: the scored rows and the daily sums commit together.
    """
    end = _hour(_utc(until) or datetime.now(UTC))
    start = end - timedelta(hours=lookback_hours)
    obs_sql, obs_args = measurement_query(parameter, since=start, until=end)
    with _connected(conninfo) as conn:
        # Issues older than the longest horizon cannot reach the window: bounding the issue
        # times by it keeps the archive scan to the issues that matter (168 h is the
        # FeatureSpec's bound on horizons, read only to find the longest one issued).
        row = conn.execute(
            "SELECT max(horizons) FROM forecast_issues WHERE parameter = %s "
            "AND issue_time > %s AND issue_time < %s",
            (parameter, start - timedelta(hours=168), end),
        ).fetchone()
    longest = int(row[0]) if row and row[0] is not None else 0
    args = {
        **obs_args,
        "parameter": parameter,
        "start": start,
        "end": end,
        "issued_after": start - timedelta(hours=longest + 1),
    }
    sql = (
        b"""
        WITH obs AS MATERIALIZED ("""
        + obs_sql
        + b"""),
        f AS MATERIALIZED (
            SELECT f.location_id, f.model_version, f.target_time, f.horizon, f.point, f.p10,
                   f.p90, i.persistence, i.horizons
            FROM forecasts f
            JOIN forecast_issues i
              ON i.location_id = f.location_id AND i.parameter = f.parameter
             AND i.issue_time = f.issue_time AND i.model_version = f.model_version
            WHERE f.parameter = %(parameter)s
              AND f.issue_time > %(issued_after)s AND f.issue_time < %(end)s
              AND f.target_time > %(start)s AND f.target_time <= %(end)s
              AND i.issue_time > %(issued_after)s AND i.issue_time < %(end)s
              AND NOT EXISTS (
                  SELECT 1 FROM forecast_scores s
                  WHERE s.location_id = f.location_id AND s.parameter = f.parameter
                    AND s.model_version = f.model_version AND s.target_time = f.target_time)
        ),
        complete AS (
            SELECT f.location_id, f.model_version, f.target_time, o.value AS observed,
                   array_agg(f.point - o.value ORDER BY f.horizon) AS error,
                   array_agg(f.persistence - o.value ORDER BY f.horizon) AS persistence_error,
                   array_agg(o.value >= f.p10 AND o.value <= f.p90 ORDER BY f.horizon)
                       AS covered
            FROM f JOIN obs o ON o.location_id = f.location_id AND o.datetime = f.target_time
            GROUP BY f.location_id, f.model_version, f.target_time, o.value
            HAVING count(*) = max(f.horizons) AND count(f.persistence) = count(*)
               AND min(f.horizon) = 1 AND max(f.horizon) = max(f.horizons)
        )
        INSERT INTO forecast_scores (location_id, parameter, model_version, target_time,
                                     observed, error, persistence_error, covered)
        SELECT location_id, %(parameter)s, model_version, target_time, observed, error,
               persistence_error, covered
        FROM complete
        ON CONFLICT DO NOTHING
        RETURNING location_id, model_version, target_time, error, persistence_error, covered
        """
    )
    with _connected(conninfo) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
        _add_daily(cur, parameter, rows)
    return ScoreSummary(
        parameter=parameter,
        since=start.isoformat(),
        until=end.isoformat(),
        scored=len(rows),
        comparisons=len({(r[0], r[1]) for r in rows}),
    )


def _add_daily(cur: psycopg.Cursor[Any], parameter: str, rows: Sequence[Any]) -> None:
    """Add newly scored rows to the per-day sums (same transaction as their insert)."""
    if not rows:
        return
    sums: dict[tuple[int, int, date, int], list[float]] = {}
    for location_id, version, target, error, persistence_error, covered in rows:
        day = target.astimezone(UTC).date()
        for h, (e, pe, c) in enumerate(zip(error, persistence_error, covered, strict=True), 1):
            acc = sums.setdefault((int(location_id), int(version), day, h), [0, 0, 0, 0, 0, 0])
            acc[0] += 1
            acc[1] += e
            acc[2] += abs(e)
            acc[3] += e * e
            acc[4] += 1 if c else 0
            acc[5] += abs(pe)
    keys = list(sums)
    values = np.asarray([sums[k] for k in keys], dtype="float64")
    cur.execute(
        """
        INSERT INTO verification_daily AS d (location_id, parameter, model_version, day,
            horizon, pairs, sum_error, sum_abs_error, sum_sq_error, covered,
            sum_persistence_abs_error)
        SELECT l, %(parameter)s, v, dy, h, n, se, sae, ssq, nc, spae
        FROM unnest(%(l)s::int8[], %(v)s::int4[], %(d)s::date[], %(h)s::int2[], %(n)s::int4[],
                    %(se)s::float8[], %(sae)s::float8[], %(ssq)s::float8[], %(nc)s::int4[],
                    %(spae)s::float8[]) AS u(l, v, dy, h, n, se, sae, ssq, nc, spae)
        ON CONFLICT (location_id, parameter, model_version, day, horizon) DO UPDATE SET
            pairs = d.pairs + EXCLUDED.pairs,
            sum_error = d.sum_error + EXCLUDED.sum_error,
            sum_abs_error = d.sum_abs_error + EXCLUDED.sum_abs_error,
            sum_sq_error = d.sum_sq_error + EXCLUDED.sum_sq_error,
            covered = d.covered + EXCLUDED.covered,
            sum_persistence_abs_error =
                d.sum_persistence_abs_error + EXCLUDED.sum_persistence_abs_error
        """,
        {
            "parameter": parameter,
            "l": [k[0] for k in keys],
            "v": [k[1] for k in keys],
            "d": [k[2] for k in keys],
            "h": [k[3] for k in keys],
            "n": values[:, 0].astype(int).tolist(),
            "se": values[:, 1].tolist(),
            "sae": values[:, 2].tolist(),
            "ssq": values[:, 3].tolist(),
            "nc": values[:, 4].astype(int).tolist(),
            "spae": values[:, 5].tolist(),
        },
    )


# ----------------------------------------------------------------------------- windows


def _window_bounds(end: datetime, hours: int) -> tuple[datetime, date, date, datetime, datetime]:
    """(start, first full day, end of full days, left edge end, right edge start).

    Target times ``start < T <= end`` split into the UTC days wholly inside (read from the
    daily sums) and the hours before/after them (read from the scored rows).
    """
    start = end - timedelta(hours=hours)
    first = start + timedelta(hours=1)
    first_midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if first_midnight < first:
        first_midnight += timedelta(days=1)
    last = end + timedelta(hours=1)
    last_midnight = datetime(last.year, last.month, last.day, tzinfo=UTC)
    if last_midnight <= first_midnight:  # no whole day inside: everything from scored rows
        return start, first_midnight.date(), first_midnight.date(), end + timedelta(hours=1), end
    return start, first_midnight.date(), last_midnight.date(), first_midnight, last_midnight


def window_sums_query(
    parameter: str,
    end: datetime,
    hours: int,
    *,
    location_ids: Sequence[int] | None = None,
    model_version: int | None = None,
    horizon: int | None = None,
    by_location: bool = True,
) -> tuple[bytes, dict[str, Any]]:
    """SQL of the sums of one window: rows ``(location_id or NULL, model_version, horizon,
    pairs, sum_error, sum_abs_error, sum_sq_error, covered, sum_persistence_abs_error)``."""
    start, day0, day1, left_end, right_start = _window_bounds(end, hours)
    args: dict[str, Any] = {
        "parameter": parameter,
        "start": start,
        "end": end,
        "day0": day0,
        "day1": day1,
        "left_end": left_end,
        "right_start": right_start,
    }
    daily_where = ["parameter = %(parameter)s", "day >= %(day0)s", "day < %(day1)s"]
    edge_where = [
        "s.parameter = %(parameter)s",
        "s.target_time > %(start)s",
        "s.target_time <= %(end)s",
        "(s.target_time < %(left_end)s OR s.target_time >= %(right_start)s)",
    ]
    if location_ids is not None:
        args["locations"] = [int(v) for v in location_ids]
        daily_where.append("location_id = ANY(%(locations)s)")
        edge_where.append("s.location_id = ANY(%(locations)s)")
    if model_version is not None:
        args["version"] = int(model_version)
        daily_where.append("model_version = %(version)s")
        edge_where.append("s.model_version = %(version)s")
    if horizon is not None:
        args["horizon"] = int(horizon)
        daily_where.append("horizon = %(horizon)s")
        edge_where.append("u.h = %(horizon)s")
    location = "location_id" if by_location else "NULL::int8"
    sql = f"""
        SELECT location_id, model_version, horizon, sum(n)::int8, sum(se), sum(sae), sum(ssq),
               sum(nc)::int8, sum(spae)
        FROM (
            SELECT {location} AS location_id, model_version, horizon, sum(pairs) AS n,
                   sum(sum_error) AS se, sum(sum_abs_error) AS sae, sum(sum_sq_error) AS ssq,
                   sum(covered) AS nc, sum(sum_persistence_abs_error) AS spae
            FROM verification_daily
            WHERE {" AND ".join(daily_where)}
            GROUP BY 1, 2, 3
            UNION ALL
            SELECT {"s.location_id" if by_location else "NULL::int8"}, s.model_version,
                   u.h::int2, count(*), sum(u.e), sum(abs(u.e)), sum(u.e * u.e),
                   count(*) FILTER (WHERE u.c), sum(abs(u.pe))
            FROM forecast_scores s
            CROSS JOIN LATERAL unnest(s.error, s.persistence_error, s.covered)
                WITH ORDINALITY AS u(e, pe, c, h)
            WHERE {" AND ".join(edge_where)}
            GROUP BY 1, 2, 3
        ) parts
        GROUP BY location_id, model_version, horizon
        ORDER BY location_id, model_version, horizon
    """  # noqa: S608 - fixed fragments only; values are bound
    return sql.encode(), args


def window_scores(
    rows: Sequence[Sequence[Any]], parameter: str, window: str, end: datetime
) -> list[WindowScore]:
    """Figures from the rows of :func:`window_sums_query`."""
    hours = WINDOWS[window]
    out = []
    for location_id, version, horizon, n, se, sae, ssq, nc, spae in rows:
        pairs = int(n or 0)
        if pairs == 0:
            continue
        mae = float(sae) / pairs
        persistence = float(spae) / pairs
        out.append(
            WindowScore(
                location_id=None if location_id is None else int(location_id),
                parameter=parameter,
                model_version=int(version),
                horizon=int(horizon),
                window=window,
                window_start=end - timedelta(hours=hours),
                window_end=end,
                pairs=pairs,
                mae=mae,
                bias=float(se) / pairs,
                rmse=math.sqrt(float(ssq) / pairs),
                coverage=float(nc) / pairs,
                persistence_mae=persistence,
                skill=1.0 - mae / persistence if persistence > 0 else None,
            )
        )
    return out


def newest_scored(conninfo: Conninfo, parameter: str) -> datetime | None:
    """The newest scored target time of ``parameter`` (the default end of every window)."""
    with _connected(conninfo) as conn:
        row = conn.execute(
            "SELECT max(target_time) FROM forecast_scores WHERE parameter = %s", (parameter,)
        ).fetchone()
    return None if row is None else row[0]


def verification(
    conninfo: Conninfo,
    parameter: str,
    *,
    end: datetime | None = None,
    windows: Sequence[str] = tuple(WINDOWS),
    location_ids: Sequence[int] | None = None,
    model_version: int | None = None,
    horizon: int | None = None,
    by_location: bool = True,
) -> list[WindowScore]:
    """Window figures per location (or of all locations together, ``by_location=False``).

    ``end`` defaults to the newest scored target time of the parameter.
    """
    with _connected(conninfo) as conn:
        end = end or newest_scored(conn, parameter)
        if end is None:
            return []
        out: list[WindowScore] = []
        for window in windows:
            sql, args = window_sums_query(
                parameter,
                end,
                WINDOWS[window],
                location_ids=location_ids,
                model_version=model_version,
                horizon=horizon,
                by_location=by_location,
            )
            out += window_scores(conn.execute(sql, args).fetchall(), parameter, window, end)
    return out


def summarize(
    conninfo: Conninfo, parameter: str, *, end: datetime | None = None
) -> list[WindowScore]:
    """Recompute the all-locations figures of every window into ``verification_summary``.

    Replaces the parameter's previous summary (one transaction); returns the new rows.
    """
    with _connected(conninfo) as conn:
        scores = verification(conn, parameter, end=end, by_location=False)
        with conn.transaction():
            conn.execute("DELETE FROM verification_summary WHERE parameter = %s", (parameter,))
            with conn.cursor() as cur:
                cur.executemany(
                    """
                    INSERT INTO verification_summary (parameter, model_version, horizon,
                        window_hours, window_end, pairs, mae, bias, rmse, coverage,
                        persistence_mae, skill)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    """,
                    [
                        (
                            s.parameter, s.model_version, s.horizon, WINDOWS[s.window],
                            s.window_end, s.pairs, s.mae, s.bias, s.rmse, s.coverage,
                            s.persistence_mae, s.skill,
                        )
                        for s in scores
                    ],
                )  # fmt: skip
    return scores


def summary_query() -> bytes:
    """SQL of every ``verification_summary`` row: ``(parameter, model_version, horizon,
    window_hours, pairs, mae, bias, rmse, coverage, persistence_mae, skill)``."""
    return b"""
        SELECT parameter, model_version, horizon, window_hours, pairs, mae, bias, rmse,
               coverage, persistence_mae, skill
        FROM verification_summary ORDER BY parameter, model_version, window_hours, horizon
    """


def live_metrics(scores: Sequence[WindowScore]) -> dict[int, dict[str, float]]:
    """MLflow metric names and values per model version, e.g. ``live_7d_skill_h24``."""
    out: dict[int, dict[str, float]] = {}
    for s in scores:
        metrics = out.setdefault(s.model_version, {})
        for name in ("mae", "bias", "rmse", "coverage", "persistence_mae", "skill"):
            value = getattr(s, name)
            if value is not None and math.isfinite(value):
                metrics[f"live_{s.window}_{name}_h{s.horizon}"] = float(value)
        metrics[f"live_{s.window}_pairs_h{s.horizon}"] = float(s.pairs)
    return out


def log_live_metrics(
    parameter: str, scores: Sequence[WindowScore], *, tracking_uri: str | None = None
) -> dict[int, str]:
    """Log the all-locations figures to the MLflow run of each scored model version.

    The step is the window end in hours since the epoch (and the timestamp the window end),
    so a metric's history in MLflow is the live figure hour by hour. Returns the run id per
    version (versions without a run are skipped).
    """
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from aircast.registry import model_name

    client = MlflowClient(tracking_uri=tracking_uri)
    name = model_name(parameter)
    runs: dict[int, str] = {}
    for version, metrics in live_metrics(scores).items():
        run_id = client.get_model_version(name, str(version)).run_id
        if not run_id:
            continue
        end = max(s.window_end for s in scores if s.model_version == version)
        stamp = int(end.timestamp() * 1000)
        step = int(end.timestamp() // 3600)
        batch = [Metric(k, v, stamp, step) for k, v in sorted(metrics.items())]
        for i in range(0, len(batch), 1000):  # MLflow's per-request limit
            client.log_batch(run_id, metrics=batch[i : i + 1000])
        runs[version] = run_id
    return runs


def scores_frame(scores: Sequence[WindowScore]) -> pd.DataFrame:
    """The figures as a frame (reports, tests)."""
    return pd.DataFrame([s.as_dict() for s in scores])
