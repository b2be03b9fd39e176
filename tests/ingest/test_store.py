"""The store on real PostgreSQL: migrations, grants, the upsert, and the history queries."""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from aircast import store
from aircast.openaq.models import Location, Sensor
from aircast_dev.stack import Stack

pytestmark = pytest.mark.integration

T0 = pd.Timestamp("2025-01-01T00:00:00Z")


def _frame(sensor: int, location: int, hours: range, value: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "location_id": location,
            "sensor_id": sensor,
            "parameter": "pm25",
            "datetime": [T0 + pd.Timedelta(hours=h) for h in hours],
            "value": [value + h for h in hours],
            "unit": "µg/m³",
            "coverage_count": pd.array([1] * len(hours), dtype="Int64"),
            "source": "test",
        }
    )


def _locations() -> list[Location]:
    return [
        Location(
            1, "One", "Europe/Paris", 48.0, 2.0, "FR", provider="P", owner="O",
            license="CC BY 4.0", attribution="Owner One",
            sensors=(Sensor(11, 1, "pm25", "µg/m³", 2), Sensor(12, 1, "pm25", "µg/m³", 2)),
        ),
        Location(2, "Two", "UTC", sensors=(Sensor(21, 2, "pm25", "µg/m³", 2),)),
        Location(3, "Three", "UTC", sensors=(Sensor(31, 3, "temperature", "c", 100),)),
    ]  # fmt: skip


def test_migrations_create_the_tables_and_grant_the_reader(stack: Stack, db: str) -> None:
    # head: 0004, the weather forecast and observation tables (#17)
    assert store.current_revision(db) == "0004"
    store.upgrade(db)  # a second run is a no-op
    reader = stack.endpoints.reader_url(db.rsplit("/", 1)[-1])
    with psycopg.connect(reader) as conn:
        for table in ("locations", "sensors", "measurements", "ingest_watermarks",
                      "rejected_measurements", "weather_forecasts",
                      "weather_observations"):  # fmt: skip
            conn.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO sensors VALUES (9, 1, 'pm25', 2, 'µg/m³', now())")


def test_upsert_counts_inserts_and_updates_and_skips_unchanged_rows(db: str) -> None:
    with psycopg.connect(db) as conn:
        store.upsert_locations(conn, _locations())
        first = store.upsert_measurements(conn, _frame(11, 1, range(5)))
        conn.commit()
        stamp = conn.execute("SELECT max(ingested_at) FROM measurements").fetchone()
        again = store.upsert_measurements(conn, _frame(11, 1, range(5)))
        changed = _frame(11, 1, range(3, 7))
        changed.loc[0, "value"] = 99.0  # hour 3 changes, hour 4 is equal, 5 and 6 are new
        mixed = store.upsert_measurements(conn, changed)
        conn.commit()
        untouched = conn.execute(
            "SELECT max(ingested_at) FROM measurements WHERE datetime < %s",
            (T0 + pd.Timedelta(hours=3),),
        ).fetchone()
    assert first == store.UpsertResult(inserted=5, updated=0)
    assert again == store.UpsertResult(inserted=0, updated=0)
    assert mixed == store.UpsertResult(inserted=2, updated=1)
    assert untouched == stamp


def test_measurements_of_unregistered_sensors_are_refused(db: str) -> None:
    with psycopg.connect(db) as conn:
        store.upsert_locations(conn, _locations())
        with pytest.raises(ValueError, match=r"unregistered sensors \[404\]"):
            store.upsert_measurements(conn, pd.concat([_frame(11, 1, range(2)),
                                                       _frame(404, 1, range(2))]))  # fmt: skip
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM measurements").fetchone() == (0,)


def test_load_measurements_picks_the_fullest_sensor_and_honours_the_window(db: str) -> None:
    with psycopg.connect(db) as conn:
        store.upsert_locations(conn, _locations())
        store.upsert_measurements(conn, _frame(11, 1, range(3)))
        store.upsert_measurements(conn, _frame(12, 1, range(10), value=100.0))
        store.upsert_measurements(conn, _frame(21, 2, range(4)))
        conn.commit()
    frame = store.load_measurements(db, ["pm25"])
    assert list(frame.columns) == ["location_id", "parameter", "datetime", "value"]
    assert str(frame["datetime"].dtype) == "datetime64[ns, UTC]"
    assert frame["location_id"].dtype == "int64"
    one = frame[frame["location_id"] == 1]
    assert len(one) == 10  # sensor 12 has more rows than sensor 11
    assert one["value"].min() == 100.0
    window = store.load_measurements(
        db, "pm25", location_ids=[2], since=T0 + pd.Timedelta(hours=1), until="2025-01-01T03:00"
    )
    # since is exclusive, until inclusive (naive times read as UTC)
    assert list(window["datetime"]) == [T0 + pd.Timedelta(hours=h) for h in (2, 3)]
    assert store.load_measurements(db, ["no2"]).empty


def test_locations_keep_attribution_and_page_by_id(db: str) -> None:
    with psycopg.connect(db) as conn:
        store.upsert_locations(conn, _locations())
        store.upsert_measurements(conn, _frame(21, 2, range(4)))
        conn.commit()
    locations = store.load_locations(db)
    assert list(locations["location_id"]) == [1, 2, 3]
    first = locations.iloc[0]
    assert (first["provider"], first["owner"], first["attribution"]) == ("P", "O", "Owner One")
    assert not locations["is_synthetic"].any()
    page1 = store.list_locations(db, "pm25", limit=1)
    page2 = store.list_locations(db, "pm25", after=page1[-1]["location_id"], limit=1)
    page3 = store.list_locations(db, "pm25", after=page2[-1]["location_id"], limit=1)
    assert [p["location_id"] for p in page1 + page2] == [1, 2]
    assert page3 == []  # location 3 has no pm25 sensor
    assert page1[0]["latest_datetime"] is None
    assert page2[0]["latest_datetime"] == T0 + pd.Timedelta(hours=3)
    assert page2[0]["latest_value"] == 4.0
