"""Every error is RFC 9457 problem+json with the right status and the offending field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from .conftest import AppFactory, Registry, history_body

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + kind)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latitude", True),  # a boolean is not a number
        ("latitude", "3"),  # nor is a string
        ("location_id", 3.5),  # an integer cannot have a fraction
        ("timezone", "Mars/Olympus_Mons"),
        ("horizons", "0..25"),
    ],
)
def test_invalid_fields_are_named(client: TestClient, field: str, value: object) -> None:
    response = client.post("/v1/forecast", json=history_body(**{field: value}))
    body = assert_problem(response, 422, "validation-error")
    assert [param["name"] for param in body["invalid_params"]] == [f"body.{field}"]


def _post_with_end(client: TestClient, end: object) -> httpx.Response:
    """POST /v1/forecast with the history's series ending at ``end``."""
    body = history_body()
    body["history"][0]["end"] = end
    return client.post("/v1/forecast", json=body)


@pytest.mark.parametrize(
    "end",
    [
        1709294400,  # epoch seconds: a lax datetime would take it
        "2024-03-01T12:00:00",  # no offset
        "2024-03-01T12:00Z",  # no seconds
        "2024-03-01",  # a date
        "yesterday",
    ],
)
def test_series_end_must_be_an_rfc3339_date_time(client: TestClient, end: object) -> None:
    problem = assert_problem(_post_with_end(client, end), 422, "validation-error")
    (param,) = problem["invalid_params"]
    assert param["name"] == "body.history.0.end"
    assert "RFC 3339" in param["reason"]


def test_series_end_must_be_a_real_day(client: TestClient) -> None:
    response = _post_with_end(client, "2024-02-30T12:00:00Z")
    problem = assert_problem(response, 422, "validation-error")
    (param,) = problem["invalid_params"]
    assert param["name"] == "body.history.0.end"
    assert "day value is outside" in param["reason"]


@pytest.mark.parametrize(
    "end", ["2024-03-01T12:00:00Z", "2024-03-01 13:00:00.5+01:00", "2024-03-01t12:00:59z"]
)
def test_series_end_takes_any_rfc3339_form(client: TestClient, end: str) -> None:
    response = _post_with_end(client, end)
    assert response.status_code == 200, response.text
    assert response.json()["issue_time"] == "2024-03-01T12:00:00Z"


def test_integral_floats_are_integers(client: TestClient) -> None:
    response = client.post("/v1/forecast", json=history_body(location_id=7.0))
    assert response.status_code == 200
    assert response.json()["location_id"] == 7


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/forecast", content=b'{"history": [', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize("route", ["/v1/forecast", "/v1/forecast:batch"])
@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"", "application/json"), (b'{"history": []}', "text/plain")],
    ids=["empty", "not-json"],
)
def test_missing_or_non_json_bodies_name_the_body(
    client: TestClient, route: str, content: bytes, content_type: str
) -> None:
    response = client.post(route, content=content, headers={"content-type": content_type})
    body = assert_problem(response, 422, "validation-error")
    assert [param["name"] for param in body["invalid_params"]] == ["body"]


def test_batch_errors_name_the_item_and_field(client: TestClient) -> None:
    bad = history_body(location_id=2)
    bad["history"][0]["values"][3] = "12"
    response = client.post("/v1/forecast:batch", json={"locations": [history_body(), bad]})
    body = assert_problem(response, 422, "validation-error")
    assert [param["name"] for param in body["invalid_params"]] == [
        "body.locations.1.history.0.values.3"
    ]


def test_oversized_bodies_are_413(make_client: AppFactory) -> None:
    client = make_client(api_max_body_bytes=2_000)
    declared = client.post("/v1/forecast", json=history_body(hours=400))
    assert_problem(declared, 413, "payload-too-large")

    def chunks() -> Any:  # no Content-Length: the limit applies while reading
        yield b'{"history": ['
        for _ in range(100):
            yield b'{"parameter": "pm25", "end": "2024-01-01T00:00:00Z", "values": [1]},'
        yield b"]}"

    streamed = client.post(
        "/v1/forecast", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(streamed, 413, "payload-too-large")


def test_short_history_is_409(client: TestClient) -> None:
    response = client.post("/v1/forecast", json=history_body(hours=6))
    body = assert_problem(response, 409, "history-too-short")
    assert "12 of the 24 hours" in body["detail"]


def test_history_outside_the_supported_span_is_409(client: TestClient) -> None:
    body = history_body()
    body["history"][0]["end"] = "9999-12-31T23:00:00Z"
    assert_problem(client.post("/v1/forecast", json=body), 409, "history-too-short")


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v2/nothing"), 404, "not-found")
    assert_problem(client.delete("/v1/model"), 405, "method-not-allowed")


def test_parameter_without_a_model_is_404(client: TestClient) -> None:
    response = client.get("/v1/model", params={"parameter": "no2"})
    assert_problem(response, 404, "parameter-not-served")


def test_no_model_loaded_is_503_never_500(make_client: AppFactory, registry: Registry) -> None:
    registry.version = None  # the registered model has no champion yet
    client = make_client(load=False)
    assert_problem(client.post("/v1/forecast", json=history_body()), 503, "model-unavailable")
    assert_problem(client.get("/v1/model"), 503, "model-unavailable")
    readiness = client.get("/readyz")
    assert readiness.status_code == 503
    status = readiness.json()
    assert status["status"] == "not_ready"
    assert status["models"][0]["loaded"] is False
    assert "no @champion version" in status["models"][0]["last_error"]


def test_unreachable_database_is_503(client: TestClient) -> None:
    assert_problem(client.get("/v1/locations"), 503, "database-unavailable")
    assert_problem(client.get("/v1/locations/1/forecast"), 503, "database-unavailable")
