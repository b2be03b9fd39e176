"""Prometheus metrics of the API (served on ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "aircast_api_requests_total",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "aircast_api_request_duration_seconds",
    "Request latency by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
PREDICTIONS = Counter(
    "aircast_api_predictions_total",
    "Location forecasts served (one per location, all horizons).",
    ["parameter", "route"],
)
MODEL_VERSION = Gauge(
    "aircast_api_model_version", "Registered model version being served.", ["parameter"]
)
MODEL_RELOAD_FAILURES = Counter(
    "aircast_api_model_reload_failures_total",
    "Failed alias checks or model loads (the last good model kept serving).",
    ["parameter"],
)
FORECAST_CACHE = Counter(
    "aircast_api_forecast_cache_total",
    "Stored-location forecast lookups in the cache, by result (hit or miss).",
    ["result"],
)
COALESCED = Histogram(
    "aircast_api_coalesced_locations",
    "Locations forecast together by one predict of concurrent requests (adaptive batching).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
