"""The API against the real stack: DB-backed forecasts, read-only role, hot swap of versions."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest

from aircast import registry, store
from aircast.features import build_features

from .conftest import END, SHORT_LOCATION, STALE_BY, STALE_LOCATION, LiveApi, max_data_age_hours

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


def test_stored_forecast_is_the_training_paths_forecast(live_api: LiveApi) -> None:
    """The API's own read (arrays per parameter, async pool) and window features give exactly
    the forecast of the training path: the whole stored history through build_features."""
    location_id = live_api.location_ids[1]
    with live_api.client() as client:
        response = client.get(f"/v1/locations/{location_id}/forecast")
    assert response.status_code == 200, response.text
    body = response.json()
    loaded = registry.load_model(
        registry.model_name("pm25"),
        version=body["model_version"],
        tracking_uri=live_api.tracking_uri,
    )
    forecaster = loaded.forecaster
    measurements = store.load_measurements(live_api.conninfo, list(forecaster.spec.parameters))
    locations = store.load_locations(live_api.conninfo)
    grid = build_features(measurements, locations, forecaster.spec)
    issue = pd.Timestamp(body["issue_time"])
    row = grid[(grid["location_id"] == location_id) & (grid["issue_time"] == issue)]
    assert len(row) == 1
    expected = forecaster.predict(row)
    assert [item["point"] for item in body["forecasts"]] == expected["point"].tolist()
    assert [item["p10"] for item in body["forecasts"]] == expected["p10"].tolist()
    assert [item["p90"] for item in body["forecasts"]] == expected["p90"].tolist()


def test_caller_supplied_history_forecast_is_the_training_paths_forecast(
    live_api: LiveApi,
) -> None:
    """A stored location's history sent by the caller, with a second, overlapping source for
    its last day (several values in one hour), forecasts exactly what the training path
    computes on the same measurement rows: build_features over the whole history."""
    location_id = live_api.location_ids[1]
    with live_api.client() as client:
        version = client.get("/v1/model").json()["version"]
        forecaster = registry.load_model(
            registry.model_name("pm25"), version=version, tracking_uri=live_api.tracking_uri
        ).forecaster
        spec = forecaster.spec
        stored = store.load_measurements(live_api.conninfo, list(spec.parameters))
        own = stored[stored["location_id"] == location_id].sort_values("datetime")
        issue = own.loc[own["parameter"] == "pm25", "datetime"].max()
        last_day = own["datetime"] > issue - pd.Timedelta(days=1)
        second = own[(own["parameter"] == "pm25") & last_day]
        second = second.assign(value=second["value"] * 1.5 + 1.0).iloc[:-3]  # ends 3 h earlier
        history = []
        for parameter, rows in [*own.groupby("parameter"), ("pm25", second)]:
            hours = pd.date_range(rows["datetime"].min(), rows["datetime"].max(), freq="h")
            values = rows.set_index("datetime")["value"].reindex(hours)
            history.append(
                {
                    "parameter": parameter,
                    "end": hours[-1].isoformat(),
                    "values": [None if pd.isna(v) else float(v) for v in values],
                }
            )
        locations = store.load_locations(live_api.conninfo)
        place = locations[locations["location_id"] == location_id].iloc[0]
        body = {
            "location_id": location_id,
            "timezone": place["timezone"],
            "latitude": float(place["latitude"]),
            "longitude": float(place["longitude"]),
            "history": history,
        }
        response = client.post("/v1/forecast", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert pd.Timestamp(got["issue_time"]) == issue
    grid = build_features(pd.concat([stored, second]), locations, spec)
    row = grid[(grid["location_id"] == location_id) & (grid["issue_time"] == issue)]
    expected = forecaster.predict(row)
    assert [item["point"] for item in got["forecasts"]] == expected["point"].tolist()
    assert [item["p10"] for item in got["forecasts"]] == expected["p10"].tolist()
    assert [item["p90"] for item in got["forecasts"]] == expected["p90"].tolist()


def test_a_stale_location_answers_the_documented_problem(live_api: LiveApi) -> None:
    """Data older than AIRCAST_API_MAX_DATA_AGE_HOURS is said, not forecast as if current."""
    newest = END - STALE_BY
    with live_api.client() as client:
        response = client.get(f"/v1/locations/{STALE_LOCATION}/forecast")
        page = client.get("/v1/locations", params={"limit": 100}).json()
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://aircast.dev/problems/stale-data"
    assert pd.Timestamp(problem["newest_observation"]) == newest
    assert newest.strftime("%Y-%m-%dT%H:%M:%SZ") in problem["detail"]
    assert problem["max_data_age_hours"] == pytest.approx(max_data_age_hours(), abs=0.2)
    assert problem["data_age_hours"] > problem["max_data_age_hours"]
    newest_by_id = {item["location_id"]: item["newest_observation"] for item in page["items"]}
    assert pd.Timestamp(newest_by_id[STALE_LOCATION]) == newest
    assert pd.Timestamp(newest_by_id[live_api.location_ids[0]]) == END


def test_every_forecast_carries_the_age_of_its_data(live_api: LiveApi) -> None:
    """Stored and caller-supplied forecasts both say how old their newest observation is."""
    location_id = live_api.location_ids[0]
    with live_api.client() as client:
        before = pd.Timestamp.now(tz="UTC")
        stored = client.get(f"/v1/locations/{location_id}/forecast").json()
        values = [10.0 + i % 5 for i in range(48)]
        supplied = client.post(
            "/v1/forecast",
            json={"history": [{"parameter": "pm25", "end": END.isoformat(), "values": values}]},
        ).json()
        after = pd.Timestamp.now(tz="UTC")
    low, high = ((moment - END) / pd.Timedelta(hours=1) for moment in (before, after))
    for body in (stored, supplied):
        assert body["issue_time"] == "2025-06-01T12:00:00Z"
        assert low - 0.001 <= body["data_age_hours"] <= high + 0.001


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


def test_stored_forecasts_are_reused_until_a_new_measurement_arrives(live_api: LiveApi) -> None:
    """The forecast cache: a repeat is a hit; a newer measurement moves the issue time at once."""
    import psycopg

    # not the first location (other tests read it) nor the one with too short a history
    location_id = [i for i in sorted(live_api.location_ids) if i != SHORT_LOCATION][1]
    path = f"/v1/locations/{location_id}/forecast"

    def hits(client: httpx.Client) -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('aircast_api_forecast_cache_total{result="hit"}'):
                return float(line.split()[-1])
        return 0.0

    with live_api.client() as client:
        first = client.get(path).json()
        before = hits(client)
        again = client.get(path).json()
        # the age of the data is the age when served, never the age when cached
        first_age, again_age = first.pop("data_age_hours"), again.pop("data_age_hours")
        assert again == first
        assert again_age >= first_age
        assert hits(client) == before + 1
        with psycopg.connect(live_api.conninfo) as conn:
            conn.execute(
                "INSERT INTO measurements (sensor_id, datetime, location_id, parameter, value,"
                " unit, source) SELECT sensor_id, %s, location_id, parameter, 20.0, 'µg/m³',"
                " 'test' FROM sensors WHERE location_id = %s AND parameter = 'pm25'",
                ("2025-06-01T13:00:00Z", location_id),
            )
        newer = client.get(path).json()
    assert first["issue_time"] == "2025-06-01T12:00:00Z"
    assert newer["issue_time"] == "2025-06-01T13:00:00Z"
