"""One example per operation in the contract: its 200 response and, for a POST, its body.

Kept apart from the routes so the contract's examples are in one place; ``tests/contract``
checks that every operation has one and that each example is valid against its own schema
(so an example cannot drift from the model it illustrates).
"""

from __future__ import annotations

from typing import Any

_HISTORY = [
    11.2, 10.8, 10.1, 9.7, 9.9, 10.6, 12.4, 14.9, 16.2, 15.1, 13.8, 12.9,
    12.1, 11.7, 11.9, 12.8, 14.2, 16.9, 19.4, 21.0, 19.8, 17.5, 15.2, 13.6,
]  # fmt: skip

_HORIZONS = [
    {
        "horizon": 1,
        "target_time": "2024-03-01T13:00:00Z",
        "point": 12.8,
        "p10": 9.6,
        "p90": 16.9,
        "aqi": {
            "basis": "hourly_equivalent",
            "point": {"aqi": 58, "category": "Moderate"},
            "p10": {"aqi": 52, "category": "Moderate"},
            "p90": {"aqi": 66, "category": "Moderate"},
        },
    },
    {
        "horizon": 2,
        "target_time": "2024-03-01T14:00:00Z",
        "point": 8.4,
        "p10": 5.9,
        "p90": 37.2,
        "aqi": {
            "basis": "hourly_equivalent",
            "point": {"aqi": 47, "category": "Good"},
            "p10": {"aqi": 33, "category": "Good"},
            "p90": {"aqi": 105, "category": "Unhealthy for Sensitive Groups"},
        },
    },
]

_FORECAST = {
    "location_id": 2178,
    "parameter": "pm25",
    "unit": "µg/m³",
    "model_version": 7,
    "issue_time": "2024-03-01T12:00:00Z",
    "forecasts": _HORIZONS,
}

_LOCATION_HISTORY = {
    "location_id": 2178,
    "timezone": "America/Denver",
    "latitude": 39.7392,
    "longitude": -104.9903,
    "history": [{"parameter": "pm25", "end": "2024-03-01T12:00:00Z", "values": _HISTORY}],
}

RESPONSES: dict[str, Any] = {
    "healthz": {"status": "ok"},
    "readyz": {
        "status": "ready",
        "database": {"configured": True, "reachable": True},
        "models": [
            {
                "parameter": "pm25",
                "loaded": True,
                "version": 7,
                "age_seconds": 86400.0,
                "loaded_at": "2024-03-01T06:00:00Z",
                "registry_reachable": True,
                "last_error": None,
            }
        ],
    },
    "prometheus_metrics": (
        "# HELP aircast_api_model_version Served model version per parameter.\n"
        "# TYPE aircast_api_model_version gauge\n"
        'aircast_api_model_version{parameter="pm25"} 7.0\n'
    ),
    "get_model": {
        "parameter": "pm25",
        "name": "aircast-pm25",
        "version": 7,
        "alias": "champion",
        "run_id": "9f3c2b1a0e8d4c7b",
        "trained_at": "2024-02-29T03:00:00Z",
        "loaded_at": "2024-03-01T06:00:00Z",
        "unit": "µg/m³",
        "feature_names": ["horizon", "y_lag_1", "y_lag_24", "y_mean_24", "hour_sin"],
        "metrics": {"mae_h1": 1.9, "mae_h24": 4.6},
        "registry_reachable": True,
        "last_error": None,
    },
    "list_locations": {
        "items": [
            {
                "location_id": 2178,
                "name": "Denver - CAMP",
                "timezone": "America/Denver",
                "latitude": 39.7392,
                "longitude": -104.9903,
                "country": "US",
                "latest": {"datetime": "2024-03-01T12:00:00Z", "value": 13.6},
            }
        ],
        "next_cursor": "2178",
    },
    "forecast_location": _FORECAST,
    "forecast": _FORECAST,
    "forecast_batch": {
        "parameter": "pm25",
        "model_version": 7,
        "items": [
            {"index": 0, "location_id": 2178, "forecast": _FORECAST, "error": None},
            {
                "index": 1,
                "location_id": 8118,
                "forecast": None,
                "error": "history too short: at least 12 of the 24 hours up to the newest "
                "pm25 value must be observed",
            },
        ],
    },
    "nowcast_location": {
        "location_id": 2178,
        "parameter": "pm25",
        "unit": "µg/m³",
        "time": "2024-03-01T12:00:00Z",
        "hours": 12,
        "concentration": 17.4,
        "aqi": 66,
        "category": "Moderate",
    },
}
"""The 200 response of each operation, by operationId."""

REQUESTS: dict[str, Any] = {
    "forecast": {**_LOCATION_HISTORY, "parameter": "pm25", "horizons": "1..2"},
    "forecast_batch": {
        "parameter": "pm25",
        "horizons": "1..2",
        "locations": [
            _LOCATION_HISTORY,
            {
                "location_id": 8118,
                "timezone": "Europe/Paris",
                "history": [
                    {"parameter": "pm25", "end": "2024-03-01T12:00:00Z", "values": [8.1, 7.9]}
                ],
            },
        ],
    },
}
"""The request body of each operation that takes one, by operationId."""


def add_examples(schema: dict[str, Any]) -> None:
    """Put :data:`RESPONSES` and :data:`REQUESTS` into the OpenAPI document ``schema``."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            name = operation["operationId"]
            if name in RESPONSES:
                for media in operation["responses"]["200"].get("content", {}).values():
                    media["example"] = RESPONSES[name]
            if name in REQUESTS:
                for media in operation["requestBody"]["content"].values():
                    media["example"] = REQUESTS[name]
