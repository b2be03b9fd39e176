"""The committed contract is exactly what the app generates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from aircast.aqi import reading
from aircast_api import examples
from aircast_api.contract import openapi, render
from aircast_api.models import TIMEZONE_FORMAT, TIMEZONES

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
    ("get", "/v1/locations/{location_id}/nowcast"): "nowcast_location",
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


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the document's components, for jsonschema to resolve its $refs."""
    return {**schema, "components": document["components"]}


def test_every_operation_has_a_valid_example() -> None:
    """Each operation's 200 response, and each request body, has an example that is valid
    against its own schema, so the examples cannot drift from the models."""
    document = openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            media = operation["responses"]["200"]["content"]
            assert media, (method, path)
            bodies = operation.get("requestBody", {}).get("content", {})
            for content in [*media.values(), *bodies.values()]:
                assert "example" in content, (method, path)
                jsonschema.validate(
                    content["example"],
                    _resolved(content["schema"], document),
                    cls=jsonschema.Draft202012Validator,
                )


def test_the_examples_aqi_is_the_aqi_of_their_values() -> None:
    horizons = examples.RESPONSES["forecast"]["forecasts"]
    for row in horizons:
        for key in ("point", "p10", "p90"):
            expected = reading(row[key], "pm25")
            assert expected is not None
            assert row["aqi"][key] == {"aqi": expected.aqi, "category": expected.category.value}
    now = examples.RESPONSES["nowcast_location"]
    expected = reading(now["concentration"], "pm25")
    assert expected is not None
    assert (now["aqi"], now["category"]) == (expected.aqi, expected.category.value)


def _sanitised(value: object) -> str:
    """An enum value reduced to what every client generator keeps of it for a member name:
    its letters and digits, upper case (openapi-python-client 0.29 turns GMT+0 and GMT0 into
    GMT0, GMT-0 into GMT_0)."""
    return re.sub(r"[^A-Z0-9]", "", str(value).upper())


def _enums(node: object) -> list[list[object]]:
    if isinstance(node, dict):
        found = [node["enum"]] if "enum" in node else []
        return found + [enum for value in node.values() for enum in _enums(value)]
    if isinstance(node, list):
        return [enum for value in node for enum in _enums(value)]
    return []


def test_no_enum_collides_once_sanitised() -> None:
    """A generator must be able to name every member: no two values may sanitise alike."""
    for values in _enums(openapi()):
        names = [_sanitised(value) for value in values]
        assert len(set(names)) == len(names), values


def test_time_zones_are_a_validated_string_not_an_enum() -> None:
    timezone = openapi()["components"]["schemas"]["LocationHistory"]["properties"]["timezone"]
    assert timezone["type"] == "string"
    assert "enum" not in timezone
    assert timezone["format"] == TIMEZONE_FORMAT
    assert set(timezone["examples"]) <= set(TIMEZONES)


def test_new_schemas_are_named() -> None:
    schemas = openapi()["components"]["schemas"]
    for name in ("AqiCategory", "AqiParameter", "AqiReading", "HourlyAqi", "NowCast"):
        assert name in schemas
    horizon = schemas["HorizonForecast"]["properties"]["aqi"]
    assert {"$ref": "#/components/schemas/HourlyAqi"} in horizon["anyOf"]
