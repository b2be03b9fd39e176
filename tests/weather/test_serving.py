"""A training with weather covariates, registered on the stack's MLflow server and served by
the API: stored locations read their weather from the table (as of the issue time), caller
histories with and without weather in the body. Real PostgreSQL, MLflow and S3 endpoint.

The model is trained for ``no2`` (the synthetic pm25 series stored under that name in this
test's own database) so that it owns its registered model, ``aircast-no2``, on the shared
MLflow server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from aircast import registry, store
from aircast.features import DEFAULT_WEATHER
from aircast.forecast_archive import issue_forecasts
from aircast.model_store import ModelStore
from aircast.settings import GateSettings, TrainingSettings
from aircast.training import TrainingReport, train
from aircast.weather import store as weather_store
from aircast.weather.client import OpenMeteoClient
from aircast.weather.ingest import backfill_weather, ingest_forecasts
from aircast_api.history import HistoryReader
from aircast_api.lifecycle import ModelLifecycle
from aircast_api.main import create_app
from aircast_api.settings import ApiSettings
from aircast_dev.openmeteo_server import LocalOpenMeteoServer
from aircast_dev.stack import Stack

from .conftest import client_settings, seed_synthetic

pytestmark = pytest.mark.integration

TARGET = "no2"
NAME = registry.model_name(TARGET)
END = pd.Timestamp("2025-03-01T00:00:00Z")
LOCATION = 900_001


@dataclass(frozen=True)
class Trained:
    conninfo: str
    reader_url: str
    report: TrainingReport


def _settings(weather: str) -> TrainingSettings:
    """A small, fast training of TARGET, with the weather covariates ``weather``."""
    return TrainingSettings(
        train_parameter=TARGET,
        train_covariates="temperature",
        train_weather=weather,
        train_iterations=40,
        train_depth=4,
        train_max_rows=20_000,
        train_history_days=31,
        train_calibration_days=5,
        train_experiment="aircast-tests-weather",
    )  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def trained(stack: Stack) -> Iterator[Trained]:
    name = f"weather_serving_{uuid.uuid4().hex[:8]}"
    url = stack.create_database(name)
    seed_synthetic(url, n_locations=3, end=END, target=TARGET)
    with (
        LocalOpenMeteoServer(now=lambda: END + pd.Timedelta(minutes=20)) as server,
        OpenMeteoClient(client_settings(server)) as client,
    ):
        backfill_weather(
            url, client, since=END - pd.Timedelta(days=32), until=END + pd.Timedelta(days=2)
        )
        ingest_forecasts(url, client, now=END - pd.Timedelta(hours=2))
    report = train(url, _settings(weather="default"), GateSettings())
    if report.alias != registry.CHAMPION:
        # the synthetic weather carries no signal: the gate may keep it challenger; serving
        # is what this module tests, so the operator's promote makes it champion
        registry.promote(NAME, report.version, reason="weather serving test")
    try:
        yield Trained(url, stack.endpoints.reader_url(name), report)
    finally:
        stack.drop_database(name)


@contextlib.contextmanager
def _api(stack: Stack, trained: Trained) -> Iterator[TestClient]:
    models = ModelStore(stack.endpoints.mlflow_tracking_uri)
    lifecycle = ModelLifecycle(
        (TARGET,),
        registry.CHAMPION,
        load_model=models.load_model,
        champion_version=models.champion_version,
        model_name=registry.model_name,
        poll_seconds=3600.0,
    )
    for slot in lifecycle.slots.values():
        lifecycle.refresh(slot)
    reader = HistoryReader(trained.reader_url, pool_size=1, timeout=10.0)
    settings = ApiSettings(api_keys=None, api_max_data_age_hours=24 * 365 * 20)  # type: ignore[call-arg]
    client = TestClient(create_app(settings, lifecycle=lifecycle, reader=reader))
    try:
        with client:
            yield client
    finally:
        models.close()


def test_the_model_records_its_weather_covariates(trained: Trained) -> None:
    from mlflow.tracking import MlflowClient

    version = trained.report.version
    loaded = registry.load_model(NAME, version=version)
    assert loaded.forecaster.spec.weather == DEFAULT_WEATHER
    assert "wx_wind_u" in loaded.forecaster.model_feature_names
    run = MlflowClient().get_run(trained.report.run_id)
    assert run.data.params["weather"] == ",".join(DEFAULT_WEATHER)
    # the trees use the weather (the backfill gave the training rows their forecasts)
    importance = loaded.forecaster.feature_importance()
    assert importance[[n for n in importance.index if n.startswith("wx_")]].sum() > 0


def _history_body(conninfo: str) -> dict[str, object]:
    """The stored history of LOCATION up to END (target and covariate) as a request body."""
    measured = store.load_measurements(
        conninfo, [TARGET, "temperature"], location_ids=[LOCATION], until=END
    )
    hours = pd.date_range(end=END, periods=200, freq="h")
    series = []
    for parameter, part in measured.groupby("parameter"):
        values = part.set_index("datetime")["value"].reindex(hours)
        series.append(
            {
                "parameter": parameter,
                "end": END.isoformat().replace("+00:00", "Z"),
                "values": [None if np.isnan(v) else float(v) for v in values],
            }
        )
    return {
        "parameter": TARGET,
        "location_id": LOCATION,
        "timezone": str(store.load_locations(conninfo, [LOCATION])["timezone"].iloc[0]),
        "latitude": float(store.load_locations(conninfo, [LOCATION])["latitude"].iloc[0]),
        "longitude": float(store.load_locations(conninfo, [LOCATION])["longitude"].iloc[0]),
        "history": series,
    }


def _points(body: dict[str, object]) -> np.ndarray:
    return np.asarray([h["point"] for h in body["forecasts"]])  # type: ignore[index, union-attr]


def test_the_api_serves_it_with_and_without_weather(stack: Stack, trained: Trained) -> None:
    as_of = weather_store.forecasts_as_of(trained.conninfo, [LOCATION], END, hours_after=24)
    assert len(as_of) == 25
    assert (as_of["issued_at"] <= END).all()
    weather = {
        "start": END.isoformat().replace("+00:00", "Z"),
        **{
            name: [None if np.isnan(v) else float(v) for v in as_of[name]]
            for name in weather_store.VARIABLES
        },
    }
    with _api(stack, trained) as client:
        stored = client.get(f"/v1/locations/{LOCATION}/forecast", params={"parameter": TARGET})
        body = _history_body(trained.conninfo)
        blind = client.post("/v1/forecast", json=body)
        informed = client.post("/v1/forecast", json={**body, "weather": weather})
        partial = client.post(
            "/v1/forecast",
            json={**body, "weather": {"start": weather["start"], "temperature_2m": [3.0] * 4}},
        )
    for answer in (stored, blind, informed, partial):
        assert answer.status_code == 200, answer.text
        points = _points(answer.json())
        assert len(points) == 24
        assert np.isfinite(points).all()
    assert stored.json()["model_version"] == trained.report.version
    assert stored.json()["issue_time"] == informed.json()["issue_time"] == weather["start"]
    # the stored location's forecast reads the same weather the body carries: same answer
    np.testing.assert_allclose(_points(stored.json()), _points(informed.json()), rtol=1e-6)
    # without weather: the documented fallback, a different forecast
    assert not np.allclose(_points(blind.json()), _points(informed.json()))


def test_the_archive_issues_the_weather_champion_as_the_api_computes_it(
    stack: Stack, trained: Trained
) -> None:
    version = trained.report.version
    loaded = registry.load_model(NAME, version=version)
    with _api(stack, trained) as client:
        computed = client.get(f"/v1/locations/{LOCATION}/forecast", params={"parameter": TARGET})
    assert computed.status_code == 200, computed.text
    assert computed.json()["issue_time"] == END.isoformat().replace("+00:00", "Z")
    summary = issue_forecasts(trained.conninfo, TARGET, loaded.forecaster, version, until=END)
    assert summary.active >= 1
    assert summary.issued == summary.active - summary.too_short
    with psycopg.connect(trained.conninfo) as conn:
        rows = conn.execute(
            "SELECT horizon, point FROM forecasts WHERE location_id = %s AND issue_time = %s "
            "AND model_version = %s ORDER BY horizon",
            (LOCATION, END, version),
        ).fetchall()
    assert [h for h, _ in rows] == list(range(1, 25))
    # the archive read the stored weather as of the issue time, as the API did
    np.testing.assert_allclose([p for _, p in rows], _points(computed.json()), rtol=1e-5)
    again = issue_forecasts(trained.conninfo, TARGET, loaded.forecaster, version, until=END)
    assert again.issued == 0
    assert again.already_archived == summary.active - summary.too_short


def test_a_later_training_without_weather_is_judged_against_the_weather_champion(
    trained: Trained,
) -> None:
    # Runs last in this module: its version may become the champion the API serves.
    champion = registry.champion_version(NAME)
    assert champion == trained.report.version
    progress: list[str] = []
    report = train(
        trained.conninfo, _settings(weather=""), GateSettings(), progress=progress.append
    )
    assert report.version != champion
    decision = report.decision
    assert decision is not None
    # the weather champion was scored on the candidate's folds, not set aside as unscorable,
    # and with the weather it reads: the training loaded the stored forecasts for it
    assert decision.champion_version == champion
    assert any("weather forecast rows" in line for line in progress), progress
    assert decision.champion_basis in ("out_of_sample", "all_cells"), decision.champion_note
    assert decision.champion_mae is not None
    assert np.isfinite(decision.champion_mae)
