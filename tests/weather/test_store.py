"""The weather tables on the real local PostgreSQL: idempotent upserts and the as-of reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from aircast.weather import store as weather_store
from aircast.weather.client import HOURLY

pytestmark = pytest.mark.integration

T0 = pd.Timestamp("2025-03-01T00:00Z")
HOUR = pd.Timedelta(hours=1)


def _rows(issued: pd.Timestamp, value: float, hours: int = 6, location: int = 1) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "location_id": location,
            "target_time": pd.date_range(T0, periods=hours, freq="h"),
            "issued_at": issued,
        }
    )
    for name in HOURLY:
        frame[name] = value
    frame["boundary_layer_height"] = np.nan  # a variable the model lacks: stored as NULL
    return frame


def test_upsert_is_idempotent_and_counts_changes(db: str) -> None:
    rows = _rows(T0 - 6 * HOUR, 1.0)
    with psycopg.connect(db) as conn:
        first = weather_store.upsert_forecasts(conn, rows, source="previous_runs")
        again = weather_store.upsert_forecasts(conn, rows, source="previous_runs")
        changed = rows.assign(temperature_2m=rows["temperature_2m"] + np.arange(6) % 2)
        third = weather_store.upsert_forecasts(conn, changed, source="previous_runs")
        count = conn.execute("SELECT count(*), min(lead_hours), max(lead_hours) "
                             "FROM weather_forecasts").fetchone()  # fmt: skip
        with pytest.raises(ValueError, match="source"):
            weather_store.upsert_forecasts(conn, rows, source="era5")
    assert (first.inserted, first.updated) == (6, 0)
    assert again.written == 0
    assert (third.inserted, third.updated) == (0, 3)
    assert count == (6, 6, 11)
    loaded = weather_store.load_forecasts(db)
    assert len(loaded) == 6
    assert loaded["boundary_layer_height"].isna().all()


def test_as_of_reader_returns_the_newest_forecast_issued_at_or_before_t(db: str) -> None:
    with psycopg.connect(db) as conn:
        weather_store.upsert_forecasts(conn, _rows(T0 - 12 * HOUR, 1.0), source="previous_runs")
        weather_store.upsert_forecasts(conn, _rows(T0 - 6 * HOUR, 2.0), source="previous_runs")
        weather_store.upsert_forecasts(conn, _rows(T0 - 6 * HOUR, 5.0), source="forecast")
        weather_store.upsert_forecasts(conn, _rows(T0 + 2 * HOUR, 3.0), source="forecast")
        weather_store.upsert_forecasts(conn, _rows(T0, 9.0, location=2), source="forecast")
    before = weather_store.forecasts_as_of(db, [1], T0 - 7 * HOUR, hours_after=12)
    assert before["temperature_2m"].tolist() == [1.0] * 6  # targets T0..T0+5h
    at = weather_store.forecasts_as_of(db, [1], T0, hours_before=1, hours_after=5)
    # same issue time: the live forecast wins over Previous Runs; the +2 h issue is unknown
    assert at["temperature_2m"].tolist() == [5.0] * 6
    assert (at["issued_at"] <= T0).all()
    later = weather_store.forecasts_as_of(db, [1, 2], T0 + 2 * HOUR, hours_after=3)
    by_loc = later.groupby("location_id")["temperature_2m"].apply(list).to_dict()
    assert by_loc == {1: [3.0] * 4, 2: [9.0] * 4}
    # a training window's load drops rows issued after its end
    assert weather_store.load_forecasts(db, issued_until=T0)["issued_at"].max() <= T0


def test_observations_are_stored_apart(db: str) -> None:
    rows = _rows(T0, 4.0).drop(columns=["issued_at"])
    with psycopg.connect(db) as conn:
        first = weather_store.upsert_observations(conn, rows)
        again = weather_store.upsert_observations(conn, rows)
    assert (first.inserted, again.written) == (6, 0)
    assert len(weather_store.load_observations(db)) == 6
    assert weather_store.load_forecasts(db).empty
