"""A local copy of OpenAQ's public S3 archive, in its real layout, for tests and the demo.

:func:`archive_objects` writes a :class:`MeasurementSet` as the archive does: one gzip CSV per
location and *local* day at ``records/csv.gz/locationid={id}/year={YYYY}/month={MM}/
location-{id}-{YYYYMMDD}.csv.gz``, columns ``location_id,sensors_id,location,datetime,lat,lon,
parameter,units,value`` with quoted text fields, ``datetime`` local with its offset, and the
archive's lag (files stop some hours before "now"). A location can report like a low-cost sensor
(several readings per hour whose mean is the hourly value) instead of one reading per hour.
:func:`publish_archive` puts the objects in a bucket of the stack's S3 endpoint and makes it
publicly readable, so aircast reads it with unsigned requests exactly as it reads the real one.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from aircast.openaq.archive import archive_key
from aircast.schemas import PHYSICAL_RANGE, PLACEHOLDERS
from aircast_dev.synthetic import MeasurementSet

ARCHIVE_LAG_HOURS = 72


def _readings(hourly: pd.DataFrame, parameter: str, per_hour: int) -> pd.DataFrame:
    """Spread each hourly value over ``per_hour`` readings ending at the hour, same mean."""
    if per_hour <= 1:
        return hourly[["datetime", "value"]]
    step_ns = int(3600 * 1e9 / per_hour)
    # Symmetric offsets sum to zero, so the readings average back to the hourly value.
    offsets = (np.arange(per_hour) - (per_hour - 1) / 2) * 0.2
    # Values a validator must reject stay single readings, like a logger's sentinel.
    low, high = PHYSICAL_RANGE.get(parameter, (-np.inf, np.inf))
    value = hourly["value"]
    bad = (value < low) | (value > high) | value.isin(list(PLACEHOLDERS))
    good = hourly.loc[~bad]
    ends = good["datetime"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    times = np.repeat(ends.to_numpy(), per_hour) - np.tile(
        (np.arange(per_hour - 1, -1, -1) * step_ns).astype("timedelta64[ns]"), len(good)
    )
    values = good["value"].to_numpy()[:, None] + offsets[None, :]
    values = values.round(6)
    # Where the spread would leave the range or hit a sentinel, the readings are all equal.
    off = (values < low) | (values > high) | np.isin(values, list(PLACEHOLDERS))
    flat = np.repeat(good["value"].to_numpy()[:, None], per_hour, axis=1)
    values = np.where(off.any(axis=1)[:, None], flat, values).ravel()
    spread = pd.DataFrame({"datetime": pd.to_datetime(times, utc=True), "value": values})
    return pd.concat([spread, hourly.loc[bad, ["datetime", "value"]]], ignore_index=True)


def _local_iso(utc: pd.Series, local: pd.Series) -> pd.Series:
    """``2025-02-01T02:00:00+01:00`` for each time (vectorised ``isoformat``)."""
    minutes = (local.dt.tz_localize(None) - utc.dt.tz_localize(None)).dt.total_seconds() // 60
    sign = np.where(minutes < 0, "-", "+")
    hh = (minutes.abs() // 60).astype(int).astype(str).str.zfill(2)
    mm = (minutes.abs() % 60).astype(int).astype(str).str.zfill(2)
    stamp: pd.Series = local.dt.strftime("%Y-%m-%dT%H:%M:%S") + sign + hh + ":" + mm
    return stamp


def archive_objects(
    dataset: MeasurementSet,
    *,
    until: pd.Timestamp | str | None = None,
    lag_hours: int = ARCHIVE_LAG_HOURS,
    readings_per_hour: Mapping[int, int] | None = None,
) -> dict[str, bytes]:
    """The archive's objects (key → gzip CSV bytes) for ``dataset``'s hours up to
    ``until - lag_hours`` (``until`` defaults to the dataset's newest hour).

    ``readings_per_hour`` maps a location id to its readings per hour (default 1: one reading
    stamped at the hour's end, like AirNow).
    """
    data = dataset.measurements
    end = pd.Timestamp(until) if until is not None else data["datetime"].max()
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    cutoff = end - pd.Timedelta(hours=lag_hours)
    per_hour = dict(readings_per_hour or {})
    objects: dict[str, bytes] = {}
    for location in dataset.locations:
        parts = []
        for sensor in location.sensors:
            hourly = data.loc[
                (data["sensor_id"] == sensor.sensor_id) & (data["datetime"] <= cutoff)
            ]
            readings = _readings(hourly, sensor.parameter, per_hour.get(location.location_id, 1))
            parts.append(
                readings.assign(
                    sensor_id=sensor.sensor_id, parameter=sensor.parameter, unit=sensor.unit
                )
            )
        if not parts:
            continue
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.loc[frame["datetime"] <= cutoff]
        local = frame["datetime"].dt.tz_convert(location.timezone)
        stamp = _local_iso(frame["datetime"], local)
        frame = frame.assign(local=local, day=local.dt.strftime("%Y-%m-%d"), stamp=stamp)
        frame = frame.sort_values(["day", "local"], kind="stable")
        for day, rows in frame.groupby("day", sort=True):
            out = pd.DataFrame(
                {
                    "location_id": location.location_id,
                    "sensors_id": rows["sensor_id"].to_numpy(),
                    "location": location.name,
                    "datetime": rows["stamp"].to_numpy(),
                    "lat": location.latitude,
                    "lon": location.longitude,
                    "parameter": rows["parameter"].to_numpy(),
                    "units": rows["unit"].to_numpy(),
                    "value": rows["value"].round(6).to_numpy(),
                }
            )
            body = out.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)
            key = archive_key(location.location_id, pd.Timestamp(str(day)))
            objects[key] = gzip.compress(body.encode("utf-8"), mtime=0)
    return objects


def public_read_policy(bucket: str) -> str:
    """A bucket policy that lets anyone list and read, like ``openaq-data-archive``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


def publish_archive(s3: Any, bucket: str, objects: Mapping[str, bytes]) -> int:
    """Create ``bucket`` (publicly readable) if needed and upload ``objects``; returns how many."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket))
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return len(objects)
