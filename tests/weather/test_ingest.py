"""Weather ingest and backfill against the local Open-Meteo server and the real PostgreSQL:
issue times as documented, idempotent re-runs, the CLI command, observations kept apart."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from aircast.cli import main
from aircast.weather import store as weather_store
from aircast.weather.client import OpenMeteoClient
from aircast.weather.ingest import PUBLICATION_DELAY, active_points, ingest_forecasts
from aircast_dev.openmeteo_server import LocalOpenMeteoServer

from .conftest import NOW, client_settings, seed_synthetic

pytestmark = pytest.mark.integration

END = NOW.floor("h")


def test_ingest_stores_the_next_hours_of_active_locations_once(
    db: str, server: LocalOpenMeteoServer
) -> None:
    seed_synthetic(db, n_locations=3, end=END)
    assert [p.location_id for p in active_points(db, now=NOW)] == [900001, 900002, 900003]
    assert active_points(db, now=NOW + pd.Timedelta(days=30)) == []
    with OpenMeteoClient(client_settings(server)) as client:
        first = ingest_forecasts(db, client, now=NOW, hours=48)
        again = ingest_forecasts(db, client, now=NOW, hours=48)
        later = ingest_forecasts(db, client, now=NOW + pd.Timedelta(hours=1), hours=48)
    assert (first.locations, first.inserted, first.updated) == (3, 3 * 53, 0)
    assert (again.inserted, again.updated) == (0, 0)
    assert later.inserted == 3 * 53  # a new issue: new rows, the old ones kept
    rows = weather_store.load_forecasts(db)
    assert len(rows) == 2 * 3 * 53
    assert set(rows["issued_at"]) == {NOW, NOW + pd.Timedelta(hours=1)}
    assert rows["temperature_2m"].notna().all()
    # as of NOW (rounded down to the hour) the fetch at NOW (20 min past) was not yet known
    assert weather_store.forecasts_as_of(db, [900001], END).empty
    known = weather_store.forecasts_as_of(db, [900001], END + pd.Timedelta(hours=1))
    assert (known["issued_at"] == NOW).all()


def test_backfill_command_stamps_previous_runs_conservatively_and_is_idempotent(
    db: str, server: LocalOpenMeteoServer
) -> None:
    seed_synthetic(db, n_locations=2, end=END)
    env = {
        "AIRCAST_DATABASE_URL": db,
        "AIRCAST_WEATHER_BACKOFF_SECONDS": "0.01",
        **server.settings_env(),
    }  # fmt: skip
    args = ["weather", "backfill", "--since", "2025-02-10", "--until", "2025-02-12"]
    runner = CliRunner()
    first = runner.invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, args, env=env)
    assert second.exit_code == 0, second.output
    assert "'inserted': 0, 'updated': 0" in second.output
    rows = weather_store.load_forecasts(db)
    assert len(rows) == 2 * 3 * 24 * 2  # locations x hours x previous days 1 and 2
    lead = (rows["target_time"] - rows["issued_at"]) / pd.Timedelta(hours=1)
    delay = PUBLICATION_DELAY / pd.Timedelta(hours=1)
    assert sorted(set(lead)) == [24 - delay, 48 - delay]
    observed = runner.invoke(main, [*args[:-1], "2025-02-10", "--source", "reanalysis"], env=env)
    assert observed.exit_code == 0, observed.output
    assert len(weather_store.load_observations(db)) == 2 * 24
    assert len(weather_store.load_forecasts(db)) == len(rows)  # observations kept apart
    bad = runner.invoke(main, ["weather", "backfill", "--since", "2025-02-12", "--until",
                               "2025-02-10"], env=env)  # fmt: skip
    assert bad.exit_code == 2
    assert "before" in bad.output
    with psycopg.connect(db) as conn:
        sources = conn.execute("SELECT DISTINCT source FROM weather_forecasts").fetchall()
    assert sources == [("previous_runs",)]
