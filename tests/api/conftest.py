"""Fixtures of the API unit tests: a real (tiny) CatBoost forecaster and an app serving it.

The model is trained here on synthetic hourly data with ``aircast.features`` and
``aircast.forecaster`` — the same code as production — so every forecast in these tests is a
real prediction. MLflow is replaced by two plain functions at the lifecycle's seam (the
integration and contract tests use the real server).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast_api.history import HistoryReader
from aircast_api.lifecycle import ModelLifecycle
from aircast_api.main import create_app
from aircast_api.settings import ApiSettings

API_KEY = "test-key-not-a-secret"
END = pd.Timestamp("2024-03-01T12:00:00Z")


def synthetic_measurements(location_ids: list[int], hours: int, seed: int = 0) -> pd.DataFrame:
    """A daily cycle plus noise per location: long measurement frame, hour-ending UTC."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(end=END, periods=hours, freq="h", tz="UTC")
    frames = []
    for location_id in location_ids:
        level = 10 + location_id % 7
        values = level + 5 * np.sin(2 * np.pi * times.hour / 24) + rng.normal(0, 1, hours)
        frames.append(
            pd.DataFrame(
                {
                    "location_id": location_id,
                    "parameter": "pm25",
                    "datetime": times,
                    "value": np.clip(values, 0, None),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def locations_frame(location_ids: list[int]) -> pd.DataFrame:
    """Locations in the shape of ``aircast.store.load_locations`` (the columns features use)."""
    return pd.DataFrame(
        {
            "location_id": location_ids,
            "latitude": [48.0 + i for i in range(len(location_ids))],
            "longitude": [2.0 + i for i in range(len(location_ids))],
            "timezone": ["Europe/Paris"] * len(location_ids),
        }
    )


@dataclass
class Loaded:
    """What ``aircast.registry.load_model`` returns, for the lifecycle seam."""

    forecaster: Forecaster
    version: int
    name: str = "aircast-pm25"
    alias: str = "champion"
    run_id: str = "0123456789abcdef"
    trained_at: datetime = field(default_factory=lambda: datetime(2024, 3, 1, tzinfo=UTC))
    metrics: dict[str, Any] = field(default_factory=lambda: {"mae_h1": 1.5, "mae_h24": 3.0})
    unit: str = "µg/m³"

    @property
    def feature_names(self) -> list[str]:
        """The model's input columns."""
        return self.forecaster.spec.feature_names()


@pytest.fixture(scope="session")
def forecaster() -> Forecaster:
    """A small real CatBoost forecaster trained on synthetic data."""
    spec = FeatureSpec(target="pm25", lags=(1, 2, 3, 24), windows=(3, 24), diffs=(1,))
    ids = [1, 2, 3]
    measurements = synthetic_measurements(ids, 24 * 20)
    features = build_features(measurements, locations_frame(ids), spec)
    targets = build_targets(measurements, spec)
    params = ForecasterParams(iterations=30, depth=4, threads=1)
    return Forecaster(spec, params).fit(features, targets)


class Registry:
    """The two registry calls the lifecycle makes, answering from memory; can be made to fail."""

    def __init__(self, forecaster: Forecaster) -> None:
        self.forecaster = forecaster
        self.version: int | None = 1
        self.failing = False
        self.loads = 0

    def champion_version(self, name: str) -> int | None:
        if self.failing:
            raise ConnectionError("MLflow unreachable at http://user:pw@mlflow:5000")
        return self.version

    def load_model(self, name: str, alias: str) -> Loaded:
        if self.failing:
            raise ConnectionError("S3 unreachable")
        self.loads += 1
        assert self.version is not None
        return Loaded(forecaster=self.forecaster, version=self.version, name=name)


@pytest.fixture
def registry(forecaster: Forecaster) -> Registry:
    """An in-memory registry holding version 1 of the tiny model as champion."""
    return Registry(forecaster)


def make_lifecycle(registry: Registry, poll_seconds: float = 3600.0) -> ModelLifecycle:
    """A lifecycle for pm25 reading from ``registry``."""
    return ModelLifecycle(
        ("pm25",),
        "champion",
        load_model=registry.load_model,
        champion_version=registry.champion_version,
        model_name=lambda parameter: f"aircast-{parameter}",
        poll_seconds=poll_seconds,
    )


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(registry: Registry) -> Iterator[AppFactory]:
    """Build a started TestClient; keyword arguments become ApiSettings fields."""
    clients: list[TestClient] = []

    def build(*, load: bool = True, **overrides: Any) -> TestClient:
        settings = ApiSettings(**{"api_keys": None, **overrides})
        lifecycle = make_lifecycle(registry)
        if load:
            for slot in lifecycle.slots.values():
                lifecycle.refresh(slot)
        # A database nobody listens on: DB-backed routes must answer 503, not hang or 500.
        reader = HistoryReader("postgresql://nobody@127.0.0.1:9/none", pool_size=1, timeout=1.0)
        client = TestClient(create_app(settings, lifecycle=lifecycle, reader=reader))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    """An open (no keys) app serving the tiny model."""
    return make_client()


def key_digest(key: str = API_KEY) -> str:
    """The value AIRCAST_API_KEYS holds for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def history_body(hours: int = 48, **overrides: Any) -> dict[str, Any]:
    """A POST /v1/forecast body with ``hours`` of synthetic pm25 history."""
    frame = synthetic_measurements([1], hours)
    body: dict[str, Any] = {
        "location_id": 1,
        "timezone": "Europe/Paris",
        "latitude": 48.0,
        "longitude": 2.0,
        "history": [
            {
                "parameter": "pm25",
                "end": END.isoformat(),
                "values": [round(float(v), 3) for v in frame["value"]],
            }
        ],
    }
    body.update(overrides)
    return body
