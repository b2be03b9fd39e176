"""The committed contract is exactly what the app generates."""

from __future__ import annotations

from pathlib import Path

import yaml

from aircast_api.contract import openapi, render

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"

OPERATIONS = {
    ("get", "/healthz"): "healthz",
    ("get", "/readyz"): "readyz",
    ("get", "/metrics"): "prometheus_metrics",
    ("get", "/v1/model"): "get_model",
    ("get", "/v1/locations"): "list_locations",
    ("get", "/v1/locations/{location_id}/forecast"): "forecast_location",
    ("post", "/v1/forecast"): "forecast",
    ("post", "/v1/forecast:batch"): "forecast_batch",
    ("get", "/v1/locations/{location_id}/forecasts"): "list_archived_forecasts",
    ("get", "/v1/verification"): "get_verification",
}


def test_committed_contract_matches_the_app() -> None:
    committed = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    assert committed == openapi(), (
        "the app's OpenAPI schema differs from contracts/openapi.yaml; if the change is "
        "deliberate, run `hatch run api:contract` and commit the file"
    )
    assert CONTRACT.read_text(encoding="utf-8") == render()


def test_operation_ids_are_stable() -> None:
    paths = openapi()["paths"]
    found = {
        (method, path): operation["operationId"]
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert found == OPERATIONS


def test_every_error_is_documented_as_problem_json() -> None:
    for path, item in openapi()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                if (path, status) == ("/readyz", "503"):  # the readiness report itself
                    assert set(response["content"]) == {"application/json"}
                    continue
                assert set(response["content"]) == {"application/problem+json"}, (
                    method,
                    path,
                    status,
                )
