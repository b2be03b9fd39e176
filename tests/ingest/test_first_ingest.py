"""A location's first ingest: history from the archive (the stack's real S3 endpoint, objects in
the archive's layout, read unsigned), then only the recent tail from the local OpenAQ server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from aircast import ingest
from aircast.cli import main
from aircast.openaq.archive import ArchiveError, OpenAQArchive
from aircast.schemas import validate_measurements
from aircast.settings import IngestSettings, OpenAQSettings
from aircast_dev.archive import ARCHIVE_LAG_HOURS, archive_objects, publish_archive
from aircast_dev.openaq_server import DEFAULT_API_KEY, LocalOpenAQServer
from aircast_dev.stack import Stack, free_port
from aircast_dev.synthetic import MeasurementSet

from .conftest import END, snapshot

pytestmark = pytest.mark.integration

ALL = ingest.LocationSelection(
    location_ids=(900_001, 900_002), parameters=("pm25", "temperature", "relativehumidity")
)
ARCHIVE_END = END - pd.Timedelta(hours=ARCHIVE_LAG_HOURS)
# 900002 reports like a low-cost sensor (a reading every 5 minutes); 900001 like AirNow.
PER_HOUR = {900_002: 12}
DAYS = 20
KNOBS = IngestSettings(ingest_archive_days=DAYS, ingest_initial_lookback_hours=24 * 10)


def _s3(stack: Stack) -> object:
    ep = stack.endpoints
    return boto3.client("s3", endpoint_url=ep.s3_endpoint_url, aws_access_key_id=ep.s3_access_key,
                        aws_secret_access_key=ep.s3_secret_key, region_name=ep.region)  # fmt: skip


@pytest.fixture
def bucket(stack: Stack, dataset: MeasurementSet) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A fresh public bucket holding the dataset's archive (72 h behind END)."""
    name = f"openaq-archive-{uuid.uuid4().hex[:8]}"
    objects = archive_objects(dataset, until=END, readings_per_hour=PER_HOUR)
    s3 = _s3(stack)
    publish_archive(s3, name, objects)
    yield name, objects
    for key in objects:
        s3.delete_object(Bucket=name, Key=key)  # type: ignore[attr-defined]
    s3.delete_bucket(Bucket=name)  # type: ignore[attr-defined]


def _archive(stack: Stack, bucket: str) -> OpenAQArchive:
    # Unsigned, like the public bucket in production.
    return OpenAQArchive(bucket=bucket, endpoint_url=stack.endpoints.s3_endpoint_url)


def _stored(url: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT sensor_id, datetime, value, coverage_count, source FROM measurements "
            "ORDER BY sensor_id, datetime"
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["sensor_id", "datetime", "value", "coverage", "source"])
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True)
    return frame


def _marks(url: str) -> dict[int, tuple[pd.Timestamp, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT sensor_id, last_datetime, source FROM ingest_watermarks")
        return {int(r[0]): (pd.Timestamp(r[1]), str(r[2])) for r in rows}


def _plausible(hours: pd.DataFrame, dataset: MeasurementSet) -> pd.DataFrame:
    """The hours of ``hours`` that validation keeps (the API path's own rules)."""
    sensors = {s.sensor_id: s for loc in dataset.locations for s in loc.sensors}
    raw = hours.assign(
        location_id=[sensors[i].location_id for i in hours["sensor_id"]],
        parameter=[sensors[i].parameter for i in hours["sensor_id"]],
        unit=[sensors[i].unit for i in hours["sensor_id"]],
        source="truth",
    )
    clean = validate_measurements(raw).clean
    return clean[["sensor_id", "datetime", "value"]]


def _hours_requests(server: LocalOpenAQServer) -> dict[int, list[pd.Timestamp]]:
    out: dict[int, list[pd.Timestamp]] = {}
    for r in server.requests:
        if r.path.endswith("/hours"):
            sensor = int(r.path.split("/")[-2])
            out.setdefault(sensor, []).append(pd.Timestamp(r.query["datetime_from"]))
    return out


def test_first_ingest_takes_history_from_the_archive_and_only_the_tail_from_the_api(
    stack: Stack, db: str, server: LocalOpenAQServer, settings: OpenAQSettings,
    dataset: MeasurementSet, bucket: tuple[str, dict[str, bytes]],
) -> None:  # fmt: skip
    name, objects = bucket
    archive = _archive(stack, name)
    summary = ingest.ingest_api(db, ALL, until=END, settings=settings, ingest_settings=KNOBS,
                                archive=archive)  # fmt: skip
    start = END - pd.Timedelta(days=DAYS)
    # The API was asked only for what follows the archive's newest hour, once per sensor.
    requested = _hours_requests(server)
    sensors = [s.sensor_id for loc in dataset.locations for s in loc.sensors]
    truth = dataset.measurements
    assert sorted(requested) == sorted(sensors)
    for sensor in sensors:
        archived = truth[(truth["sensor_id"] == sensor) & (truth["datetime"] <= ARCHIVE_END)
                         & (truth["datetime"] > start)]  # fmt: skip
        assert requested[sensor] == [archived["datetime"].max()]
    assert summary.archive_locations == 2
    assert summary.archive_corrupt_files == []
    # Only the files of the window were read (and the local day before it, which can hold
    # its first UTC hours).
    first_day = f"{start - pd.Timedelta(days=1):%Y%m%d}"
    in_window = [k for k in objects if k.rsplit("-", 1)[1][:8] >= first_day]
    assert summary.archive_files == len(in_window)

    stored = _stored(db)
    window = truth[(truth["datetime"] > start) & (truth["datetime"] <= END)]
    plausible = _plausible(window, dataset)
    merged = plausible.merge(stored, on=["sensor_id", "datetime"], how="left", indicator=True)
    # Every plausible hour of the window is stored once, with the value OpenAQ would report.
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].to_string()
    assert len(stored) == len(plausible)
    assert (merged["value_x"] - merged["value_y"]).abs().max() < 1e-6
    # Sources and counts: archive hours up to its newest hour, then API; 12 readings an hour
    # for the low-cost location.
    from_archive = merged["datetime"] <= ARCHIVE_END
    assert set(merged.loc[from_archive, "source"]) == {"openaq-archive"}
    assert set(merged.loc[~from_archive, "source"]) == {"openaq-api"}
    low_cost = merged["sensor_id"] // 10 == 900_002
    assert set(merged.loc[from_archive & low_cost, "coverage"]) == {12}
    assert set(merged.loc[from_archive & ~low_cost, "coverage"]) == {1}
    # Every watermark is at the newest hour the API served.
    for sensor, (mark, source) in _marks(db).items():
        assert mark == truth.loc[truth["sensor_id"] == sensor, "datetime"].max()
        assert source == "openaq-api"
    with psycopg.connect(db) as conn:
        query = "SELECT reason, count(*) FROM rejected_measurements GROUP BY reason"
        reasons = dict(conn.execute(query).fetchall())
    assert set(reasons) <= {"placeholder_value", "negative_value", "out_of_range"}

    # Re-running is incremental: no archive read, nothing fetched, nothing changed.
    before, reads = snapshot(db), archive.requests
    server.reset_log()
    again = ingest.ingest_api(db, ALL, until=END, settings=settings, ingest_settings=KNOBS,
                              archive=archive)  # fmt: skip
    assert snapshot(db) == before
    assert archive.requests == reads
    assert (again.inserted, again.updated, again.rejected, again.archive_locations) == (0, 0, 0, 0)
    assert _hours_requests(server) == {}

    # Re-running a first ingest itself (watermarks lost) rewrites nothing and adds no rejection.
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM ingest_watermarks")
    third = ingest.ingest_api(db, ALL, until=END, settings=settings, ingest_settings=KNOBS,
                              archive=archive)  # fmt: skip
    assert (third.inserted, third.updated, third.rejected) == (0, 0, 0)
    after = snapshot(db)
    assert after["measurements"] == before["measurements"]
    assert after["rejected_measurements"] == before["rejected_measurements"]


def test_missing_days_are_normal_corrupt_files_are_skipped_and_counted(
    stack: Stack, db: str, server: LocalOpenAQServer, dataset: MeasurementSet,
    bucket: tuple[str, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    name, objects = bucket
    s3 = _s3(stack)
    keys = sorted(k for k in objects if "locationid=900001/" in k)
    missing, corrupt, truncated = keys[-8], keys[-6], keys[-5]
    s3.delete_object(Bucket=name, Key=missing)  # type: ignore[attr-defined]
    s3.put_object(Bucket=name, Key=corrupt, Body=b"\x1f\x8bnot gzip at all")  # type: ignore[attr-defined]
    s3.put_object(Bucket=name, Key=truncated, Body=objects[truncated][:-40])  # type: ignore[attr-defined]
    # Location 900002 has nothing in this archive: its first ingest is the API lookback.
    for key in (k for k in objects if "locationid=900002/" in k):
        s3.delete_object(Bucket=name, Key=key)  # type: ignore[attr-defined]
    for var, value in {
        "AIRCAST_DATABASE_URL": db, "AIRCAST_OPENAQ_BASE_URL": server.url,
        "OPENAQ_API_KEY": DEFAULT_API_KEY, "AIRCAST_OPENAQ_ARCHIVE_BUCKET": name,
        "AIRCAST_OPENAQ_ARCHIVE_ENDPOINT_URL": stack.endpoints.s3_endpoint_url,
        "AIRCAST_INGEST_ARCHIVE_DAYS": str(DAYS), "AIRCAST_INGEST_INITIAL_LOOKBACK_HOURS": "48",
        "AIRCAST_OPENAQ_REQUESTS_PER_MINUTE": "10000",
    }.items():  # fmt: skip
        monkeypatch.setenv(var, value)
    # The server's clock is END's: "the last full hour" must be END for this dataset.
    monkeypatch.setattr(ingest, "current_hour", lambda: END)
    result = CliRunner().invoke(main, ["ingest", "--locations", "900001,900002"])
    assert result.exit_code == 0, result.output
    # A progress line per location, and the corrupt files named and counted.
    assert "archive: location 900001:" in result.output
    assert "archive: location 900002: 0 day file(s)" in result.output
    assert "2 corrupt file(s) skipped" in result.output
    assert corrupt in result.output.replace("\n", "")
    stored = _stored(db)
    location_1 = stored[stored["sensor_id"] // 10 == 900_001]
    # The skipped days are simply absent (the API was not asked for them); the others are in.
    local_days = location_1["datetime"].dt.tz_convert("Europe/Zurich").dt.strftime("%Y%m%d")
    days = set(local_days)
    for key in (missing, corrupt):
        assert key.rsplit("-", 1)[1][:8] not in days
    assert keys[-7].rsplit("-", 1)[1][:8] in days
    requested = _hours_requests(server)
    for sensor in (9_000_021, 9_000_022, 9_000_023):
        assert requested[sensor] == [END - pd.Timedelta(hours=48)]
    assert stored.loc[stored["sensor_id"] // 10 == 900_002, "source"].eq("openaq-api").all()


def test_an_unreachable_archive_fails_the_first_ingest_with_a_clear_message(
    db: str, server: LocalOpenAQServer, settings: OpenAQSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    archive = OpenAQArchive(
        OpenAQSettings(openaq_archive_endpoint_url=dead, openaq_max_retries=0,
                       openaq_timeout=2.0),
    )  # fmt: skip
    with pytest.raises(ArchiveError, match="AIRCAST_INGEST_ARCHIVE_DAYS=0"):
        ingest.ingest_api(db, ALL, until=END, settings=settings, ingest_settings=KNOBS,
                          archive=archive)  # fmt: skip
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM measurements").fetchone() == (0,)
    # With the archive off, the same first ingest is the API lookback, as before.
    off = IngestSettings(ingest_archive_days=0, ingest_initial_lookback_hours=24)
    summary = ingest.ingest_api(db, ALL, until=END, settings=settings, ingest_settings=off,
                                archive=archive)  # fmt: skip
    assert summary.archive_locations == 0
    assert summary.inserted > 100
    # The CLI says it in one line, naming the fix.
    for var, value in {
        "AIRCAST_DATABASE_URL": db, "AIRCAST_OPENAQ_BASE_URL": server.url,
        "OPENAQ_API_KEY": DEFAULT_API_KEY, "AIRCAST_OPENAQ_ARCHIVE_ENDPOINT_URL": dead,
        "AIRCAST_OPENAQ_MAX_RETRIES": "0", "AIRCAST_OPENAQ_TIMEOUT": "2",
    }.items():  # fmt: skip
        monkeypatch.setenv(var, value)
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM ingest_watermarks")
    result = CliRunner().invoke(main, ["ingest", "--locations", "900001"])
    assert result.exit_code == 2
    assert "cannot list the OpenAQ archive" in result.output
    assert "AIRCAST_INGEST_ARCHIVE_DAYS=0" in result.output
