"""A live API for the contract and integration tests: real PostgreSQL, real MLflow, uvicorn.

Session fixture ``live_api``: a fresh database migrated and seeded through ``aircast.store``
and ``aircast.ingest`` with the synthetic OpenAQ dataset; a tiny CatBoost forecaster trained
with ``aircast.features``/``aircast.forecaster`` on it, logged and registered through
``aircast.registry`` and promoted to ``champion`` on the stack's MLflow server; then
``uvicorn aircast_api.main:app`` in a subprocess on a free loopback port, reading as the
read-only role, with API keys on.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pandas as pd
import psycopg
import pytest

from aircast import registry, store
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.ingest import register_locations, store_raw
from aircast.schemas import RAW_COLUMNS
from aircast_dev.stack import Stack, free_port
from aircast_dev.synthetic import synthetic_dataset

API_KEY = "contract-test-key"
END = pd.Timestamp("2025-06-01T12:00:00Z")
SPEC = FeatureSpec(target="pm25", lags=(1, 2, 3, 24), windows=(3, 24), diffs=(1,))
SHORT_LOCATION = 900_004  # has only a few hours of pm25: forecasts answer 409
STALE_LOCATION = 900_003  # its measurements stop STALE_BY before END: forecasts answer 409
STALE_BY = pd.Timedelta(days=10)


def max_data_age_hours() -> float:
    """AIRCAST_API_MAX_DATA_AGE_HOURS for the live API: END (in the past) is current by a
    margin of days, so the seeded locations are forecast and STALE_LOCATION is stale."""
    return (pd.Timestamp.now(tz="UTC") - END) / pd.Timedelta(hours=1) + 24 * 5


DATABASE = "aircast_api_contract"


@dataclass(frozen=True)
class LiveApi:
    """How to reach the running API and what it was seeded with."""

    url: str
    key: str
    conninfo: str
    tracking_uri: str
    location_ids: list[int]
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        """An HTTP client with the API key."""
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=30)


def _raw(dataset_locations: list, measurements: pd.DataFrame) -> pd.DataFrame:  # type: ignore[type-arg]
    sensors = {
        sensor.sensor_id: (location.location_id, sensor.parameter, sensor.unit)
        for location in dataset_locations
        for sensor in location.sensors
    }
    mapped = measurements["sensor_id"].map(sensors)
    return measurements.assign(
        location_id=[item[0] for item in mapped],
        parameter=[item[1] for item in mapped],
        unit=[item[2] for item in mapped],
        source="synthetic",
    )[list(RAW_COLUMNS)]


def seed(conninfo: str) -> list[int]:
    """Migrate and fill the database: two current locations, one whose measurements stopped
    days before the others (stale) and one with a short history."""
    store.upgrade(conninfo, reader_role="aircast_reader")
    data = synthetic_dataset(seed=7, n_locations=4, end=END, months=1, bad_values=0)
    raw = _raw(data.locations, data.measurements)
    short = raw["location_id"] == SHORT_LOCATION
    recent = raw["datetime"] > END - pd.Timedelta(hours=4)
    stale = raw["location_id"] == STALE_LOCATION
    stopped = raw["datetime"] <= END - STALE_BY
    raw = raw[(~short | recent) & (~stale | stopped)]
    register_locations(conninfo, data.locations)
    with psycopg.connect(conninfo) as conn:
        store_raw(conn, raw, source="synthetic")
    return [location.location_id for location in data.locations]


def train_and_register(conninfo: str, tracking_uri: str, *, iterations: int = 30) -> int:
    """Train a tiny forecaster on the seeded data, register it and make it champion."""
    measurements = store.load_measurements(conninfo, list(SPEC.parameters))
    locations = store.load_locations(conninfo)
    features = build_features(measurements, locations, SPEC)
    targets = build_targets(measurements, SPEC)
    forecaster = Forecaster(SPEC, ForecasterParams(iterations=iterations, depth=4, threads=1))
    forecaster.fit(features, targets)
    registered = registry.log_training(
        forecaster,
        experiment="aircast-api-contract",
        params={"iterations": iterations},
        metrics={f"mae_h{h}": 1.0 + h / 10 for h in (1, 6, 24)},
        fingerprint={"rows": len(measurements)},
        input_example=features.dropna().head(5),
        artifacts=[],
        tracking_uri=tracking_uri,
    )
    registry.promote(
        registered.name, registered.version, reason="contract test", tracking_uri=tracking_uri
    )
    return registered.version


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the API at {url} was not ready within {timeout:.0f} s")


@pytest.fixture(scope="session")
def live_api(stack: Stack) -> Iterator[LiveApi]:
    """The API under uvicorn against the stack, with a registered champion."""
    stack.drop_database(DATABASE)
    conninfo = stack.create_database(DATABASE)
    location_ids = seed(conninfo)
    tracking_uri = stack.endpoints.mlflow_tracking_uri
    train_and_register(conninfo, tracking_uri)
    port = free_port()
    env = {
        **os.environ,
        **stack.env(),
        "AIRCAST_ENV": "test",
        "AIRCAST_DATABASE_URL": conninfo,
        "AIRCAST_DATABASE_READER_URL": stack.endpoints.reader_url(DATABASE),
        "AIRCAST_API_KEYS": hashlib.sha256(API_KEY.encode()).hexdigest(),
        "AIRCAST_MODEL_POLL_SECONDS": "1",
        "AIRCAST_API_LOG_LEVEL": "WARNING",
        "AIRCAST_API_MAX_DATA_AGE_HOURS": f"{max_data_age_hours():.1f}",
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "aircast_api.main:app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        ],
        env=env,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield LiveApi(url, API_KEY, conninfo, tracking_uri, location_ids, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stack.drop_database(DATABASE)
