"""Prometheus metrics of the API (served on ``GET /metrics``)."""

from __future__ import annotations

from typing import Any

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

FORECAST_SOURCE = Counter(
    "aircast_api_stored_forecast_source_total",
    "Stored-location forecasts by source: the archive (issued by issue_forecasts) or computed.",
    ["parameter", "source"],
)

# Live verification (written hourly by the Mage pipeline issue_forecasts into
# verification_summary; re-read by /metrics). All locations together: one series per
# (parameter, model version, horizon, window) — per-location series would be thousands.
_VERIFICATION_LABELS = ["parameter", "model_version", "horizon", "window"]
VERIFICATION = {
    name: Gauge(f"aircast_verification_{name}", help_text, _VERIFICATION_LABELS)
    for name, help_text in (
        ("pairs", "Scored target times in the window (the same for every horizon)."),
        ("mae", "Live mean absolute error of archived forecasts."),
        ("bias", "Live mean of forecast minus observed."),
        ("rmse", "Live root mean squared error."),
        ("coverage", "Share of observations inside the p10-p90 interval."),
        ("persistence_mae", "MAE of the persistence forecast available at each issue time."),
        ("skill", "1 - MAE / persistence MAE."),
    )
}
VERIFICATION_ALARMS = Gauge(
    "aircast_verification_alarms",
    "Verification alarms raised in the last 24 h, by parameter and kind (skill, drift).",
    ["parameter", "kind"],
)
VERIFICATION_LAST_ALARM = Gauge(
    "aircast_verification_last_alarm_timestamp_seconds",
    "Unix time of the newest verification alarm, by parameter and kind.",
    ["parameter", "kind"],
)
_WINDOW_NAMES = {24: "24h", 168: "7d", 720: "30d"}


def set_verification(summary: list[Any], alarm_counts: list[Any]) -> None:
    """Replace the verification gauges with rows of ``verification_summary`` and alarm counts
    (series of versions no longer scored disappear)."""
    for gauge in VERIFICATION.values():
        gauge.clear()
    for parameter, version, horizon, hours, pairs, *values in summary:
        labels = (parameter, str(version), str(horizon), _WINDOW_NAMES.get(hours, f"{hours}h"))
        VERIFICATION["pairs"].labels(*labels).set(pairs)
        names = ("mae", "bias", "rmse", "coverage", "persistence_mae", "skill")
        for name, value in zip(names, values, strict=True):
            if value is not None:
                VERIFICATION[name].labels(*labels).set(value)
    VERIFICATION_ALARMS.clear()
    VERIFICATION_LAST_ALARM.clear()
    for parameter, kind, recent, newest in alarm_counts:
        VERIFICATION_ALARMS.labels(parameter, kind).set(recent)
        if newest is not None:
            VERIFICATION_LAST_ALARM.labels(parameter, kind).set(newest.timestamp())
