"""Forecasts from caller-supplied history equal the model's own predictions on the features."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aircast.features import build_features
from aircast.forecaster import Forecaster
from aircast_api import service

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


def test_overlapping_series_forecast_equals_the_training_path(
    client: TestClient, forecaster: Forecaster
) -> None:
    """Several values in one hour, one rule on both paths: a caller's overlapping series (and
    the same history in a batch) forecast exactly what training computes on the measurement
    rows they stand for, duplicated hours and all (build_features over the whole history)."""
    body = history_body(hours=200)
    main = body["history"][0]["values"]
    # a second source for the last 30 hours: other values, some nulls, ending 2 h earlier
    rng = np.random.default_rng(3)
    extra: list[float | None] = [round(float(v), 3) for v in rng.gamma(2, 8, 30)]
    extra[5] = extra[17] = None
    end_extra = END - pd.Timedelta(hours=2)
    body["history"].append({"parameter": "pm25", "end": end_extra.isoformat(), "values": extra})
    single = client.post("/v1/forecast", json=body)
    batch = client.post("/v1/forecast:batch", json={"locations": [body]})
    assert single.status_code == 200, single.text
    assert batch.status_code == 200, batch.text

    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "datetime": pd.date_range(end=END, periods=len(main), freq="h", tz="UTC"),
                    "value": main,
                }
            ),
            pd.DataFrame(
                {
                    "datetime": pd.date_range(end=end_extra, periods=30, freq="h", tz="UTC"),
                    "value": pd.array(extra, dtype="Float64").to_numpy(np.float64, na_value=np.nan),
                }
            ),
        ]
    ).assign(location_id=1, parameter="pm25")
    grid = build_features(rows, locations_frame([1]), forecaster.spec)
    expected = forecaster.predict(grid[grid["issue_time"] == END])
    for got in (single.json(), batch.json()["items"][0]["forecast"]):
        assert got["issue_time"] == "2024-03-01T12:00:00Z"
        assert [row["point"] for row in got["forecasts"]] == expected["point"].tolist()
        assert [row["p10"] for row in got["forecasts"]] == expected["p10"].tolist()
        assert [row["p90"] for row in got["forecasts"]] == expected["p90"].tolist()


def test_caller_supplied_forecasts_report_the_age_of_their_data(client: TestClient) -> None:
    """Not stale-checked (a 2024 history is forecast), but its age is said: hours from the
    issue hour to now, in a single forecast and in each batch item."""
    before = pd.Timestamp.now(tz="UTC")
    single = client.post("/v1/forecast", json=history_body()).json()
    gappy = history_body()
    gappy["history"][0]["values"][-2:] = [None, None]  # issue time two hours earlier
    batch = client.post("/v1/forecast:batch", json={"locations": [history_body(), gappy]}).json()
    after = pd.Timestamp.now(tz="UTC")
    low, high = ((moment - END) / pd.Timedelta(hours=1) for moment in (before, after))
    ages = [single["data_age_hours"]] + [i["forecast"]["data_age_hours"] for i in batch["items"]]
    assert low - 0.001 <= ages[0] <= high + 0.001
    assert low - 0.001 <= ages[1] <= high + 0.001
    assert low + 2 - 0.001 <= ages[2] <= high + 2 + 0.001


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


def test_batches_are_forecast_on_the_one_batch_thread(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch runs on the same dedicated thread, not the default executor's pool (each
    pool thread's malloc arena would keep what its batches freed)."""
    threads: list[str] = []
    real = service.forecast_histories

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "forecast_histories", recording)
    for location_id in (1, 2, 3):
        body = {"locations": [history_body(location_id=location_id)], "horizons": "1..2"}
        response = client.post("/v1/forecast:batch", json=body)
        assert response.status_code == 200, response.text
    assert len(threads) == 3
    assert len(set(threads)) == 1
    assert threads[0].startswith(service.BATCH_THREAD)
