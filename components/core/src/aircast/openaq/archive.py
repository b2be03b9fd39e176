"""OpenAQ's public S3 archive: per-location daily ``csv.gz`` files, for backfills.

Layout: ``records/csv.gz/locationid={id}/year={YYYY}/month={MM}/location-{id}-{YYYYMMDD}.csv.gz``
with columns ``location_id,sensors_id,location,datetime,lat,lon,parameter,units,value`` and a
local ``datetime`` with an offset. The bucket is public: requests are unsigned, need no key and
have no rate limit.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from aircast.hourly import hour_ending_means
from aircast.openaq.models import PARAMETER_IDS, Location, Sensor
from aircast.schemas import RAW_COLUMNS, RawMeasurements, empty_raw
from aircast.settings import OpenAQSettings

SOURCE = "openaq-archive"
ARCHIVE_COLUMNS = ("location_id", "sensors_id", "location", "datetime", "lat", "lon",
                   "parameter", "units", "value")  # fmt: skip
log = logging.getLogger(__name__)


class ArchiveError(RuntimeError):
    """The archive cannot be read at all (endpoint, bucket or network); the message says what to
    check. A missing day file is not an error (no data that day), nor is a corrupt one (it is
    skipped and counted)."""


class CorruptArchiveFileError(ValueError):
    """One archive file cannot be read as the archive's gzip CSV."""


@dataclass
class ArchiveRead:
    """What reading one location's window from the archive found.

    ``raw`` is a raw frame of hour-ending means (see :mod:`aircast.hourly`); ``readings`` is
    how many rows the files held for the wanted sensors; ``corrupt`` lists the keys skipped.
    """

    location_id: int
    location: Location | None
    raw: pd.DataFrame
    files: int = 0
    readings: int = 0
    corrupt: list[str] = field(default_factory=list)

    def newest(self) -> dict[int, pd.Timestamp]:
        """Newest hour per sensor (rejected rows included: they are committed too)."""
        dated = self.raw.dropna(subset=["datetime"])
        if dated.empty:
            return {}
        newest = dated.groupby("sensor_id")["datetime"].max()
        return {int(str(k)): pd.Timestamp(v) for k, v in newest.items()}


def archive_key(location_id: int, day: pd.Timestamp) -> str:
    """Object key of one location-day file."""
    return (
        f"records/csv.gz/locationid={location_id}/year={day.year:04d}/month={day.month:02d}/"
        f"location-{location_id}-{day.strftime('%Y%m%d')}.csv.gz"
    )


def _utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def archive_client(settings: OpenAQSettings | None = None, *, unsigned: bool = True) -> Any:
    """A boto3 S3 client for the archive: unsigned, at ``AIRCAST_OPENAQ_ARCHIVE_ENDPOINT_URL``
    when set and at AWS otherwise.

    The archive is OpenAQ's bucket, not the deployment's: an ``AWS_ENDPOINT_URL_S3`` meant for
    the artifact store (the local stack exports one) must not redirect it.
    """
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    s = settings or OpenAQSettings()
    config = Config(
        signature_version=UNSIGNED if unsigned else None,
        ignore_configured_endpoint_urls=s.openaq_archive_endpoint_url is None,
        connect_timeout=s.openaq_timeout,
        read_timeout=s.openaq_timeout,
        retries={"max_attempts": s.openaq_max_retries + 1, "mode": "standard"},
        max_pool_connections=max(10, s.openaq_archive_workers),
    )
    return boto3.client(
        "s3", endpoint_url=s.openaq_archive_endpoint_url, config=config, region_name="us-east-1"
    )


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
        workers: int | None = None,
    ) -> None:
        self.settings = settings or OpenAQSettings()
        if endpoint_url is not None:
            self.settings = self.settings.model_copy(
                update={"openaq_archive_endpoint_url": endpoint_url}
            )
        self.bucket = bucket or self.settings.openaq_archive_bucket
        self.s3 = s3_client or archive_client(self.settings, unsigned=unsigned)
        self.workers = workers or self.settings.openaq_archive_workers
        self.requests = 0

    def _where(self) -> str:
        endpoint = self.settings.openaq_archive_endpoint_url or "AWS S3"
        return f"s3://{self.bucket} at {endpoint}"

    def keys(self, location_id: int, since: pd.Timestamp, until: pd.Timestamp) -> list[str]:
        """Keys of the files that may hold hours in ``(since, until]``.

        Days without a file are simply not listed: the archive has no file for a day without
        data, and that is not an error.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        out: list[str] = []
        # Local dates can straddle UTC ones: look one day either side.
        first_day = (since - pd.Timedelta(days=1)).normalize()
        last_day = (until + pd.Timedelta(days=1)).normalize()
        months = pd.period_range(first_day.tz_localize(None), last_day.tz_localize(None), freq="M")
        wanted_min = archive_key(location_id, first_day)
        wanted_max = archive_key(location_id, last_day)
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
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
        except (BotoCoreError, ClientError) as exc:
            raise ArchiveError(
                f"cannot list the OpenAQ archive {self._where()} ({exc}): check "
                "AIRCAST_OPENAQ_ARCHIVE_BUCKET / AIRCAST_OPENAQ_ARCHIVE_ENDPOINT_URL and the "
                "network, or set AIRCAST_INGEST_ARCHIVE_DAYS=0 to take first ingests from the API"
            ) from exc
        return sorted(out)

    def read_file(self, key: str) -> pd.DataFrame:
        """One archive file as it is (archive columns); :class:`CorruptArchiveFileError` if it
        cannot be read as the archive's gzip CSV, an empty frame if it vanished."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.requests += 1
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return pd.DataFrame(columns=list(ARCHIVE_COLUMNS))
            raise ArchiveError(f"cannot read {key} from {self._where()} ({exc})") from exc
        except BotoCoreError as exc:
            raise ArchiveError(f"cannot read {key} from {self._where()} ({exc})") from exc
        return parse_archive_file(body, key)

    def read_location(
        self,
        location_id: int,
        since: datetime | str | pd.Timestamp,
        until: datetime | str | pd.Timestamp,
        *,
        sensor_ids: Collection[int] | None = None,
        parameters: Collection[str] | None = None,
        on_file: Callable[[str], None] | None = None,
    ) -> ArchiveRead:
        """Hour-ending means of one location for hours in ``(since, until]``.

        Files are fetched concurrently (``AIRCAST_OPENAQ_ARCHIVE_WORKERS``); a corrupt file is
        logged, counted in :attr:`ArchiveRead.corrupt` and skipped. Only rows of
        ``sensor_ids`` / ``parameters`` are kept when given.
        """
        start, end = _utc(since), _utc(until)
        keys = self.keys(location_id, start, end)
        read = ArchiveRead(location_id=location_id, location=None, raw=empty_raw())

        def fetch(key: str) -> tuple[str, pd.DataFrame | None]:
            try:
                return key, self.read_file(key)
            except CorruptArchiveFileError as exc:
                log.warning("skipping corrupt OpenAQ archive file: %s", exc)
                return key, None

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            results = list(pool.map(fetch, keys))
        frames = []
        for key, frame in results:  # in key order, so a re-run averages in the same order
            if on_file is not None:
                on_file(key)
            if frame is None:
                read.corrupt.append(key)
                continue
            read.files += 1
            if not frame.empty:
                frames.append(frame)
        if not frames:
            return read
        records = pd.concat(frames, ignore_index=True)
        read.location = archive_location(records)
        if sensor_ids is not None:
            records = records[
                pd.to_numeric(records["sensors_id"], errors="coerce").isin(list(sensor_ids))
            ]
        if parameters is not None:
            wanted = {p.lower() for p in parameters}
            records = records[records["parameter"].astype(str).str.lower().isin(wanted)]
        read.readings = len(records)
        read.raw = archive_frame(records, start, end) if len(records) else empty_raw()
        return read

    def fetch(
        self,
        location_id: int,
        since: datetime | str | pd.Timestamp,
        until: datetime | str | pd.Timestamp,
    ) -> tuple[Location | None, pd.DataFrame]:
        """The location (as far as the archive describes it) and its raw hourly frame."""
        read = self.read_location(location_id, since, until)
        return read.location, read.raw


def parse_archive_file(body: bytes, key: str = "<archive file>") -> pd.DataFrame:
    """Decode one archive object (gzip CSV, or plain CSV) into the archive's columns.

    Raises :class:`CorruptArchiveFileError` when it is not readable as such.
    """
    try:
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        frame = pd.read_csv(
            io.BytesIO(body),
            dtype={"parameter": str, "units": str, "datetime": str, "location": str},
        )
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:  # fmt: skip
        raise CorruptArchiveFileError(f"{key}: {type(exc).__name__}: {exc}") from exc
    missing = [c for c in ARCHIVE_COLUMNS if c not in frame.columns]
    if missing:
        raise CorruptArchiveFileError(f"{key}: missing column(s) {', '.join(missing)}")
    return frame[list(ARCHIVE_COLUMNS)]


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

    Readings are screened one by one before averaging (:mod:`aircast.hourly`); only hours in
    ``(since, until]`` are kept. Rows whose datetime cannot be read are kept (with a null
    datetime) so validation rejects them with a reason.
    """
    readings = pd.DataFrame(
        {
            "location_id": pd.to_numeric(records["location_id"], errors="coerce"),
            "sensor_id": pd.to_numeric(records["sensors_id"], errors="coerce"),
            "parameter": records["parameter"].astype(str).str.lower(),
            "datetime": pd.to_datetime(
                records["datetime"], utc=True, errors="coerce", format="ISO8601"
            ),
            "value": pd.to_numeric(records["value"], errors="coerce"),
            "unit": records["units"],
            "coverage_count": pd.NA,
            "source": SOURCE,
        }
    ).dropna(subset=["location_id", "sensor_id"])
    hourly = hour_ending_means(readings)
    dt = hourly["datetime"]
    keep = dt.isna()
    keep |= (dt > since) if since is not None else True
    if until is not None:
        keep &= dt.isna() | (dt <= until)
    validated: pd.DataFrame = RawMeasurements.validate(
        hourly.loc[keep, list(RAW_COLUMNS)].reset_index(drop=True)
    )
    return validated
