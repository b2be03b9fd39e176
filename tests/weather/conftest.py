"""Fixtures for the weather tests: the local Open-Meteo-compatible server and client settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import pytest

from aircast import store
from aircast.settings import WeatherSettings
from aircast_dev.openmeteo_server import LocalOpenMeteoServer
from aircast_dev.stack import Stack

NOW = pd.Timestamp("2025-03-01T10:20:00Z")


@pytest.fixture
def server() -> Iterator[LocalOpenMeteoServer]:
    """The local Open-Meteo server, its clock fixed at NOW."""
    with LocalOpenMeteoServer(now=lambda: NOW) as running:
        yield running


def client_settings(server: LocalOpenMeteoServer, **overrides: object) -> WeatherSettings:
    """Settings that point the client at ``server`` with fast retries."""
    values: dict[str, object] = {
        "weather_forecast_url": f"{server.url}/forecast/v1/forecast",
        "weather_previous_runs_url": f"{server.url}/previous-runs/v1/forecast",
        "weather_historical_forecast_url": f"{server.url}/historical-forecast/v1/forecast",
        "weather_archive_url": f"{server.url}/archive/v1/archive",
        "weather_backoff_seconds": 0.01,
        "weather_timeout": 2.0,
        **overrides,
    }
    return WeatherSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(server: LocalOpenMeteoServer) -> WeatherSettings:
    """Client settings for the ``server`` fixture."""
    return client_settings(server)


@pytest.fixture
def db(stack: Stack) -> Iterator[str]:
    """A fresh migrated aircast database for one test, dropped afterwards."""
    name = f"weather_{uuid.uuid4().hex[:10]}"
    url = stack.create_database(name)
    store.upgrade(url)
    yield url
    stack.drop_database(name)
