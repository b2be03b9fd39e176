"""A forecast from day one, against the real MLflow server and S3: with 3 days of history
`train` registers the baseline as champion and the API's loader serves it (``/v1/model``
says ``baseline``); the first training on 30 days replaces it through the gate.

The registered model uses a test-only target name, so this module owns its version numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aircast import registry
from aircast.features import build_features
from aircast.model_store import ModelStore
from aircast.settings import GateSettings, TrainingSettings
from aircast.training import TrainingReport, train
from aircast_api.history import HistoryReader
from aircast_api.lifecycle import ModelLifecycle
from aircast_api.main import create_app
from aircast_api.settings import ApiSettings
from aircast_dev.stack import Stack
from tests.forecast import synthetic

TARGET = "pm25bl"
NAME = f"aircast-{TARGET}"


def _frames(days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``days`` days of one 30-day synthetic series (same shape as a CSV import)."""
    m = synthetic.measurements(3, days=30, seed=21)
    m["parameter"] = m["parameter"].replace({"pm25": TARGET})
    start = pd.Timestamp(m["datetime"].max()) - pd.Timedelta(days=days)
    return m[m["datetime"] > start].reset_index(drop=True), synthetic.locations(3)


def _settings() -> TrainingSettings:
    return TrainingSettings(
        train_parameter=TARGET,
        train_covariates="no2,temperature",
        train_iterations=40,
        train_depth=4,
        train_max_rows=20_000,
        train_backtest_days=7,
        train_experiment="aircast-tests-baseline",
    )


@contextlib.contextmanager
def _api(tracking_uri: str) -> Iterator[TestClient]:
    """The API app on the core's loader (the one it runs with), serving ``NAME`` as pm25."""
    store = ModelStore(tracking_uri)
    lifecycle = ModelLifecycle(
        ("pm25",),
        registry.CHAMPION,
        load_model=store.load_model,
        champion_version=store.champion_version,
        model_name=lambda _parameter: NAME,
        poll_seconds=3600.0,
    )
    for slot in lifecycle.slots.values():
        lifecycle.refresh(slot)
    reader = HistoryReader("postgresql://nobody@127.0.0.1:9/none", pool_size=1, timeout=1.0)
    client = TestClient(create_app(ApiSettings(api_keys=None), lifecycle=lifecycle, reader=reader))
    try:
        with client:
            yield client
    finally:
        store.close()


@pytest.fixture(scope="module")
def day_three(stack: Stack) -> TrainingReport:
    return train(frames=_frames(3), settings=_settings(), gate=GateSettings())


@pytest.mark.integration
def test_three_days_register_the_baseline_as_champion_and_the_api_serves_it(
    stack: Stack, day_three: TrainingReport
) -> None:
    from mlflow.tracking import MlflowClient

    assert day_three.kind == "baseline"
    assert (day_three.version, day_three.decision, day_three.alias) == (1, None, "champion")
    assert registry.champion_version(NAME) == 1
    tags = MlflowClient().get_model_version(NAME, "1").tags
    assert tags[registry.KIND_TAG] == "baseline"
    assert tags["gate.decision"] == registry.CHAMPION

    # the same loader the API runs with: REST + download, the baseline's JSON file
    loaded = registry.load_model(NAME)
    assert loaded.kind == "baseline"
    assert loaded.forecaster.model is None
    m, locs = _frames(3)
    features = build_features(m, locs, loaded.forecaster.spec).dropna(subset=["y_lag_0"])
    out = loaded.forecaster.predict(features.tail(3))
    assert np.isfinite(out[["point", "p10", "p90"]].to_numpy()).all()
    assert (out["p10"] <= out["point"]).all()
    assert (out["point"] <= out["p90"]).all()

    with _api(stack.endpoints.mlflow_tracking_uri) as client:
        info = client.get("/v1/model", params={"parameter": "pm25"})
    assert info.status_code == 200, info.text
    body = info.json()
    assert (body["name"], body["version"], body["kind"]) == (NAME, 1, "baseline")
    assert body["metrics"]["in_sample_mae_h01"] > 0


@pytest.mark.integration
def test_first_training_on_thirty_days_replaces_the_baseline_through_the_gate(
    stack: Stack, day_three: TrainingReport
) -> None:
    from aircast.baseline import register_baseline

    trained = train(frames=_frames(30), settings=_settings(), gate=GateSettings())
    assert trained.kind == "catboost"
    assert trained.version == 2
    assert trained.decision.champion_version == 1  # judged against the baseline ...
    assert trained.decision.promote, trained.decision.reason  # ... and it beat it
    assert registry.champion_version(NAME) == 2
    assert registry.version_kind(NAME, 2) == "catboost"

    with _api(stack.endpoints.mlflow_tracking_uri) as client:
        body = client.get("/v1/model", params={"parameter": "pm25"}).json()
    assert (body["version"], body["kind"]) == (2, "catboost")

    # a later baseline never displaces a trained champion
    m, locs = _frames(3)
    spec = registry.load_model(NAME).forecaster.spec
    again = register_baseline(
        m, locs, spec, experiment="aircast-tests-baseline", fingerprint={"rows": len(m)}
    )
    assert not again.champion
    assert "stays" in again.reason
    assert registry.champion_version(NAME) == 2
