"""Forecast archive and live verification benchmark (issue #16).

Set-up, on PostgreSQL (``--database-url`` / ``AIRCAST_DATABASE_URL``: a fresh database is created
on that server; else the local stack is started):

1. ``--locations`` synthetic stations (default 1,000) with hourly PM2.5 for ``--days`` days
   (default 30) plus the week of history the features read, stored through the ingest's upsert.
2. A CatBoost forecaster with the training defaults (300 trees, depth 6), fitted on part of it.
3. The archive filled with ``--days`` x 24 hourly issues x 24 horizons for every station
   (~17 million rows for the defaults) through ``aircast.forecast_archive.store_forecasts``
   (the archive's own write path); the values are synthetic (the model would take an hour to
   issue a month), then scored day by day (``aircast.verification.score``).

Measured:

* **issue**: ``issue_forecasts`` for the next hour of every station: find the active
  stations, read their history, features, one predict, and the write. Best and median of
  ``--repeat`` successive hours.
* **score**: ``verification.score`` of one new hour of observations against the archive
  (``lookback_hours=1``), and with the pipeline's default look-back (48 h).
* **GET /v1/verification** for one location over 30 days (``window=30d``, and all three
  windows), through uvicorn and HTTP, ``--requests`` sequential calls on random stations:
  p50 / p99.
* **size**: the archive's size on disk (``forecasts`` partitions with their indexes, and the
  per-issue table) per million forecast rows.

Writes bench/results/verify.json and prints a table.

    hatch run bench:verify [--locations 1000] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pandas as pd
import psycopg
from rich.console import Console
from rich.table import Table

from aircast import store, verification
from aircast.features import FeatureSpec, build_features, build_targets, history_hours
from aircast.forecast_archive import issue_forecasts, store_forecasts
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.openaq.models import Location, Sensor
from aircast.store import writes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "verify.json"
END = pd.Timestamp("2026-11-01T00:00:00Z")  # the last archived issue hour
console = Console()


def _database(server_url: str) -> tuple[str, str]:
    name = f"bench_verify_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    parts = urlsplit(server_url)
    return name, urlunsplit(parts._replace(path=f"/{name}"))


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def _locations(n: int) -> list[Location]:
    return [
        Location(
            location_id=2_000_000 + i,
            name=f"Bench station {i} (SYNTHETIC DATA)",
            timezone="Europe/Zurich",
            latitude=45.0 + (i % 40) * 0.1,
            longitude=6.0 + (i // 40) * 0.1,
            country="XS",
            locality=None,
            provider="synthetic",
            owner=None,
            license=None,
            attribution=None,
            attribution_url=None,
            is_monitor=True,
            is_synthetic=True,
            sensors=(Sensor(20_000_000 + i, 2_000_000 + i, "pm25", "µg/m³", 2),),
        )
        for i in range(n)
    ]


def _measurements(
    locations: list[Location], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    hours = pd.date_range(start, end, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    n, t = len(locations), len(hours)
    local_hour = ((hours.hour.to_numpy() + 1) % 24)[None, :]
    morning = 0.4 * np.exp(-((local_hour - 8) ** 2) / 4)
    diurnal = 1 + morning + 0.5 * np.exp(-((local_hour - 19) ** 2) / 6)
    level = rng.uniform(8, 30, size=(n, 1))
    shocks = rng.normal(0, 0.15, size=(n, t))
    noise = np.zeros((n, t))
    for k in range(1, t):  # AR(1), vectorised over stations
        noise[:, k] = 0.92 * noise[:, k - 1] + shocks[:, k]
    values = np.round(level * diurnal * np.exp(noise), 1).clip(0.5)
    sensors = np.asarray([loc.sensors[0].sensor_id for loc in locations])
    ids = np.asarray([loc.location_id for loc in locations])
    return pd.DataFrame(
        {
            "sensor_id": np.repeat(sensors, t),
            "datetime": pd.to_datetime(np.tile(hours.as_unit("ns").asi8, n), utc=True),
            "location_id": np.repeat(ids, t),
            "parameter": "pm25",
            "value": values.ravel(),
            "unit": "µg/m³",
            "coverage_count": 1,
            "source": "bench",
        }
    )


def _fill_archive(
    url: str, measurements: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp, version: int
) -> tuple[int, float]:
    """Synthetic forecasts of every issue hour first..last, written day by day."""
    rng = np.random.default_rng(1)
    observed = measurements.set_index(["location_id", "datetime"])["value"]
    ids = np.sort(measurements["location_id"].unique())
    horizons = np.arange(1, 25)
    rows = 0
    started = time.perf_counter()
    day = first
    with psycopg.connect(url) as conn:
        while day <= last:
            issues = pd.date_range(day, min(day + pd.Timedelta(hours=23), last), freq="h")
            loc = np.repeat(ids, len(issues) * len(horizons))
            issue_index = pd.to_datetime(
                np.tile(np.repeat(issues.as_unit("ns").asi8, len(horizons)), len(ids)), utc=True
            )
            h = np.tile(horizons, len(ids) * len(issues))
            base = observed.reindex(pd.MultiIndex.from_arrays([loc, issue_index])).to_numpy()
            point = np.clip(base * np.exp(rng.normal(0, 0.05 * np.sqrt(h))), 0, None)
            spread = 0.25 * point + 1
            frame = pd.DataFrame(
                {
                    "location_id": loc,
                    "issue_time": issue_index,
                    "horizon": h,
                    "target_time": issue_index + pd.to_timedelta(h, unit="h"),
                    "point": point,
                    "p10": np.clip(point - spread, 0, None),
                    "p90": point + spread,
                }
            )
            persistence = frame[frame["horizon"] == 1][["location_id", "issue_time"]].copy()
            persistence["persistence"] = base[h == 1]
            with conn.transaction():
                _, written = store_forecasts(conn, "pm25", version, frame, persistence)
            rows += written
            console.print(f"[dim]archive: {day:%Y-%m-%d} {rows:,} rows[/]")
            day += pd.Timedelta(days=1)
    return rows, time.perf_counter() - started


def _size(url: str) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE forecasts")
        forecasts = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'forecasts'::regclass"
        ).fetchone()
        heap = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'forecasts'::regclass"
        ).fetchone()
        issues = conn.execute("SELECT pg_total_relation_size('forecast_issues')").fetchone()
        scores = conn.execute(
            "SELECT pg_total_relation_size('forecast_scores') + "
            "pg_total_relation_size('verification_daily')"
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM forecasts").fetchone()
    if not (forecasts and heap and issues and scores and count):
        raise RuntimeError("size queries returned nothing")
    rows = int(count[0])
    archive = int(forecasts[0]) + int(issues[0])
    return {
        "forecast_rows": rows,
        "archive_bytes": archive,
        "forecasts_heap_bytes": int(heap[0]),
        "forecasts_index_bytes": int(forecasts[0]) - int(heap[0]),
        "issues_bytes": int(issues[0]),
        "scores_bytes": int(scores[0]),
        "mb_per_million_rows": archive / 2**20 / (rows / 1e6),
    }


def _serve(url: str, port: int) -> Any:
    """The API app under uvicorn in a thread, reading ``url``; no model is loaded (the
    verification route does not need one)."""
    import uvicorn

    from aircast.registry import model_name
    from aircast_api.history import HistoryReader
    from aircast_api.lifecycle import ModelLifecycle
    from aircast_api.main import create_app
    from aircast_api.settings import ApiSettings

    def no_model(*_: Any, **__: Any) -> Any:
        raise LookupError("no model in this benchmark")

    app = create_app(
        ApiSettings(api_log_level="WARNING"),  # type: ignore[call-arg]
        lifecycle=ModelLifecycle(
            ("pm25",), "champion", load_model=no_model, champion_version=lambda *_: None,
            model_name=model_name, poll_seconds=3600,
        ),
        reader=HistoryReader(url, pool_size=4, timeout=5),
    )  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the API did not start")


def _latencies(
    port: int, ids: np.ndarray, requests: int, params: dict[str, str]
) -> dict[str, float]:
    rng = np.random.default_rng(2)
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for i in range(requests + 20):
            location = int(rng.choice(ids))
            started = time.perf_counter()
            response = client.get("/v1/verification", params={"location_id": location, **params})
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            assert response.json()["items"], response.text
            if i >= 20:  # warm-up
                times.append(elapsed * 1000)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "max_ms": float(max(times)),
        "requests": len(times),
    }


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("AIRCAST_DATABASE_URL"))
    parser.add_argument("--locations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    with ExitStack() as stack:
        server_url = args.database_url
        if not server_url:
            from aircast_dev.stack import running_stack

            console.print("[dim]starting the local stack...[/]")
            running = stack.enter_context(running_stack())
            server_url = running.endpoints.db_url("postgres")
        name, url = _database(server_url)
        if not args.keep:
            stack.callback(_drop, server_url, name)
        store.upgrade(url)

        spec = FeatureSpec(target="pm25")
        first_issue = END - pd.Timedelta(days=args.days) + pd.Timedelta(hours=1)
        start = first_issue - pd.Timedelta(hours=history_hours(spec) + 24)
        last_observed = END + pd.Timedelta(hours=args.repeat)
        locations = _locations(args.locations)
        console.print(f"[dim]{args.locations} stations, {start} .. {last_observed}[/]")
        measurements = _measurements(locations, start, last_observed)
        with psycopg.connect(url) as conn:
            writes.upsert_locations(conn, locations)
            for part in range(0, len(measurements), 1_000_000):
                writes.upsert_measurements(conn, measurements.iloc[part : part + 1_000_000])
                conn.commit()
            conn.execute("ANALYZE")
        console.print(f"[dim]{len(measurements):,} measurements stored[/]")

        # A model with the training defaults, fitted on a sample of stations and days.
        sample = measurements[measurements["location_id"] < 2_000_000 + 60]
        long = sample[["location_id", "parameter", "datetime", "value"]]
        table = store.load_locations(url)
        started = time.perf_counter()
        forecaster = Forecaster(spec, ForecasterParams(max_train_rows=100_000)).fit(
            build_features(long, table, spec), build_targets(long, spec)
        )
        console.print(f"[dim]model fitted in {time.perf_counter() - started:.0f} s[/]")

        history = measurements[measurements["datetime"] <= END]
        rows, fill_seconds = _fill_archive(url, history, first_issue, END, version=1)
        started = time.perf_counter()
        day = first_issue + pd.Timedelta(hours=23)
        while day <= END + pd.Timedelta(hours=23):
            verification.score(url, "pm25", until=min(day, END), lookback_hours=24)
            day += pd.Timedelta(days=1)
        scoring_seconds = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            conn.execute("ANALYZE")
        size = _size(url)
        console.print(
            f"[dim]archive {rows:,} rows in {fill_seconds:.0f} s; "
            f"scored in {scoring_seconds:.0f} s[/]"
        )

        issue_times, score_times = [], []
        for k in range(1, args.repeat + 1):
            hour = (END + pd.Timedelta(hours=k)).to_pydatetime()
            started = time.perf_counter()
            summary = issue_forecasts(url, "pm25", forecaster, 1, until=hour)
            issue_times.append(time.perf_counter() - started)
            assert summary.issued == args.locations, summary
            started = time.perf_counter()
            scored = verification.score(url, "pm25", until=hour, lookback_hours=1)
            score_times.append(time.perf_counter() - started)
            assert scored.scored == args.locations, scored
        started = time.perf_counter()
        newest = END + pd.Timedelta(hours=args.repeat)
        verification.score(url, "pm25", until=newest, lookback_hours=48)
        score_48 = time.perf_counter() - started

        port = 18_000 + os.getpid() % 1000
        server = _serve(url, port)
        try:
            ids = np.asarray([loc.location_id for loc in locations])
            one_window = _latencies(port, ids, args.requests, {"window": "30d"})
            all_windows = _latencies(port, ids, args.requests, {})
        finally:
            server.should_exit = True

    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "2 cores shared with ~7 other engineers' work (tests, builds) while measured",
        },
        "setup": {
            "locations": args.locations,
            "days": args.days,
            "horizons": 24,
            "archive_rows": rows,
            "archive_fill_seconds": round(fill_seconds, 1),
            "archive_fill_rows_per_second": round(rows / fill_seconds),
            "initial_scoring_seconds": round(scoring_seconds, 1),
        },
        "issue_one_hour_seconds": {
            "runs": [round(t, 3) for t in issue_times],
            "best": round(min(issue_times), 3),
            "median": round(statistics.median(issue_times), 3),
            "target": 10.0,
        },
        "score_one_hour_seconds": {
            "runs": [round(t, 3) for t in score_times],
            "best": round(min(score_times), 3),
            "median": round(statistics.median(score_times), 3),
            "lookback_48h": round(score_48, 3),
            "target": 5.0,
        },
        "get_verification_one_location_30d_ms": {**one_window, "target_p99": 50.0},
        "get_verification_one_location_all_windows_ms": all_windows,
        "size": size,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    out = Table(
        title=f"Forecast archive and verification ({args.locations} stations, {args.days} days)"
    )
    out.add_column("measure")
    out.add_column("value", justify="right")
    out.add_column("target", justify="right")
    out.add_row("archive rows", f"{rows:,}", "~17 M")
    out.add_row(
        "issue one hour, all stations, incl. write (median)",
        f"{result['issue_one_hour_seconds']['median']:.2f} s",
        "< 10 s",
    )
    out.add_row(
        "score one hour of observations (median)",
        f"{result['score_one_hour_seconds']['median']:.2f} s",
        "< 5 s",
    )
    out.add_row("score with the default 48 h look-back", f"{score_48:.2f} s", "")
    out.add_row(
        "GET /v1/verification, one location, 30 d: p50 / p99",
        f"{one_window['p50_ms']:.1f} / {one_window['p99_ms']:.1f} ms",
        "p99 < 50 ms",
    )
    out.add_row(
        "GET /v1/verification, one location, 3 windows: p50 / p99",
        f"{all_windows['p50_ms']:.1f} / {all_windows['p99_ms']:.1f} ms",
        "",
    )
    out.add_row(
        "archive on disk per million forecast rows", f"{size['mb_per_million_rows']:.1f} MB", ""
    )
    indexes = size["forecasts_index_bytes"] / 2**20
    out.add_row("  of which indexes (all rows)", f"{indexes:.0f} MB", "")
    console.print(out)
    console.print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
