"""The model lifecycle: hot swap when the alias moves, last good model kept on failures."""

from __future__ import annotations

from fastapi.testclient import TestClient

from aircast_api import runtime

from .conftest import AppFactory, Registry, make_lifecycle


def test_alias_move_swaps_the_version_in_one_step(registry: Registry) -> None:
    lifecycle = make_lifecycle(registry)
    slot = lifecycle.slots["pm25"]
    assert lifecycle.refresh(slot) is True
    first = slot.served
    assert lifecycle.refresh(slot) is False  # same version: nothing is reloaded
    assert registry.loads == 1
    registry.version = 2
    assert lifecycle.refresh(slot) is True
    assert slot.served is not first
    assert slot.served is not None
    assert slot.served.version == 2
    assert first is not None
    assert first.version == 1  # the old state was never mutated


def test_registry_outage_keeps_the_last_good_model(
    make_client: AppFactory, registry: Registry
) -> None:
    client: TestClient = make_client()
    lifecycle = client.app.state.lifecycle  # type: ignore[attr-defined]
    registry.failing = True
    registry.version = 2
    lifecycle.refresh(lifecycle.slots["pm25"])
    model = client.get("/v1/model").json()
    assert model["version"] == 1
    assert model["registry_reachable"] is False
    assert "ConnectionError" in model["last_error"]
    assert "pw@" not in model["last_error"]  # credentials in URLs are redacted
    metrics = client.get("/metrics").text
    assert 'aircast_api_model_reload_failures_total{parameter="pm25"}' in metrics
    registry.failing = False
    lifecycle.refresh(lifecycle.slots["pm25"])
    recovered = client.get("/v1/model").json()
    assert recovered["version"] == 2
    assert recovered["registry_reachable"] is True


def test_model_metadata(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["name"] == "aircast-pm25"
    assert body["alias"] == "champion"
    assert body["metrics"] == {"mae_h1": 1.5, "mae_h24": 3.0}
    assert "y_lag_0" in body["feature_names"]


def test_metrics_count_requests_per_route_and_predictions(client: TestClient) -> None:
    client.get("/v1/model")
    text = client.get("/metrics").text
    assert 'aircast_api_requests_total{method="GET",route="/v1/model",status="200"}' in text
    assert 'aircast_api_request_duration_seconds_bucket{le="0.001",method="GET"' in text
    assert 'aircast_api_model_version{parameter="pm25"} 1.0' in text


def test_startup_freezes_the_imported_heap_out_of_the_gc(client: TestClient) -> None:
    """After start-up the long-lived objects are frozen, so full collections stay short."""
    import gc

    assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() > 10_000
    # and a request's objects are freed before the young generation is collected
    assert gc.get_threshold()[0] == runtime.GC_THRESHOLD > 700
