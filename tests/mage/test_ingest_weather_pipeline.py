"""The Mage pipeline ingest_weather, run headless with `mage run` in the Mage env, fetching
from the local Open-Meteo server (in this process, reached over HTTP) into an isolated
database; a re-run of the same fetch writes nothing, a later fetch adds a new issue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest

from aircast.weather import store as weather_store
from aircast_dev.openmeteo_server import LocalOpenMeteoServer
from aircast_dev.stack import Stack

from ..weather.conftest import seed_synthetic

pytestmark = [pytest.mark.integration, pytest.mark.mage]

NOW = pd.Timestamp("2025-03-01T10:12:00Z")


@pytest.fixture
def database(stack: Stack) -> Iterator[str]:
    name = f"mage_weather_{uuid.uuid4().hex[:8]}"
    url = stack.create_database(name)
    yield url
    stack.drop_database(name)


def _count(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT issued_at) FROM weather_forecasts"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_ingest_weather_pipeline_stores_the_forecast_and_reruns_idempotently(
    database: str, mage_run
) -> None:  # type: ignore[no-untyped-def]
    seed_synthetic(database, n_locations=2, end=NOW.floor("h"))
    clock = {"now": NOW}
    with LocalOpenMeteoServer(now=lambda: clock["now"]) as server:
        env = {"AIRCAST_DATABASE_URL": database, **server.settings_env()}
        done = mage_run("ingest_weather", runtime_vars={"now": NOW.isoformat(), "hours": "48"},
                        env=env)  # fmt: skip
        first = _count(database)
        again = mage_run("ingest_weather", runtime_vars={"now": NOW.isoformat(), "hours": "48"},
                         env=env)  # fmt: skip
        second = _count(database)
        clock["now"] = NOW + pd.Timedelta(hours=1)
        mage_run("ingest_weather", runtime_vars={"now": clock["now"].isoformat(), "hours": "48"},
                 env=env)  # fmt: skip
        forecast_requests = [r for r in server.requests if r.path.startswith("/forecast/")]
    assert "ingest_weather fetch:" in done.stdout, done.stdout[-3000:]
    assert "'locations': 2" in done.stdout
    store_line = next(line for line in again.stdout.splitlines() if "ingest_weather store:" in line)
    assert "'inserted': 0, 'updated': 0" in store_line
    assert first == (2 * 53, 1)  # 5 past hours + 48 ahead, per location
    assert second == first
    assert _count(database) == (2 * 2 * 53, 2)
    assert len(forecast_requests) == 3  # both locations in one request per run
    # what an issue hour sees: only what was fetched at or before it
    seen = weather_store.forecasts_as_of(database, [900001], NOW.ceil("h"), hours_after=48)
    assert (seen["issued_at"] == NOW).all()
    assert len(seen) == 47  # 11:00 up to the fetch hour + 47 h
