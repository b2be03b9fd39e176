"""A model trained with weather covariates behind the API: a caller's history with weather in
the body forecasts exactly what the training path computes with those forecasts (the train ==
serve check for the weather features), and without it the model's no-weather fallback, again
equal to the training path with no weather."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aircast.features import DEFAULT_WEATHER, FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.weather.client import HOURLY
from aircast_api.history import HistoryReader
from aircast_api.main import create_app
from aircast_api.settings import ApiSettings
from tests.forecast import synthetic

from .conftest import END, Registry, history_body, locations_frame, make_lifecycle

SPEC = FeatureSpec(
    target="pm25", lags=(1, 2, 3, 24), windows=(3, 24), diffs=(1,), weather=DEFAULT_WEATHER
)


@pytest.fixture(scope="module")
def weather_model() -> Forecaster:
    locations = synthetic.locations(2)
    m = synthetic.measurements(2, days=25, seed=8)
    m = m[m["parameter"] == "pm25"]
    runs = synthetic.weather_runs(locations, days=25, seed=9, delay_hours=4)
    features = build_features(m, locations, SPEC, weather=runs)
    return Forecaster(SPEC, ForecasterParams(iterations=30, depth=4, threads=1)).fit(
        features, build_targets(m, SPEC)
    )


@pytest.fixture
def client(weather_model: Forecaster) -> Iterator[TestClient]:
    lifecycle = make_lifecycle(Registry(weather_model))
    for slot in lifecycle.slots.values():
        lifecycle.refresh(slot)
    reader = HistoryReader("postgresql://nobody@127.0.0.1:9/none", pool_size=1, timeout=1.0)
    with TestClient(
        create_app(ApiSettings(api_keys=None), lifecycle=lifecycle, reader=reader)
    ) as running:
        yield running


def _weather_body(start: pd.Timestamp, hours: int) -> dict[str, object]:
    rng = np.random.default_rng(4)
    body: dict[str, object] = {"start": start.isoformat()}
    for name in HOURLY:
        values: list[float | None] = [round(float(v), 2) for v in rng.uniform(0, 30, hours)]
        values[3] = None
        body[name] = values
    body["boundary_layer_height"] = None  # a variable the caller does not have
    return body


def _expected(
    forecaster: Forecaster, body: dict[str, object], weather: pd.DataFrame | None
) -> list[float]:
    sent = body["history"][0]["values"]  # type: ignore[index]
    times = pd.date_range(end=END, periods=len(sent), freq="h", tz="UTC")
    measurements = pd.DataFrame(
        {"location_id": 1, "parameter": "pm25", "datetime": times, "value": sent}
    )
    features = build_features(
        measurements,
        locations_frame([1]),
        forecaster.spec,
        issue_times=pd.DataFrame({"location_id": [1], "issue_time": [END]}),
        weather=weather,
    )
    return forecaster.predict(features)["point"].tolist()  # type: ignore[no-any-return]


def test_weather_in_the_body_forecasts_what_training_computes(
    client: TestClient, weather_model: Forecaster
) -> None:
    body = history_body(hours=100)
    start = END - pd.Timedelta(hours=2)
    weather = _weather_body(start, 30)
    informed = client.post("/v1/forecast", json={**body, "weather": weather})
    blind = client.post("/v1/forecast", json=body)
    batch = client.post(
        "/v1/forecast:batch", json={"locations": [body, {**body, "weather": weather}]}
    )
    for answer in (informed, blind, batch):
        assert answer.status_code == 200, answer.text
    # the training path: the same forecast rows, issued at the issue time
    rows = pd.DataFrame(
        {
            "location_id": 1,
            "target_time": pd.date_range(start, periods=30, freq="h"),
            "issued_at": END,
            **{
                name: np.asarray(
                    [np.nan if v is None else v for v in weather[name]]  # type: ignore[union-attr]
                    if weather[name] is not None
                    else [np.nan] * 30,
                    dtype="float64",
                )
                for name in HOURLY
            },
        }
    )
    with_weather = [row["point"] for row in informed.json()["forecasts"]]
    without = [row["point"] for row in blind.json()["forecasts"]]
    assert with_weather == pytest.approx(_expected(weather_model, body, rows), rel=1e-9)
    assert without == pytest.approx(_expected(weather_model, body, None), rel=1e-9)
    assert not np.allclose(with_weather, without)
    items = batch.json()["items"]
    assert [r["point"] for r in items[0]["forecast"]["forecasts"]] == pytest.approx(without)
    assert [r["point"] for r in items[1]["forecast"]["forecasts"]] == pytest.approx(with_weather)


def test_weather_is_optional_and_validated(client: TestClient) -> None:
    body = history_body(hours=48)
    assert client.post("/v1/forecast", json=body).status_code == 200
    partial = {"start": END.isoformat(), "temperature_2m": [1.0, None, 2.0]}
    assert client.post("/v1/forecast", json={**body, "weather": partial}).status_code == 200
    for bad in (
        {"temperature_2m": [1.0]},  # no start
        {"start": END.isoformat(), "temperature_2m": ["warm"]},
        {"start": END.isoformat(), "snow_depth": [1.0]},  # not an accepted variable
        {"start": END.isoformat(), "temperature_2m": [1.0] * 200},
    ):
        answer = client.post("/v1/forecast", json={**body, "weather": bad})
        assert answer.status_code == 422, (bad, answer.text)
    far = {"start": "2300-01-01T00:00:00Z", "temperature_2m": [1.0]}
    assert client.post("/v1/forecast", json={**body, "weather": far}).status_code == 409
