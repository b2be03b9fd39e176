"""Ingestion: OpenAQ (API, archive or CSV export) → validation → PostgreSQL.

Used by ``aircast ingest`` / ``aircast backfill`` and by the Mage pipeline ``ingest_openaq``.
Each page of a sensor is validated and committed with its rejections and the sensor's
watermark in one transaction, so a run that dies half-way has lost nothing it reported and a
re-run neither loses nor duplicates rows (the upsert skips unchanged rows).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import psycopg

from aircast import store
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
    {"locations", "pages", "rows_fetched", "requests", "retries", "rate_limited", "waited_seconds"}
)
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


class _Quiet:
    def planned(self, sensors: int) -> None:
        pass

    def stored(self, sensor: Sensor, batch: BatchResult) -> None:
        pass

    def finished(self, sensor: Sensor) -> None:
        pass


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
    conninfo: str,
    sensors: Sequence[Sensor],
    since: pd.Timestamp | None,
    until: pd.Timestamp,
    lookback_hours: int,
) -> list[tuple[Sensor, pd.Timestamp]]:
    if since is not None:
        return [(s, since) for s in sensors]
    marks = store.get_watermarks(conninfo)
    default = until - pd.Timedelta(hours=lookback_hours)
    out = []
    for sensor in sensors:
        mark = marks.get(sensor.sensor_id)
        out.append((sensor, _utc(mark) if mark is not None else default))
    return out


def ingest_api(
    conninfo: str,
    selection: LocationSelection,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    client: OpenAQClient | None = None,
    settings: OpenAQSettings | None = None,
    ingest_settings: IngestSettings | None = None,
    observer: IngestObserver | None = None,
    migrate: bool = True,
    batch_rows: int = 5_000,
) -> IngestSummary:
    """Fetch ``selection`` from the OpenAQ API into the store.

    Without ``since`` each sensor resumes after its watermark (or starts
    ``AIRCAST_INGEST_INITIAL_LOOKBACK_HOURS`` back); with it, the window ``(since, until]`` is
    fetched whole (a backfill). ``until`` defaults to the last complete hour. Pages are
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
    lookback = (ingest_settings or IngestSettings()).ingest_initial_lookback_hours
    own_client = client is None
    api = client or OpenAQClient(settings)
    summary = IngestSummary(source="openaq-api")
    try:
        locations = discover(api, selection)
        register_locations(conninfo, locations)
        sensors = _selected_sensors(locations, selection)
        summary.locations, summary.sensors = len(locations), len(sensors)
        observer.planned(len(sensors))
        windows = _sensor_windows(conninfo, sensors, begin, end, lookback)
        with psycopg.connect(conninfo) as conn:
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


def fetch_api_raw(
    conninfo: str,
    selection: LocationSelection,
    *,
    since: datetime | str | pd.Timestamp | None = None,
    until: datetime | str | pd.Timestamp | None = None,
    settings: OpenAQSettings | None = None,
    ingest_settings: IngestSettings | None = None,
) -> pd.DataFrame:
    """Register the selected locations and return their raw hourly frame (the Mage loader).

    The window is per sensor as in :func:`ingest_api`.
    """
    store.upgrade(conninfo)
    end = _utc(until) if until is not None else current_hour()
    begin = _utc(since) if since is not None else None
    lookback = (ingest_settings or IngestSettings()).ingest_initial_lookback_hours
    frames: list[pd.DataFrame] = []
    with OpenAQClient(settings) as api:
        locations = discover(api, selection)
        register_locations(conninfo, locations)
        sensors = _selected_sensors(locations, selection)
        for sensor, start in _sensor_windows(conninfo, sensors, begin, end, lookback):
            if start < end:
                frames.extend(api.hours(sensor, start, end))
    if frames:
        raw = pd.concat(frames, ignore_index=True)
    else:
        from aircast.schemas import empty_raw

        raw = empty_raw()
    # The fetch side of the run's summary: the exporter, in another block, sees only the rows.
    raw.attrs["fetch"] = {
        "locations": len(locations),
        "sensors": len(sensors),
        "pages": len(frames),
        "rows_fetched": len(raw),
        **asdict(api.stats),
    }
    return raw


def ingest_archive(
    conninfo: str,
    location_ids: Sequence[int],
    *,
    since: datetime | str | pd.Timestamp,
    until: datetime | str | pd.Timestamp,
    parameters: Sequence[str] | None = None,
    archive: Any | None = None,
    observer: IngestObserver | None = None,
    migrate: bool = True,
) -> IngestSummary:
    """Backfill ``(since, until]`` of locations from OpenAQ's public S3 archive."""
    from aircast.openaq.archive import SOURCE, OpenAQArchive

    observer = observer or _Quiet()
    started = time.monotonic()
    if migrate:
        store.upgrade(conninfo)
    source = archive or OpenAQArchive()
    summary = IngestSummary(source=SOURCE)
    observer.planned(len(location_ids))
    with psycopg.connect(conninfo) as conn:
        for location_id in location_ids:
            location, raw = source.fetch(location_id, since, until)
            if location is None:
                continue
            if parameters:
                wanted = {p.lower() for p in parameters}
                raw = raw[raw["parameter"].isin(wanted)]
                location = replace(
                    location, sensors=tuple(s for s in location.sensors if s.parameter in wanted)
                )
            with conn.transaction():
                store.upsert_locations(conn, [location], only_new=True)
            summary.locations += 1
            summary.sensors += len(location.sensors)
            batch = store_raw(conn, raw, source=SOURCE)
            summary.add(batch)
            for sensor in location.sensors:
                observer.stored(sensor, batch)
                observer.finished(sensor)
    summary.requests = getattr(source, "requests", 0)
    summary.seconds = time.monotonic() - started
    return summary


def ingest_csv(
    conninfo: str, path: str | Path, *, observer: IngestObserver | None = None, migrate: bool = True
) -> IngestSummary:
    """Load an OpenAQ Explorer CSV export into the store."""
    from aircast.openaq.csv_export import SOURCE, export_frame, export_locations, read_export

    observer = observer or _Quiet()
    started = time.monotonic()
    if migrate:
        store.upgrade(conninfo)
    records = read_export(path)
    with psycopg.connect(conninfo) as conn:
        known = _single_sensors(conn)
        locations = export_locations(records, known)
        with conn.transaction():
            store.upsert_locations(conn, locations, only_new=True)
        sensors = [s for loc in locations for s in loc.sensors]
        observer.planned(len(sensors))
        summary = IngestSummary(source=SOURCE, locations=len(locations), sensors=len(sensors))
        batch = store_raw(conn, export_frame(records, known), source=SOURCE)
        summary.add(batch)
        for sensor in sensors:
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
