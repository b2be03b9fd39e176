"""Ingestion end to end: local OpenAQ server → validation → real PostgreSQL."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import boto3
import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from aircast import ingest, store
from aircast.cli import main
from aircast.openaq.archive import OpenAQArchive, archive_key
from aircast.openaq.client import OpenAQClient, OpenAQError
from aircast.openaq.models import Location, Sensor
from aircast.schemas import validate_measurements
from aircast.settings import OpenAQSettings
from aircast_dev.openaq_server import DEFAULT_API_KEY, Fault, LocalOpenAQServer
from aircast_dev.stack import Stack
from aircast_dev.synthetic import MeasurementSet

from .conftest import END, SINCE, client_settings, new_database, snapshot
from .test_validation import CRAFTED, SENSOR

pytestmark = pytest.mark.integration

PM25 = ingest.LocationSelection(location_ids=(900_001, 900_002), parameters=("pm25",))


def _measurements(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT sensor_id, datetime, value, unit, coverage_count FROM measurements "
            "ORDER BY sensor_id, datetime"
        ).fetchall()


def test_ingesting_the_same_window_twice_leaves_identical_tables(
    db: str, settings: OpenAQSettings, dataset: MeasurementSet
) -> None:
    first = ingest.ingest_api(db, PM25, since=SINCE, until=END, settings=settings)
    before = snapshot(db)
    second = ingest.ingest_api(db, PM25, since=SINCE, until=END, settings=settings)
    assert snapshot(db) == before
    assert first.inserted > 900
    assert first.rejected > 0
    assert (second.inserted, second.updated, second.rejected) == (0, 0, 0)
    assert second.rows_fetched == first.rows_fetched
    # Every fetched row is either stored or rejected, nothing silently dropped.
    stored = len(before["measurements"]) + len(before["rejected_measurements"])
    assert stored == first.rows_fetched
    # Attribution travels with each location.
    locations = store.load_locations(db)
    assert locations["is_synthetic"].all()
    assert locations["attribution"].str.contains("Synthetic").all()


def test_a_run_killed_mid_way_loses_and_duplicates_nothing(
    stack: Stack, db: str, dataset: MeasurementSet
) -> None:
    settings_kwargs = {"openaq_page_limit": 100, "openaq_max_retries": 1}
    with LocalOpenAQServer(dataset) as server:
        reference = new_database(stack)
        try:
            ingest.ingest_api(reference, PM25, since=SINCE, until=END,
                              settings=client_settings(server, **settings_kwargs))  # fmt: skip
            # The second sensor's connection drops on page 3, every time: the run dies there.
            second_sensor = dataset.locations[1].sensors[0].sensor_id
            server.inject(Fault("drop", path=f"/sensors/{second_sensor}/hours", page=3, times=None))
            settings = client_settings(server, **settings_kwargs)
            with pytest.raises(OpenAQError, match="failed after 2 attempts"):
                # One commit per page, so the dying sensor has committed pages 1 and 2.
                ingest.ingest_api(
                    db, PM25, since=SINCE, until=END, settings=settings, batch_rows=100
                )
            partial = _measurements(db)
            # What was committed is exactly a prefix of the truth, and the watermark never runs
            # ahead of the committed data.
            truth = _measurements(reference)
            assert 0 < len(partial) < len(truth)
            assert set(partial) <= set(truth)
            with psycopg.connect(db) as conn:
                behind = conn.execute(
                    """
                    SELECT count(*) FROM ingest_watermarks w
                    WHERE w.last_datetime > (
                        SELECT greatest(
                            (SELECT max(datetime) FROM measurements m
                             WHERE m.sensor_id = w.sensor_id),
                            (SELECT max(datetime) FROM rejected_measurements r
                             WHERE r.sensor_id = w.sensor_id)))
                    """
                ).fetchone()
                marks = dict(conn.execute("SELECT sensor_id, last_datetime FROM ingest_watermarks"))
            assert behind == (0,)
            assert marks[second_sensor] < END
            server.clear_faults()
            # The re-run is incremental (no --since): it resumes from each watermark.
            rerun = ingest.ingest_api(db, PM25, until=END, settings=settings)
            assert rerun.updated == 0
            assert _measurements(db) == truth
            with psycopg.connect(db) as conn, psycopg.connect(reference) as ref:
                q = "SELECT sensor_id, datetime, reason FROM rejected_measurements ORDER BY 1, 2"
                assert conn.execute(q).fetchall() == ref.execute(q).fetchall()
        finally:
            stack.drop_database(reference.rsplit("/", 1)[-1])


def test_a_backfill_of_200_requests_stays_within_60_per_minute(
    db: str, dataset: MeasurementSet
) -> None:
    # The server's "minute" lasts one second; budget 60 per window, like the free tier.
    with LocalOpenAQServer(dataset, rate_limit=60, window_seconds=1.0) as server:
        settings = client_settings(
            server,
            openaq_page_limit=14,
            openaq_requests_per_minute=60,
            openaq_rate_window_seconds=1.0,
        )
        selection = ingest.LocationSelection(
            location_ids=(900_001, 900_002), parameters=("pm25", "temperature", "relativehumidity")
        )
        summary = ingest.ingest_api(db, selection, since=SINCE, until=END, settings=settings)
        log = list(server.requests)
    assert len(log) >= 200
    assert summary.requests == len(log)
    assert [r for r in log if r.status == 429] == []
    assert summary.rate_limited == 0
    assert max(server.requests_per_window().values()) <= 60
    assert len(server.requests_per_window()) >= 4  # it really had to spread over windows


def test_every_bad_row_of_a_crafted_payload_lands_in_rejected_measurements(db: str) -> None:
    # Serve the crafted /hours items from a stub transport shaped like the real API.
    import httpx

    items = [item for item, _ in CRAFTED]
    location = {
        "id": SENSOR.location_id, "name": "Crafted", "timezone": "UTC",
        "coordinates": {"latitude": 1.0, "longitude": 2.0},
        "sensors": [{"id": SENSOR.sensor_id, "name": "pm25 µg/m³",
                     "parameter": {"id": 2, "name": "pm25", "units": "µg/m³"}}],
        "licenses": [{"name": "CC BY 4.0", "attribution": {"name": "Crafter", "url": None}}],
        "provider": {"id": 1, "name": "Test"}, "owner": {"id": 1, "name": "Owner"},
    }  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        results = items if request.url.path.endswith("/hours") else [location]
        meta = {"name": "openaq-api", "page": 1, "limit": 1000, "found": len(results)}
        return httpx.Response(200, json={"meta": meta, "results": results})

    client = OpenAQClient(OpenAQSettings(openaq_base_url="http://openaq.test/v3"),
                          api_key="k", transport=httpx.MockTransport(answer))  # fmt: skip
    selection = ingest.LocationSelection(location_ids=(SENSOR.location_id,))
    summary = ingest.ingest_api(db, selection, since="2025-01-01", until="2025-01-02",
                                client=client)  # fmt: skip
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT reason, source, raw FROM rejected_measurements ORDER BY id"
        ).fetchall()
        stored = conn.execute("SELECT count(*) FROM measurements").fetchone()
    expected = sorted(reason for _, reason in CRAFTED if reason)
    assert sorted(r[0] for r in rows) == expected
    assert {r[1] for r in rows} == {"openaq-api"}
    assert all(r[2]["sensor_id"] == SENSOR.sensor_id for r in rows)  # the row itself is kept
    assert stored == (len(CRAFTED) - len(expected),)
    assert summary.rejected == len(expected)


def _archive_csv(frame: pd.DataFrame, location: Location, sensor: Sensor) -> bytes:
    local = frame["datetime"].dt.tz_convert(location.timezone)
    out = pd.DataFrame(
        {
            "location_id": location.location_id,
            "sensors_id": sensor.sensor_id,
            "location": location.name,
            "datetime": [t.isoformat() for t in local],
            "lat": location.latitude,
            "lon": location.longitude,
            "parameter": sensor.parameter,
            "units": sensor.unit,
            "value": frame["value"],
        }
    )
    return gzip.compress(out.to_csv(index=False).encode())


def test_api_archive_and_csv_export_produce_the_same_validated_frame(
    stack: Stack, server: LocalOpenAQServer, settings: OpenAQSettings, dataset: MeasurementSet,
    tmp_path: Path,
) -> None:  # fmt: skip
    location = dataset.locations[0]
    sensor = location.sensors[0]
    since, until = END - pd.Timedelta(days=3), END
    with OpenAQClient(settings) as client:
        api = pd.concat(list(client.hours(sensor, since, until)), ignore_index=True)
    # The same hours as archive files (one per local day) in a bucket of the stack's S3.
    bucket = f"openaq-archive-{uuid.uuid4().hex[:8]}"
    ep = stack.endpoints
    s3 = boto3.client("s3", endpoint_url=ep.s3_endpoint_url, aws_access_key_id=ep.s3_access_key,
                      aws_secret_access_key=ep.s3_secret_key, region_name=ep.region)  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    # Public read, like openaq-data-archive: the reader below sends unsigned requests.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*",
                       "Action": ["s3:GetObject", "s3:ListBucket"],
                       "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
    }))  # fmt: skip
    local_day = api["datetime"].dt.tz_convert(location.timezone).dt.normalize()
    for day, part in api.groupby(local_day):
        key = archive_key(location.location_id, pd.Timestamp(day))
        s3.put_object(Bucket=bucket, Key=key, Body=_archive_csv(part, location, sensor))
    archive = OpenAQArchive(s3_client=s3, bucket=bucket)
    _, archived = archive.fetch(location.location_id, since, until)
    # ...and as an Explorer CSV export.
    export = pd.DataFrame(
        {
            "location_id": location.location_id, "location_name": location.name,
            "parameter": sensor.parameter, "value": api["value"], "unit": sensor.unit,
            "datetimeUtc": api["datetime"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "datetimeLocal": "", "timezone": location.timezone, "latitude": location.latitude,
            "longitude": location.longitude, "country_iso": location.country, "isMobile": False,
            "isMonitor": True, "owner_name": location.owner, "provider": location.provider,
        }
    )  # fmt: skip
    from aircast.openaq.csv_export import export_frame

    exported = export_frame(export, {(location.location_id, "pm25"): sensor.sensor_id})
    columns = ["location_id", "sensor_id", "parameter", "datetime", "value", "unit"]
    frames = [validate_measurements(f).clean[columns] for f in (api, archived, exported)]
    assert len(frames[0]) > 60
    pd.testing.assert_frame_equal(frames[1], frames[0])
    pd.testing.assert_frame_equal(frames[2], frames[0])

    # The archive path end to end, unsigned like the public bucket.
    url = new_database(stack)
    try:
        unsigned = OpenAQArchive(bucket=bucket, endpoint_url=ep.s3_endpoint_url)
        summary = ingest.ingest_archive(url, [location.location_id], since=since, until=until,
                                        parameters=["pm25"], archive=unsigned)  # fmt: skip
        assert summary.inserted + summary.rejected == len(api)
        stored = store.load_measurements(url, "pm25")
        assert len(stored) == len(frames[0])
    finally:
        stack.drop_database(url.rsplit("/", 1)[-1])


def test_cli_ingest_from_csv_and_backfill(
    db: str, server: LocalOpenAQServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRCAST_DATABASE_URL", db)
    monkeypatch.setenv("AIRCAST_OPENAQ_BASE_URL", server.url)
    monkeypatch.setenv("OPENAQ_API_KEY", DEFAULT_API_KEY)
    export = tmp_path / "openaq_location_5.csv"
    export.write_text(
        "location_id,location_name,parameter,value,unit,datetimeUtc,datetimeLocal,timezone,"
        "latitude,longitude,country_iso,isMobile,isMonitor,owner_name,provider\n"
        "5,Exported,pm25,11.5,µg/m³,2025-01-01T01:00:00Z,2025-01-01T02:00:00+01:00,"
        "Europe/Paris,48.1,2.1,FR,false,true,Owner,Provider\n"
        "5,Exported,pm25,-999,µg/m³,2025-01-01T02:00:00Z,2025-01-01T03:00:00+01:00,"
        "Europe/Paris,48.1,2.1,FR,false,true,Owner,Provider\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", "--from-csv", str(export)])
    assert result.exit_code == 0, result.output
    assert "inserted" in result.output
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT value FROM measurements").fetchall() == [(11.5,)]
        assert conn.execute("SELECT reason FROM rejected_measurements").fetchall() == [
            ("placeholder_value",)
        ]
    result = runner.invoke(
        main,
        ["backfill", "--locations", "900001", "--parameters", "pm25",
         "--since", "2025-02-27T00:00Z", "--until", "2025-03-01T00:00Z"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rows fetched" in result.output
    frame = store.load_measurements(db, "pm25", location_ids=[900_001])
    assert frame["datetime"].min() > pd.Timestamp("2025-02-27T00:00Z")
    assert frame["datetime"].max() == pd.Timestamp("2025-03-01T00:00Z")
    bad = runner.invoke(main, ["backfill", "--since", "yesterday-ish", "--locations", "1"])
    assert bad.exit_code == 2
    assert "ISO 8601" in bad.output
