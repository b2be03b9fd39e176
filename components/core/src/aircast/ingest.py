"""Ingestion: OpenAQ (API, archive or CSV export) → validation → PostgreSQL.

Used by ``aircast ingest`` / ``aircast backfill`` and by the Mage pipeline ``ingest_openaq``.
Each page of a sensor is validated and committed with its rejections and the sensor's
watermark in one transaction, so a run that dies half-way has lost nothing it reported and a
re-run neither loses nor duplicates rows (the upsert skips unchanged rows).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import psycopg

from aircast import store
from aircast.openaq.archive import SOURCE as ARCHIVE_SOURCE
from aircast.openaq.archive import ArchiveRead, OpenAQArchive
from aircast.openaq.client import OpenAQClient
from aircast.openaq.models import PARAMETER_IDS, Location, Sensor
from aircast.schemas import validate_measurements
from aircast.settings import DatabaseSettings, IngestSettings, OpenAQSettings


@dataclass(frozen=True)
class LocationSelection:
    """Which locations and parameters to ingest: by ids, bbox, (lat, lon)+radius or country."""

    location_ids: tuple[int, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    coordinates: tuple[float, float] | None = None
    radius: int | None = None
    iso: str | None = None
    parameters: tuple[str, ...] = ("pm25",)
    monitor: bool | None = None

    def describe(self) -> str:
        """A short human description for logs and errors."""
        if self.location_ids:
            where = f"locations {','.join(map(str, self.location_ids))}"
        elif self.bbox:
            where = f"bbox {self.bbox}"
        elif self.coordinates:
            where = f"{self.radius} m around {self.coordinates}"
        elif self.iso:
            where = f"country {self.iso}"
        else:
            where = "nothing"
        return f"{'/'.join(self.parameters)} at {where}"

    @classmethod
    def from_settings(cls, settings: IngestSettings | None = None) -> LocationSelection:
        """The selection configured by ``AIRCAST_INGEST_*``."""
        s = settings or IngestSettings()
        return cls.from_mapping(
            {"location_ids": s.ingest_location_ids, "parameters": s.ingest_parameters}
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LocationSelection:
        """Parse a selection from strings or lists (CLI options, Mage pipeline variables)."""

        def floats(value: Any) -> tuple[float, ...] | None:
            if value in (None, "", []):
                return None
            items = value.split(",") if isinstance(value, str) else value
            return tuple(float(v) for v in items)

        def strings(value: Any) -> tuple[str, ...]:
            if value in (None, ""):
                return ()
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(v).strip().lower() for v in items if str(v).strip())

        ids = tuple(int(v) for v in strings(values.get("location_ids")))
        bbox = floats(values.get("bbox"))
        coordinates = floats(values.get("coordinates"))
        if bbox is not None and len(bbox) != 4:
            raise ValueError("bbox needs four numbers: min_lon,min_lat,max_lon,max_lat")
        if coordinates is not None and len(coordinates) != 2:
            raise ValueError("coordinates need two numbers: latitude,longitude")
        radius = values.get("radius")
        monitor = values.get("monitor")
        if isinstance(monitor, str):
            monitor = {"true": True, "false": False, "": None}.get(monitor.lower())
        parameters = strings(values.get("parameters")) or ("pm25",)
        selection = cls(
            location_ids=ids,
            bbox=bbox,
            coordinates=coordinates,
            radius=int(str(radius)) if radius not in (None, "") else None,
            iso=str(values["iso"]).upper() if values.get("iso") else None,
            parameters=parameters,
            monitor=monitor,
        )
        if not (ids or bbox or coordinates or selection.iso):
            raise ValueError(
                "no locations selected: give location ids (AIRCAST_INGEST_LOCATION_IDS or "
                "--locations), a bbox, coordinates with a radius, or a country code"
            )
        return selection


def selection_from_variables(
    values: Mapping[str, Any], settings: IngestSettings | None = None
) -> LocationSelection:
    """A selection from pipeline variables / CLI options, falling back to ``AIRCAST_INGEST_*``.

    Empty values count as unset, so a Mage trigger without variables ingests what the
    deployment configured.
    """
    s = settings or IngestSettings()
    merged = {k: v for k, v in values.items() if v not in (None, "", [])}
    if not any(k in merged for k in ("location_ids", "bbox", "coordinates", "iso")):
        merged["location_ids"] = s.ingest_location_ids
    merged.setdefault("parameters", s.ingest_parameters)
    return LocationSelection.from_mapping(merged)


@dataclass
class IngestSummary:
    """What a run did; printed by the CLI and returned to Mage."""

    source: str
    locations: int = 0
    sensors: int = 0
    pages: int = 0
    rows_fetched: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    seconds: float = 0.0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    archive_locations: int = 0
    archive_files: int = 0
    archive_readings: int = 0
    archive_corrupt_files: list[str] = field(default_factory=list)
    csv_files: int = 0
    duplicate_readings: int = 0

    def add(self, batch: BatchResult) -> None:
        """Fold one committed batch into the totals."""
        self.pages += 1
        self.rows_fetched += batch.fetched
        self.inserted += batch.inserted
        self.updated += batch.updated
        self.rejected += batch.rejected
        for reason, count in batch.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + count

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)

    def stored_dict(self) -> dict[str, Any]:
        """The fields a store-only step knows (:func:`store_validated`): no fetch counters."""
        return {k: v for k, v in self.as_dict().items() if k not in FETCH_FIELDS}


FETCH_FIELDS = frozenset(
    {"locations", "pages", "rows_fetched", "requests", "retries", "rate_limited", "waited_seconds",
     "archive_locations", "archive_files", "archive_readings", "archive_corrupt_files",
     "csv_files", "duplicate_readings"}
)  # fmt: skip
"""Summary fields counted while fetching, which a store-only step cannot know."""


@dataclass(frozen=True)
class BatchResult:
    """One committed batch: rows fetched, inserted, updated and rejected (new rejections)."""

    fetched: int
    inserted: int
    updated: int
    rejected: int
    newest: pd.Timestamp | None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


class IngestObserver(Protocol):
    """Progress hooks (the CLI draws a progress bar with them)."""

    def planned(self, sensors: int) -> None:
        """``sensors`` series will be fetched."""

    def stored(self, sensor: Sensor, batch: BatchResult) -> None:
        """A page of ``sensor`` was committed."""

    def finished(self, sensor: Sensor) -> None:
        """``sensor`` is done."""

    def archived(self, read: ArchiveRead, batch: BatchResult | None) -> None:
        """A location's archive backfill was read (and committed as ``batch``, if any rows)."""


class ArchiveReader(Protocol):
    """What the ingest needs of the archive (:class:`OpenAQArchive`; tests may wrap one)."""

    def read_location(
        self,
        location_id: int,
        since: datetime | str | pd.Timestamp,
        until: datetime | str | pd.Timestamp,
        *,
        sensor_ids: Collection[int] | None = None,
        parameters: Collection[str] | None = None,
    ) -> ArchiveRead:
        """Hour-ending means of one location for hours in ``(since, until]``."""
        ...


class _Quiet:
    def planned(self, sensors: int) -> None:
        pass

    def stored(self, sensor: Sensor, batch: BatchResult) -> None:
        pass

    def finished(self, sensor: Sensor) -> None:
        pass

    def archived(self, read: ArchiveRead, batch: BatchResult | None) -> None:
        pass


def describe_archive_read(read: ArchiveRead, batch: BatchResult | None = None) -> str:
    """One progress line for a location's archive backfill (CLI and Mage logs)."""
    hours = int(read.raw["datetime"].notna().sum()) if len(read.raw) else 0
    line = (
        f"archive: location {read.location_id}: {read.files} day file(s), "
        f"{read.readings:,} readings -> {hours:,} sensor-hours"
    )
    if batch is not None:
        line += f", {batch.inserted:,} inserted, {batch.rejected:,} rejected"
    if read.corrupt:
        line += f"; {len(read.corrupt)} corrupt file(s) skipped: {', '.join(read.corrupt[:3])}"
    return line


class PrintProgress(_Quiet):
    """Prints one line per archive backfill (the Mage loader's log)."""

    def archived(self, read: ArchiveRead, batch: BatchResult | None) -> None:
        print(describe_archive_read(read, batch), flush=True)


def _utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def current_hour() -> pd.Timestamp:
    """The hour-ending timestamp of the last complete hour (UTC)."""
    return pd.Timestamp.now(tz="UTC").floor("h")


def discover(client: OpenAQClient, selection: LocationSelection) -> list[Location]:
    """Locations matching ``selection`` that have a sensor of one of its parameters."""
    wanted_ids = [PARAMETER_IDS[p] for p in selection.parameters if p in PARAMETER_IDS]
    found = client.locations(
        ids=selection.location_ids or None,
        bbox=selection.bbox,
        coordinates=selection.coordinates,
        radius=selection.radius,
        iso=selection.iso,
        parameter_ids=wanted_ids or None,
        monitor=selection.monitor,
    )
    return [loc for loc in found if any(s.parameter in selection.parameters for s in loc.sensors)]


def _selected_sensors(locations: Iterable[Location], selection: LocationSelection) -> list[Sensor]:
    return [s for loc in locations for s in loc.sensors if s.parameter in selection.parameters]


def register_locations(
    conninfo: str, locations: Iterable[Location], *, only_new: bool = False
) -> int:
    """Store locations and sensors (with attribution); returns rows changed."""
    with psycopg.connect(conninfo) as conn:
        return store.upsert_locations(conn, locations, only_new=only_new)


def split_validated(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A frame from :func:`validate` back into (clean, rejected)."""
    if "reason" not in frame.columns:
        return frame, frame.iloc[0:0].assign(reason=pd.Series(dtype="object"))
    bad = frame["reason"].notna()
    return frame.loc[~bad].drop(columns="reason"), frame.loc[bad]


def validate(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate a raw frame into one frame: clean rows with ``reason`` null, rejected with it.

    One frame is what a Mage block can hand to the next one.
    """
    result = validate_measurements(raw)
    clean = result.clean.assign(reason=pd.Series([None] * len(result.clean), dtype="object"))
    rejected = result.rejected.astype({"reason": "object"})
    return pd.concat([clean, rejected], ignore_index=True) if len(rejected) else clean


def commit_batch(
    conn: psycopg.Connection[Any],
    clean: pd.DataFrame,
    rejected: pd.DataFrame,
    *,
    source: str,
    fetched: int,
) -> BatchResult:
    """Upsert clean rows, store rejections and advance watermarks in one transaction."""
    with conn.transaction():
        result = store.upsert_measurements(conn, clean)
        new_rejections = store.record_rejections(conn, rejected)
        # Rejected rows are committed too (as rejections), so they move the watermark: a bad
        # last hour must not make every incremental run fetch it again.
        seen = pd.concat(
            [clean[["sensor_id", "datetime"]], rejected[["sensor_id", "datetime"]]],
            ignore_index=True,
        ).dropna()
        store.advance_watermarks(conn, seen, source)
    newest = seen["datetime"].max() if len(seen) else None
    reasons = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    return BatchResult(
        fetched=fetched,
        inserted=result.inserted,
        updated=result.updated,
        rejected=new_rejections,
        newest=newest,
        rejected_by_reason={str(k): int(v) for k, v in reasons.items()},
    )


def store_raw(conn: psycopg.Connection[Any], raw: pd.DataFrame, *, source: str) -> BatchResult:
    """Validate a raw frame and commit it (see :func:`commit_batch`)."""
    clean, rejected = split_validated(validate(raw))
    return commit_batch(conn, clean, rejected, source=source, fetched=len(raw))


def store_validated(conninfo: str, frame: pd.DataFrame, *, source: str) -> IngestSummary:
    """Commit a frame made by :func:`validate` (the Mage exporter), per sensor."""
    summary = IngestSummary(source=source)
    start = time.monotonic()
    with psycopg.connect(conninfo) as conn:
        for _, part in frame.groupby("sensor_id", sort=True) if len(frame) else []:
            clean, rejected = split_validated(part)
            summary.add(commit_batch(conn, clean, rejected, source=source, fetched=len(part)))
            summary.sensors += 1
    summary.seconds = time.monotonic() - start
    return summary


def _batched(pages: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Concatenate consecutive pages until about ``rows`` rows (fewer, larger commits)."""
    pending: list[pd.DataFrame] = []
    size = 0
    for page in pages:
        pending.append(page)
        size += len(page)
        if size >= rows:
            yield pd.concat(pending, ignore_index=True)
            pending, size = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _sensor_windows(
    marks: Mapping[int, datetime | pd.Timestamp],
    sensors: Sequence[Sensor],
    since: pd.Timestamp | None,
    until: pd.Timestamp,
    lookback_hours: int,
) -> list[tuple[Sensor, pd.Timestamp]]:
    """Where each sensor's API window starts: ``since``, else its watermark (or the archive's
    newest hour), else ``lookback_hours`` before ``until``."""
    if since is not None:
        return [(s, since) for s in sensors]
    default = until - pd.Timedelta(hours=lookback_hours)
    out = []
    for sensor in sensors:
        mark = marks.get(sensor.sensor_id)
        out.append((sensor, _utc(mark) if mark is not None else default))
    return out


def _watermarks(conn: psycopg.Connection[Any]) -> dict[int, datetime]:
    # In a transaction of its own: a bare read would open an implicit transaction that turns
    # every later per-batch commit into a savepoint, committed only when the connection closes.
    with conn.transaction():
        return store.get_watermarks(conn)


def _first_ingests(
    sensors: Sequence[Sensor], marks: Mapping[int, object]
) -> dict[int, list[Sensor]]:
    """Sensors without a watermark, by location: their first ingest starts from the archive."""
    out: dict[int, list[Sensor]] = {}
    for sensor in sensors:
        if sensor.sensor_id not in marks:
            out.setdefault(sensor.location_id, []).append(sensor)
    return dict(sorted(out.items()))


def _archive_window(end: pd.Timestamp, days: int) -> pd.Timestamp:
    return end - pd.Timedelta(days=days)


def _fold_archive(summary: IngestSummary, read: ArchiveRead) -> None:
    summary.archive_locations += 1
    summary.archive_files += read.files
    summary.archive_readings += read.readings
    summary.archive_corrupt_files.extend(read.corrupt)


def backfill_first_ingests(
    conn: psycopg.Connection[Any],
    sensors: Sequence[Sensor],
    *,
    until: pd.Timestamp,
    days: int,
    archive: ArchiveReader | None = None,
    summary: IngestSummary | None = None,
    observer: IngestObserver | None = None,
) -> dict[int, pd.Timestamp]:
    """Backfill the sensors that have no watermark from the archive, one location at a time.

    Reads ``(until - days, until]`` of each such location, keeps its rows for those sensors,
    and commits them (hour-ending means, rejections, watermarks) in one transaction per
    location, so a location is either backfilled whole or not at all and a re-run after a
    failure starts its first ingest again. Returns the archive's newest hour per sensor: the
    API tail starts after it.
    """
    observer = observer or _Quiet()
    first = _first_ingests(sensors, _watermarks(conn))
    if days <= 0 or not first:
        return {}
    source = archive or OpenAQArchive()
    begin = _archive_window(until, days)
    newest: dict[int, pd.Timestamp] = {}
    for location_id, wanted in first.items():
        read = source.read_location(
            location_id, begin, until, sensor_ids={s.sensor_id for s in wanted}
        )
        batch = store_raw(conn, read.raw, source=ARCHIVE_SOURCE) if len(read.raw) else None
        if summary is not None:
            _fold_archive(summary, read)
            if batch is not None:
                summary.add(batch)
        newest.update(read.newest())
        observer.archived(read, batch)
    return newest


def ingest_api(
    conninfo: str,
    selection: LocationSelection,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    client: OpenAQClient | None = None,
    settings: OpenAQSettings | None = None,
    ingest_settings: IngestSettings | None = None,
    archive: ArchiveReader | None = None,
    observer: IngestObserver | None = None,
    migrate: bool = True,
    batch_rows: int = 5_000,
) -> IngestSummary:
    """Fetch ``selection`` from OpenAQ into the store.

    Without ``since`` each sensor resumes after its watermark. A sensor without one (its first
    ingest) is first backfilled from OpenAQ's public S3 archive for
    ``AIRCAST_INGEST_ARCHIVE_DAYS`` (:func:`backfill_first_ingests`); the API then fetches only
    the hours after the archive's newest one, or ``AIRCAST_INGEST_INITIAL_LOOKBACK_HOURS`` when
    the archive has nothing for it. With ``since`` the window ``(since, until]`` is fetched
    whole from the API (a backfill). ``until`` defaults to the last complete hour. Pages are
    committed in batches of about ``batch_rows`` rows, each with its watermark.
    """
    observer = observer or _Quiet()
    started = time.monotonic()
    if migrate:
        store.upgrade(conninfo)
    end = _utc(until) if until is not None else current_hour()
    begin = _utc(since) if since is not None else None
    if begin is not None and begin >= end:
        raise ValueError(f"--since ({begin}) must be before --until ({end})")
    knobs = ingest_settings or IngestSettings()
    own_client = client is None
    api = client or OpenAQClient(settings)
    summary = IngestSummary(source="openaq-api")
    try:
        locations = discover(api, selection)
        register_locations(conninfo, locations)
        sensors = _selected_sensors(locations, selection)
        summary.locations, summary.sensors = len(locations), len(sensors)
        observer.planned(len(sensors))
        with psycopg.connect(conninfo) as conn:
            if begin is None:
                backfill_first_ingests(
                    conn, sensors, until=end, days=knobs.ingest_archive_days,
                    archive=archive or _LazyArchive(settings), summary=summary,
                    observer=observer,
                )  # fmt: skip
            marks = _watermarks(conn)
            windows = _sensor_windows(
                marks, sensors, begin, end, knobs.ingest_initial_lookback_hours
            )
            for sensor, start in windows:
                if start < end:
                    for chunk in _batched(api.hours(sensor, start, end), batch_rows):
                        batch = store_raw(conn, chunk, source="openaq-api")
                        summary.add(batch)
                        observer.stored(sensor, batch)
                observer.finished(sensor)
    finally:
        summary.requests = api.stats.requests
        summary.retries = api.stats.retries
        summary.rate_limited = api.stats.rate_limited
        summary.waited_seconds = api.stats.waited_seconds
        summary.seconds = time.monotonic() - started
        if own_client:
            api.close()
    return summary


class _LazyArchive:
    """An :class:`OpenAQArchive` built on first use: runs without a first ingest never create
    an S3 client."""

    def __init__(self, settings: OpenAQSettings | None) -> None:
        self.settings = settings
        self._archive: OpenAQArchive | None = None

    def read_location(self, *args: Any, **kwargs: Any) -> ArchiveRead:
        """See :meth:`OpenAQArchive.read_location`."""
        if self._archive is None:
            self._archive = OpenAQArchive(self.settings)
        return self._archive.read_location(*args, **kwargs)


def fetch_api_raw(
    conninfo: str,
    selection: LocationSelection,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    settings: OpenAQSettings | None = None,
    ingest_settings: IngestSettings | None = None,
    archive: ArchiveReader | None = None,
    observer: IngestObserver | None = None,
) -> pd.DataFrame:
    """Register the selected locations and return their raw hourly frame (the Mage loader).

    The windows are those of :func:`ingest_api`, archive backfill of first ingests included;
    nothing but the locations is written here: the exporter commits the frame per sensor, so
    a sensor's archive history and API tail land in one transaction.
    """
    from aircast.schemas import empty_raw

    observer = observer or _Quiet()
    store.upgrade(conninfo)
    end = _utc(until) if until is not None else current_hour()
    begin = _utc(since) if since is not None else None
    knobs = ingest_settings or IngestSettings()
    frames: list[pd.DataFrame] = []
    archived: list[pd.DataFrame] = []
    summary = IngestSummary(source="openaq-api")
    with OpenAQClient(settings) as api:
        locations = discover(api, selection)
        register_locations(conninfo, locations)
        sensors = _selected_sensors(locations, selection)
        marks: dict[int, Any] = dict(store.get_watermarks(conninfo))
        first = _first_ingests(sensors, marks) if begin is None else {}
        if first and knobs.ingest_archive_days > 0:
            source = archive or _LazyArchive(settings)
            start = _archive_window(end, knobs.ingest_archive_days)
            for location_id, wanted in first.items():
                read = source.read_location(
                    location_id, start, end, sensor_ids={s.sensor_id for s in wanted}
                )
                _fold_archive(summary, read)
                observer.archived(read, None)
                marks.update(read.newest())
                if len(read.raw):
                    archived.append(read.raw)
        windows = _sensor_windows(marks, sensors, begin, end, knobs.ingest_initial_lookback_hours)
        for sensor, start in windows:
            if start < end:
                frames.extend(api.hours(sensor, start, end))
    parts = archived + frames
    raw = pd.concat(parts, ignore_index=True) if parts else empty_raw()
    # The fetch side of the run's summary: the exporter, in another block, sees only the rows.
    raw.attrs["fetch"] = {
        "locations": len(locations),
        "sensors": len(sensors),
        "pages": len(frames),
        "rows_fetched": len(raw),
        **asdict(api.stats),
        "archive_locations": summary.archive_locations,
        "archive_files": summary.archive_files,
        "archive_readings": summary.archive_readings,
        "archive_corrupt_files": summary.archive_corrupt_files,
    }
    return raw


def ingest_archive(
    conninfo: str,
    location_ids: Sequence[int],
    *,
    since: datetime | str | pd.Timestamp,
    until: datetime | str | pd.Timestamp,
    parameters: Sequence[str] | None = None,
    archive: ArchiveReader | None = None,
    observer: IngestObserver | None = None,
    migrate: bool = True,
) -> IngestSummary:
    """Backfill ``(since, until]`` of locations from OpenAQ's public S3 archive."""
    observer = observer or _Quiet()
    started = time.monotonic()
    if migrate:
        store.upgrade(conninfo)
    source = archive or OpenAQArchive()
    summary = IngestSummary(source=ARCHIVE_SOURCE)
    observer.planned(len(location_ids))
    with psycopg.connect(conninfo) as conn:
        for location_id in location_ids:
            read = source.read_location(location_id, since, until, parameters=parameters)
            _fold_archive(summary, read)
            location = read.location
            if location is None:
                observer.archived(read, None)
                continue
            if parameters:
                wanted = {p.lower() for p in parameters}
                location = replace(
                    location, sensors=tuple(s for s in location.sensors if s.parameter in wanted)
                )
            with conn.transaction():
                store.upsert_locations(conn, [location], only_new=True)
            summary.locations += 1
            summary.sensors += len(location.sensors)
            batch = store_raw(conn, read.raw, source=ARCHIVE_SOURCE)
            summary.add(batch)
            observer.archived(read, batch)
            for sensor in location.sensors:
                observer.finished(sensor)
    summary.requests = getattr(source, "requests", 0)
    summary.seconds = time.monotonic() - started
    return summary


def ingest_csv(
    conninfo: str, path: str | Path, *, observer: IngestObserver | None = None, migrate: bool = True
) -> IngestSummary:
    """Load an OpenAQ Explorer CSV export, or a folder of them, into the store.

    Every ``*.csv`` / ``*.csv.gz`` under a folder is read; readings repeated across files
    (overlapping exports) count once. Readings are averaged into hour-ending hours with their
    count (:mod:`aircast.hourly`), and each location commits in one transaction.
    """
    from aircast.openaq.csv_export import (
        SOURCE,
        export_frame,
        export_locations,
        export_paths,
        read_exports,
    )

    observer = observer or _Quiet()
    started = time.monotonic()
    paths = export_paths(path)
    if migrate:
        store.upgrade(conninfo)
    records, duplicates = read_exports(paths)
    with psycopg.connect(conninfo) as conn:
        with conn.transaction():
            known = _single_sensors(conn)
        locations = export_locations(records, known)
        with conn.transaction():
            store.upsert_locations(conn, locations, only_new=True)
        sensors = [s for loc in locations for s in loc.sensors]
        observer.planned(len(sensors))
        summary = IngestSummary(
            source=SOURCE, locations=len(locations), sensors=len(sensors),
            csv_files=len(paths), duplicate_readings=duplicates,
        )  # fmt: skip
        location_ids = pd.to_numeric(records["location_id"], errors="coerce")
        for location in locations:
            part = records[location_ids == location.location_id]
            batch = store_raw(conn, export_frame(part, known), source=SOURCE)
            summary.add(batch)
            observer.stored(location.sensors[0], batch)
            for sensor in location.sensors:
                observer.finished(sensor)
    summary.seconds = time.monotonic() - started
    return summary


def _single_sensors(conn: psycopg.Connection[Any]) -> dict[tuple[int, str], int]:
    """(location, parameter) → sensor id, where a location has exactly one such sensor."""
    rows = conn.execute(
        """
        SELECT location_id, parameter, min(sensor_id)
        FROM sensors GROUP BY location_id, parameter HAVING count(*) = 1
        """
    ).fetchall()
    return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}


def database_url(settings: DatabaseSettings | None = None) -> str:
    """The writer's libpq URL (``AIRCAST_DATABASE_URL``)."""
    return (settings or DatabaseSettings()).database_url.get_secret_value()
