"""The Mage pipeline issue_forecasts, run headless with `mage run` in the Mage env: it archives
the champion's forecasts of every active location and verifies; a run killed half-way (SIGKILL
to its process group) and re-run leaves exactly the rows of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

from aircast import registry, store
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.ingest import register_locations, store_raw
from aircast.schemas import RAW_COLUMNS
from aircast_dev.stack import Stack, hatch_env_executable
from aircast_dev.synthetic import synthetic_dataset

from ..conftest import MAGE_PROJECT

pytestmark = [pytest.mark.integration, pytest.mark.mage]

END = pd.Timestamp("2025-04-01T00:00:00Z")
LOCATIONS = 12
SPEC = FeatureSpec(target="pm25", lags=(1, 2, 3, 24), windows=(3, 24), diffs=(1,))


def _seed(conninfo: str) -> None:
    store.upgrade(conninfo)
    data = synthetic_dataset(seed=21, n_locations=LOCATIONS, end=END, months=1, bad_values=0)
    sensors = {
        s.sensor_id: (loc.location_id, s.parameter, s.unit)
        for loc in data.locations
        for s in loc.sensors
    }
    mapped = data.measurements["sensor_id"].map(sensors)
    raw = data.measurements.assign(
        location_id=[m[0] for m in mapped],
        parameter=[m[1] for m in mapped],
        unit=[m[2] for m in mapped],
        source="synthetic",
    )[list(RAW_COLUMNS)]
    register_locations(conninfo, data.locations)
    with psycopg.connect(conninfo) as conn:
        store_raw(conn, raw, source="synthetic")


@pytest.fixture(scope="module")
def databases(stack: Stack) -> Iterator[tuple[str, str]]:
    """Two identically seeded databases and a tiny champion trained on the first."""
    names = [f"mage_issue_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    urls = [stack.create_database(name) for name in names]
    for url in urls:
        _seed(url)
    measurements = store.load_measurements(urls[0], list(SPEC.parameters))
    locations = store.load_locations(urls[0])
    forecaster = Forecaster(SPEC, ForecasterParams(iterations=20, depth=4, threads=1)).fit(
        build_features(measurements, locations, SPEC), build_targets(measurements, SPEC)
    )
    registered = registry.log_training(
        forecaster,
        experiment="aircast-tests-mage-issue",
        params={"iterations": 20},
        metrics={"mae_h1": 1.0},
        fingerprint={"rows": len(measurements)},
        input_example=build_features(measurements, locations, SPEC).dropna().head(5),
        artifacts=[],
    )
    registry.promote(registered.name, registered.version, reason="issue_forecasts test")
    try:
        yield urls[0], urls[1]
    finally:
        for name in names:
            stack.drop_database(name)


def _rows(conninfo: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with psycopg.connect(conninfo) as conn:
        forecasts = conn.execute(
            "SELECT location_id, parameter, model_version, issue_time, horizon, target_time, "
            "point, p10, p90 FROM forecasts ORDER BY 1, 2, 3, 4, 5"
        ).fetchall()
        issues = conn.execute(
            "SELECT location_id, parameter, issue_time, model_version, persistence, horizons "
            "FROM forecast_issues ORDER BY 1, 2, 3, 4"
        ).fetchall()
    return forecasts, issues


def _argv() -> list[str]:
    mage = hatch_env_executable("mage", "mage")
    variables = json.dumps({"until": END.isoformat(), "parameters": "pm25"})
    return [str(mage), "run", str(MAGE_PROJECT), "issue_forecasts", "--runtime-vars", variables]


def test_issue_forecasts_killed_and_rerun_equals_an_uninterrupted_run(
    stack: Stack,
    databases: tuple[str, str],
    mage_run,  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    reference, killed = databases
    chunked = {"AIRCAST_ARCHIVE_CHUNK_LOCATIONS": "1"}
    done = mage_run(
        "issue_forecasts",
        runtime_vars={"until": END.isoformat(), "parameters": "pm25"},
        env={"AIRCAST_DATABASE_URL": reference, **chunked},
    )
    expected_forecasts, expected_issues = _rows(reference)
    assert len(expected_issues) == LOCATIONS, done.stdout[-3000:]
    assert len(expected_forecasts) == LOCATIONS * SPEC.horizons
    # the second block ran: it scored (nothing yet: one issue hour) and found no alarm
    assert "issue_forecasts verify:" in done.stdout, done.stdout[-3000:]

    env = {
        **os.environ,
        **stack.env(),
        "MAGE_DATA_DIR": str(tmp_path_factory.mktemp("mage-kill")),
        "AIRCAST_DATABASE_URL": killed,
        **chunked,
    }
    process = subprocess.Popen(
        _argv(),
        cwd=MAGE_PROJECT.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    partial = 0
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            with psycopg.connect(killed) as conn:
                row = conn.execute("SELECT count(*) FROM forecast_issues").fetchone()
            partial = int(row[0]) if row else 0
            if partial > 0:
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert 0 < partial < LOCATIONS, f"the run was not caught half-way ({partial} issues)"
    interrupted_forecasts, _ = _rows(killed)
    assert len(interrupted_forecasts) < len(expected_forecasts)

    mage_run(
        "issue_forecasts",
        runtime_vars={"until": END.isoformat(), "parameters": "pm25"},
        env={"AIRCAST_DATABASE_URL": killed, **chunked},
    )
    forecasts, issues = _rows(killed)
    assert forecasts == expected_forecasts
    assert issues == expected_issues
