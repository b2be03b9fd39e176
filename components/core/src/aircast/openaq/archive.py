"""OpenAQ's public S3 archive: per-location daily ``csv.gz`` files, for backfills.

Layout: ``records/csv.gz/locationid={id}/year={YYYY}/month={MM}/location-{id}-{YYYYMMDD}.csv.gz``
with columns ``location_id,sensors_id,location,datetime,lat,lon,parameter,units,value`` and a
local ``datetime`` with an offset. The bucket is public: requests are unsigned, need no key and
have no rate limit.
"""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from typing import Any

import pandas as pd

from aircast.openaq.models import PARAMETER_IDS, Location, Sensor
from aircast.schemas import RAW_COLUMNS, RawMeasurements, empty_raw
from aircast.settings import OpenAQSettings

SOURCE = "openaq-archive"
ARCHIVE_COLUMNS = ("location_id", "sensors_id", "location", "datetime", "lat", "lon",
                   "parameter", "units", "value")  # fmt: skip


def archive_key(location_id: int, day: pd.Timestamp) -> str:
    """Object key of one location-day file."""
    return (
        f"records/csv.gz/locationid={location_id}/year={day.year:04d}/month={day.month:02d}/"
        f"location-{location_id}-{day.strftime('%Y%m%d')}.csv.gz"
    )


def _utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class OpenAQArchive:
    """Reads hourly series of locations from the archive bucket (unsigned by default)."""

    def __init__(
        self,
        settings: OpenAQSettings | None = None,
        *,
        s3_client: Any | None = None,
        bucket: str | None = None,
        endpoint_url: str | None = None,
        unsigned: bool = True,
    ) -> None:
        self.settings = settings or OpenAQSettings()
        self.bucket = bucket or self.settings.openaq_archive_bucket
        if s3_client is None:
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config

            config = Config(signature_version=UNSIGNED) if unsigned else None
            s3_client = boto3.client(
                "s3",
                endpoint_url=endpoint_url or self.settings.openaq_archive_endpoint_url,
                config=config,
                region_name="us-east-1",
            )
        self.s3 = s3_client
        self.requests = 0

    def keys(self, location_id: int, since: pd.Timestamp, until: pd.Timestamp) -> list[str]:
        """Keys of the files that may hold hours in ``(since, until]``."""
        out: list[str] = []
        # Local dates can straddle UTC ones: look one day either side.
        first_day = (since - pd.Timedelta(days=1)).normalize()
        last_day = (until + pd.Timedelta(days=1)).normalize()
        months = pd.period_range(first_day.tz_localize(None), last_day.tz_localize(None), freq="M")
        wanted_min = archive_key(location_id, first_day)
        wanted_max = archive_key(location_id, last_day)
        paginator = self.s3.get_paginator("list_objects_v2")
        for month in months:
            prefix = (
                f"records/csv.gz/locationid={location_id}/year={month.year:04d}/"
                f"month={month.month:02d}/"
            )
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                self.requests += 1
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    if wanted_min <= key <= wanted_max:
                        out.append(key)
        return sorted(out)

    def read_file(self, key: str) -> pd.DataFrame:
        """One archive file as it is (archive columns)."""
        self.requests += 1
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return pd.read_csv(io.BytesIO(body), dtype={"parameter": str, "units": str})

    def fetch(
        self,
        location_id: int,
        since: datetime | str | pd.Timestamp,
        until: datetime | str | pd.Timestamp,
    ) -> tuple[Location | None, pd.DataFrame]:
        """The location (as far as the archive describes it) and its raw hourly frame."""
        start, end = _utc(since), _utc(until)
        files = [self.read_file(k) for k in self.keys(location_id, start, end)]
        files = [f for f in files if not f.empty]
        if not files:
            return None, empty_raw()
        records = pd.concat(files, ignore_index=True)
        return archive_location(records), archive_frame(records, start, end)


def archive_location(records: pd.DataFrame) -> Location:
    """A :class:`Location` from archive rows (the archive carries no licence or timezone)."""
    first = records.iloc[0]
    location_id = int(str(first["location_id"]))
    sensors = (
        records[["sensors_id", "parameter", "units"]]
        .drop_duplicates("sensors_id")
        .itertuples(index=False)
    )
    return Location(
        location_id=location_id,
        name=str(first.get("location") or f"location {location_id}"),
        timezone="UTC",
        latitude=float(first["lat"]) if pd.notna(first.get("lat")) else None,
        longitude=float(first["lon"]) if pd.notna(first.get("lon")) else None,
        provider="OpenAQ archive",
        attribution="OpenAQ (openaq-data-archive); see the location's licence on openaq.org",
        attribution_url=f"https://explore.openaq.org/locations/{location_id}",
        sensors=tuple(
            Sensor(
                sensor_id=int(str(s.sensors_id)),
                location_id=location_id,
                parameter=str(s.parameter).lower(),
                unit=str(s.units),
                parameter_id=PARAMETER_IDS.get(str(s.parameter).lower()),
            )
            for s in sensors
        ),
    )


def archive_frame(
    records: pd.DataFrame, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Archive rows → raw hourly frame: hour-ending mean per sensor, ``coverage_count`` = rows.

    Rows whose datetime or value cannot be read are kept as single rows (with nulls) so
    validation rejects them with a reason.
    """
    frame = pd.DataFrame(
        {
            "location_id": records["location_id"],
            "sensor_id": records["sensors_id"],
            "parameter": records["parameter"].astype(str).str.lower(),
            "datetime": pd.to_datetime(
                records["datetime"], utc=True, errors="coerce", format="ISO8601"
            ).dt.ceil("h"),
            "value": pd.to_numeric(records["value"], errors="coerce"),
            "unit": records["units"],
        }
    )
    if since is not None:
        frame = frame[frame["datetime"].isna() | (frame["datetime"] > since)]
    if until is not None:
        frame = frame[frame["datetime"].isna() | (frame["datetime"] <= until)]
    broken = frame[frame["datetime"].isna() | frame["value"].isna()]
    good = frame.drop(broken.index)
    hourly = (
        good.groupby(["location_id", "sensor_id", "parameter", "unit", "datetime"], sort=True)
        .agg(value=("value", "mean"), coverage_count=("value", "size"))
        .reset_index()
    )
    broken = broken.assign(coverage_count=pd.Series([pd.NA] * len(broken), index=broken.index))
    out = pd.concat([hourly, broken], ignore_index=True)
    out["source"] = SOURCE
    validated: pd.DataFrame = RawMeasurements.validate(out[list(RAW_COLUMNS)])
    return validated
