"""The Mage pipeline ingest_openaq, run headless with `mage run` in the Mage env, fetching from
the local OpenAQ server (in this process, reached over HTTP) into an isolated database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pandas as pd
import psycopg
import pytest

from aircast import store
from aircast_dev.archive import ARCHIVE_LAG_HOURS, archive_objects, publish_archive
from aircast_dev.openaq_server import DEFAULT_API_KEY, LocalOpenAQServer
from aircast_dev.stack import Stack
from aircast_dev.synthetic import synthetic_dataset

pytestmark = [pytest.mark.integration, pytest.mark.mage]

END = pd.Timestamp("2025-03-01T00:00:00Z")
SINCE = END - pd.Timedelta(days=5)


@pytest.fixture
def database(stack: Stack) -> Iterator[str]:
    name = f"mage_ingest_{uuid.uuid4().hex[:8]}"
    url = stack.create_database(name)
    yield url
    stack.drop_database(name)


def test_ingest_openaq_pipeline_lands_validated_rows(database: str, mage_run) -> None:  # type: ignore[no-untyped-def]
    dataset = synthetic_dataset(seed=3, n_locations=2, end=END, months=1, bad_values=40)
    with LocalOpenAQServer(dataset) as server:
        done = mage_run(
            "ingest_openaq",
            runtime_vars={
                "location_ids": "900001,900002",
                "parameters": "pm25",
                "since": SINCE.isoformat(),
                "until": END.isoformat(),
            },
            env={
                "AIRCAST_DATABASE_URL": database,
                "AIRCAST_OPENAQ_BASE_URL": server.url,
                "OPENAQ_API_KEY": DEFAULT_API_KEY,
            },
        )
        hours_requests = [r for r in server.requests if r.path.endswith("/hours")]
    served = dataset.measurements
    pm25 = [loc.sensors[0].sensor_id for loc in dataset.locations]
    window = served[
        served["sensor_id"].isin(pm25) & (served["datetime"] > SINCE) & (served["datetime"] <= END)
    ]
    assert len(hours_requests) == 2  # one page per pm25 sensor
    # The run's summary: fetch counts from the loader block, store counts from the exporter.
    assert "'locations': 2, 'sensors': 2, 'pages': 2" in done.stdout, done.stdout[-3000:]
    assert f"'rows_fetched': {len(window)}" in done.stdout
    store_line = next(line for line in done.stdout.splitlines() if "ingest_openaq store:" in line)
    assert "'inserted':" in store_line
    assert "'locations'" not in store_line
    assert "'requests'" not in store_line
    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT count(*) FROM measurements").fetchone()
        rejected = conn.execute("SELECT count(*) FROM rejected_measurements").fetchone()
        marks = conn.execute(
            "SELECT count(*), max(last_datetime) FROM ingest_watermarks"
        ).fetchone()
    assert stored is not None
    assert rejected is not None
    assert marks is not None
    # Every served hour landed once: stored if plausible, rejected (with a reason) if not.
    assert stored[0] + rejected[0] == len(window)
    assert rejected[0] > 0
    assert marks[0] == 2
    assert pd.Timestamp(marks[1]) == window["datetime"].max()
    loaded = store.load_measurements(database, "pm25")
    assert set(loaded["location_id"]) == {900_001, 900_002}
    assert store.load_locations(database)["is_synthetic"].all()


def test_a_first_ingest_through_the_pipeline_reads_the_archive_then_the_api_tail(
    stack: Stack, database: str, mage_run
) -> None:  # type: ignore[no-untyped-def]
    dataset = synthetic_dataset(seed=5, n_locations=2, end=END, months=1, bad_values=0)
    bucket = f"openaq-archive-{uuid.uuid4().hex[:8]}"
    ep = stack.endpoints
    s3 = boto3.client("s3", endpoint_url=ep.s3_endpoint_url, aws_access_key_id=ep.s3_access_key,
                      aws_secret_access_key=ep.s3_secret_key, region_name=ep.region)  # fmt: skip
    # The second location reports every 5 minutes, like a low-cost sensor.
    objects = archive_objects(dataset, until=END, readings_per_hour={900_002: 12})
    publish_archive(s3, bucket, objects)
    with LocalOpenAQServer(dataset) as server:
        done = mage_run(
            "ingest_openaq",
            runtime_vars={"location_ids": "900001,900002", "parameters": "pm25",
                          "until": END.isoformat()},
            env={
                "AIRCAST_DATABASE_URL": database, "AIRCAST_OPENAQ_BASE_URL": server.url,
                "OPENAQ_API_KEY": DEFAULT_API_KEY, "AIRCAST_OPENAQ_ARCHIVE_BUCKET": bucket,
                "AIRCAST_OPENAQ_ARCHIVE_ENDPOINT_URL": ep.s3_endpoint_url,
                "AIRCAST_INGEST_ARCHIVE_DAYS": "10",
            },
        )  # fmt: skip
        froms = sorted(r.query["datetime_from"] for r in server.requests
                       if r.path.endswith("/hours"))  # fmt: skip
    archive_end = END - pd.Timedelta(hours=ARCHIVE_LAG_HOURS)
    # One tail request per sensor, starting at the archive's newest hour.
    assert [pd.Timestamp(f) for f in froms] == [archive_end, archive_end]
    assert "archive: location 900001:" in done.stdout
    assert "archive: location 900002:" in done.stdout
    assert "'archive_locations': 2" in done.stdout
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT location_id, datetime <= %s, source, min(coverage_count), "
            "max(coverage_count), count(*) FROM measurements GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            (archive_end.to_pydatetime(),),
        ).fetchall()
        marks = conn.execute("SELECT max(last_datetime) FROM ingest_watermarks").fetchone()
    served = dataset.measurements
    start = END - pd.Timedelta(days=10)
    window = served[(served["datetime"] > start) & (served["datetime"] <= END)]
    pm25 = window[window["sensor_id"] % 10 == 1]
    expected = []
    for location in (900_001, 900_002):
        mine = pm25[pm25["sensor_id"] // 10 == location]
        archived = int((mine["datetime"] <= archive_end).sum())
        readings = 12 if location == 900_002 else 1
        expected += [(location, False, "openaq-api", 1, 1, len(mine) - archived),
                     (location, True, "openaq-archive", readings, readings, archived)]  # fmt: skip
    assert rows == sorted(expected, key=lambda r: (r[0], r[1]))
    assert marks is not None
    assert pd.Timestamp(marks[0]) == pm25["datetime"].max()
