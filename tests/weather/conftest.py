"""Fixtures for the weather tests: the local Open-Meteo-compatible server and client settings."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

from aircast import store
from aircast.ingest import register_locations, store_raw
from aircast.schemas import RAW_COLUMNS
from aircast.settings import WeatherSettings
from aircast_dev.openmeteo_server import LocalOpenMeteoServer
from aircast_dev.stack import Stack
from aircast_dev.synthetic import synthetic_dataset

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


def seed_synthetic(
    conninfo: str, *, n_locations: int, end: pd.Timestamp, seed: int = 21, target: str = "pm25"
) -> None:
    """Migrate ``conninfo`` and store a synthetic month of measurements ending at ``end``
    (the pm25 series stored as ``target``)."""
    store.upgrade(conninfo, reader_role="aircast_reader")
    data = synthetic_dataset(seed=seed, n_locations=n_locations, end=end, months=1, bad_values=0)
    sensors = {
        s.sensor_id: (loc.location_id, s.parameter, s.unit)
        for loc in data.locations
        for s in loc.sensors
    }
    mapped = data.measurements["sensor_id"].map(sensors)
    raw = data.measurements.assign(
        location_id=[m[0] for m in mapped],
        parameter=[target if m[1] == "pm25" else m[1] for m in mapped],
        unit=[m[2] for m in mapped],
        source="synthetic",
    )[list(RAW_COLUMNS)]
    locations = [
        dataclasses.replace(
            loc,
            sensors=tuple(
                dataclasses.replace(s, parameter=target) if s.parameter == "pm25" else s
                for s in loc.sensors
            ),
        )
        for loc in data.locations
    ]
    register_locations(conninfo, locations)
    with psycopg.connect(conninfo) as conn:
        store_raw(conn, raw, source="synthetic")
