"""Fixtures for the ingest tests: a small synthetic OpenAQ dataset, the local OpenAQ server,
client settings pointing at it, and a fresh migrated database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

from aircast import store
from aircast.settings import OpenAQSettings
from aircast_dev.openaq_server import DEFAULT_API_KEY, LocalOpenAQServer
from aircast_dev.stack import Stack
from aircast_dev.synthetic import MeasurementSet, synthetic_dataset

END = pd.Timestamp("2025-03-01T00:00:00Z")
SINCE = END - pd.Timedelta(days=20)


@pytest.fixture(scope="session")
def dataset() -> MeasurementSet:
    """Two synthetic stations (pm25, temperature, humidity), one month ending at END."""
    return synthetic_dataset(seed=7, n_locations=2, end=END, months=1)


@pytest.fixture
def server(dataset: MeasurementSet) -> Iterator[LocalOpenAQServer]:
    """The local OpenAQ server on a free port, with a generous budget unless a test changes it."""
    with LocalOpenAQServer(dataset, rate_limit=10_000) as running:
        yield running


def client_settings(server: LocalOpenAQServer, **overrides: object) -> OpenAQSettings:
    """Settings that point the client at ``server`` with fast retries."""
    values: dict[str, object] = {
        "openaq_base_url": server.url,
        "openaq_api_key": DEFAULT_API_KEY,
        "openaq_backoff_seconds": 0.01,
        "openaq_timeout": 5.0,
        "openaq_requests_per_minute": 10_000,
        **overrides,
    }
    return OpenAQSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(server: LocalOpenAQServer) -> OpenAQSettings:
    """Client settings for the ``server`` fixture."""
    return client_settings(server)


def new_database(stack: Stack) -> str:
    """A fresh database with the aircast schema."""
    name = f"ingest_{uuid.uuid4().hex[:10]}"
    url = stack.create_database(name)
    store.upgrade(url)
    return url


@pytest.fixture
def db(stack: Stack) -> Iterator[str]:
    """A fresh migrated database for one test, dropped afterwards."""
    url = new_database(stack)
    yield url
    stack.drop_database(url.rsplit("/", 1)[-1])


TABLES = ("locations", "sensors", "measurements", "ingest_watermarks", "rejected_measurements")


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every aircast table, in a stable order (timestamps included)."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()  # noqa: S608
    return out
