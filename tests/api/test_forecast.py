"""Forecasts from caller-supplied history equal the model's own predictions on the features."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aircast.features import build_features
from aircast.forecaster import Forecaster

from .conftest import END, history_body, locations_frame, synthetic_measurements


def test_single_forecast_matches_the_forecaster(client: TestClient, forecaster: Forecaster) -> None:
    response = client.post("/v1/forecast", json=history_body(hours=200))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issue_time"] == "2024-03-01T12:00:00Z"
    assert body["model_version"] == 1
    assert body["unit"] == "µg/m³"
    assert [row["horizon"] for row in body["forecasts"]] == list(range(1, 25))
    first = body["forecasts"][0]
    assert first["target_time"] == "2024-03-01T13:00:00Z"
    assert all(row["p10"] <= row["point"] <= row["p90"] for row in body["forecasts"])

    # The same history through aircast.features and predict, without the API.
    sent = history_body(hours=200)["history"][0]["values"]
    times = pd.date_range(end=END, periods=len(sent), freq="h", tz="UTC")
    measurements = pd.DataFrame(
        {"location_id": 1, "parameter": "pm25", "datetime": times, "value": sent}
    )
    features = build_features(
        measurements,
        locations_frame([1]),
        forecaster.spec,
        issue_times=pd.DataFrame({"location_id": [1], "issue_time": [END]}),
    )
    expected = forecaster.predict(features)
    assert [row["point"] for row in body["forecasts"]] == pytest.approx(expected["point"].tolist())


@pytest.mark.parametrize(("horizons", "expected"), [("3..5", [3, 4, 5]), ("5..3", [3, 4, 5])])
def test_horizon_ranges(client: TestClient, horizons: str, expected: list[int]) -> None:
    response = client.post("/v1/forecast", json=history_body(horizons=horizons))
    assert [row["horizon"] for row in response.json()["forecasts"]] == expected


def test_trailing_gaps_move_the_issue_time_back(client: TestClient) -> None:
    body = history_body()
    body["history"][0]["values"][-2:] = [None, None]
    response = client.post("/v1/forecast", json=body)
    assert response.json()["issue_time"] == "2024-03-01T10:00:00Z"


def test_batch_answers_in_request_order_with_per_location_errors(client: TestClient) -> None:
    good = history_body(location_id=1)
    short = history_body(hours=4, location_id=2)
    repeated = history_body(location_id=1)
    response = client.post(
        "/v1/forecast:batch", json={"locations": [good, short, repeated], "horizons": "1..3"}
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["index"] for item in items] == [0, 1, 2]
    assert items[1]["forecast"] is None
    assert "too short" in items[1]["error"]
    assert items[0]["forecast"] == items[2]["forecast"]  # a repeated id is forecast again
    single = client.post("/v1/forecast", json={**good, "horizons": "1..3"}).json()
    assert items[0]["forecast"] == single


def test_batch_of_many_locations(client: TestClient) -> None:
    frame = synthetic_measurements(list(range(1, 201)), 48)
    locations = [
        {
            "location_id": int(location_id),
            "history": [
                {"parameter": "pm25", "end": END.isoformat(), "values": group["value"].tolist()}
            ],
        }
        for location_id, group in frame.groupby("location_id")
    ]
    response = client.post("/v1/forecast:batch", json={"locations": locations})
    items = response.json()["items"]
    assert len(items) == 200
    assert all(len(item["forecast"]["forecasts"]) == 24 for item in items)
    assert len({item["forecast"]["forecasts"][0]["point"] for item in items}) > 1


def test_request_ids_are_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32
