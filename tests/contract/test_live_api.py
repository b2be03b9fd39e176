"""The API against the real stack: DB-backed forecasts, read-only role, hot swap of versions."""

from __future__ import annotations

import time

import pytest

from aircast import registry

from .conftest import SHORT_LOCATION, LiveApi

pytestmark = pytest.mark.integration


def test_ready_with_the_champion_and_the_database(live_api: LiveApi) -> None:
    with live_api.client() as client:
        ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["database"]["reachable"] is True
    assert ready["models"][0]["loaded"] is True
    assert ready["models"][0]["registry_reachable"] is True


def test_locations_are_paginated_with_their_latest_measurement(live_api: LiveApi) -> None:
    with live_api.client() as client:
        first = client.get("/v1/locations", params={"limit": 2}).json()
        second = client.get(
            "/v1/locations", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
    ids = [item["location_id"] for item in first["items"] + second["items"]]
    assert ids == sorted(live_api.location_ids)
    assert second["next_cursor"] is None
    assert first["items"][0]["latest"]["datetime"] == "2025-06-01T12:00:00Z"


def test_stored_location_forecast(live_api: LiveApi) -> None:
    location_id = live_api.location_ids[0]
    with live_api.client() as client:
        response = client.get(f"/v1/locations/{location_id}/forecast", params={"horizons": "1..6"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["location_id"] == location_id
    assert body["issue_time"] == "2025-06-01T12:00:00Z"
    assert [row["horizon"] for row in body["forecasts"]] == [1, 2, 3, 4, 5, 6]
    assert body["forecasts"][-1]["target_time"] == "2025-06-01T18:00:00Z"
    assert all(0 <= row["p10"] <= row["point"] <= row["p90"] for row in body["forecasts"])


def test_stored_location_errors(live_api: LiveApi) -> None:
    with live_api.client() as client:
        unknown = client.get("/v1/locations/12345/forecast")
        short = client.get(f"/v1/locations/{SHORT_LOCATION}/forecast")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert short.status_code == 409
    assert short.json()["type"].endswith("/history-too-short")


def test_new_champion_is_swapped_in_without_restart(live_api: LiveApi) -> None:
    from mlflow import register_model as mlflow_register
    from mlflow.tracking import MlflowClient

    name = registry.model_name("pm25")
    with live_api.client() as client:
        before = client.get("/v1/model").json()
        # A new version of the same artifacts: what a retraining registers, minus the training.
        mlflow = MlflowClient(live_api.tracking_uri)
        current = mlflow.get_model_version(name, str(before["version"]))
        created = mlflow_register(current.source, name)
        version = int(created.version)
        registry.promote(name, version, reason="hot swap test", tracking_uri=live_api.tracking_uri)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            model = client.get("/v1/model").json()
            if model["version"] == version:
                break
            time.sleep(0.5)
        assert model["version"] == version
        assert model["run_id"] == current.run_id
        forecast = client.get(f"/v1/locations/{live_api.location_ids[0]}/forecast")
        metrics = client.get("/metrics").text
    assert forecast.json()["model_version"] == version
    assert f'aircast_api_model_version{{parameter="pm25"}} {float(version)}' in metrics
