"""OpenAQ Explorer CSV exports (``aircast ingest --from-csv PATH``, a file or a folder of them).

The Explorer's download has the columns ``location_id, location_name, parameter, value, unit,
datetimeUtc, datetimeLocal, timezone, latitude, longitude, country_iso, isMobile, isMonitor,
owner_name, provider`` and no sensor id. Rows are mapped to the stored sensor of their location
and parameter when there is exactly one; otherwise to a stable negative id (never a real
OpenAQ id) derived from location and parameter. Low-cost sensors' exports hold a reading every
few minutes: they are averaged into hour-ending hours with their count (:mod:`aircast.hourly`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from aircast.hourly import hour_ending_means
from aircast.openaq.models import PARAMETER_IDS, Location, Sensor

SOURCE = "openaq-csv"
REQUIRED = ("location_id", "parameter", "value", "unit", "datetimeUtc")


class CSVExportError(ValueError):
    """The file is not an OpenAQ CSV export; the message names what is missing."""


def export_sensor_id(location_id: int, parameter: str) -> int:
    """A stable id for a (location, parameter) series of a CSV export (negative)."""
    return -(int(location_id) * 100_000 + zlib.crc32(parameter.lower().encode()) % 100_000)


def export_paths(path: str | Path) -> list[Path]:
    """The export files ``path`` names: itself, or every ``*.csv`` / ``*.csv.gz`` under it."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise CSVExportError(
            f"{root} does not exist: pass an OpenAQ CSV export or a folder of them"
        )
    found = sorted(
        f for f in root.rglob("*") if f.is_file() and f.name.lower().endswith((".csv", ".csv.gz"))
    )
    if not found:
        raise CSVExportError(
            f"{root} holds no *.csv or *.csv.gz file: put the OpenAQ Explorer exports there"
        )
    return found


def read_exports(paths: list[Path]) -> tuple[pd.DataFrame, int]:
    """Read several exports into one frame; returns it and how many repeated readings (the same
    location, parameter, time, value and unit in overlapping exports) were counted once."""
    frames = [read_export(p) for p in paths]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    key = ["location_id", "parameter", "datetimeUtc", "value", "unit"]
    repeated = frame.duplicated(subset=key, keep="first")
    return frame.loc[~repeated].reset_index(drop=True), int(repeated.sum())


def read_export(path: str | Path) -> pd.DataFrame:
    """Read the CSV (plain or .gz) and check it has the export's columns."""
    try:
        frame = pd.read_csv(path, dtype={"parameter": str, "unit": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CSVExportError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise CSVExportError(
            f"{path} is not an OpenAQ CSV export: missing column(s) {', '.join(missing)} "
            "(download it from explore.openaq.org)"
        )
    return frame


def export_locations(
    frame: pd.DataFrame, known_sensors: Mapping[tuple[int, str], int] | None = None
) -> list[Location]:
    """Locations and sensors described by an export's rows."""
    known = dict(known_sensors or {})
    out = []
    for location_id, rows in frame.groupby("location_id", sort=True):
        first = rows.iloc[0]

        def text(col: str, row: pd.Series = first) -> str | None:
            value = row.get(col)
            return None if value is None or pd.isna(value) else str(value)

        sensors = []
        for parameter, prow in rows.groupby(rows["parameter"].astype(str).str.lower()):
            key = (int(str(location_id)), str(parameter))
            sensors.append(
                Sensor(
                    sensor_id=known.get(key, export_sensor_id(*key)),
                    location_id=key[0],
                    parameter=str(parameter),
                    unit=str(prow["unit"].iloc[0]),
                    parameter_id=PARAMETER_IDS.get(str(parameter)),
                )
            )
        owner = text("owner_name")
        out.append(
            Location(
                location_id=int(str(location_id)),
                name=text("location_name") or f"location {location_id}",
                timezone=text("timezone") or "UTC",
                latitude=float(first["latitude"]) if pd.notna(first.get("latitude")) else None,
                longitude=float(first["longitude"]) if pd.notna(first.get("longitude")) else None,
                country=text("country_iso"),
                provider=text("provider"),
                owner=owner,
                attribution=f"{owner or 'data owner'} via OpenAQ (CSV export)",
                is_monitor=str(first.get("isMonitor", "true")).lower() in ("true", "1"),
                sensors=tuple(sensors),
            )
        )
    return out


def export_frame(
    frame: pd.DataFrame, known_sensors: Mapping[tuple[int, str], int] | None = None
) -> pd.DataFrame:
    """Export rows → raw hourly frame: hour-ending means of the readings, with their count.

    ``datetimeUtc`` is the time a reading ends (OpenAQ's convention): hourly rows stay where
    they are with a count of 1, sub-hourly readings are averaged into the hour they end in.
    """
    known = dict(known_sensors or {})
    parameter = frame["parameter"].astype(str).str.lower()
    location = pd.to_numeric(frame["location_id"], errors="coerce").fillna(0).astype("int64")
    sensor = [
        known.get((int(loc), str(par)), export_sensor_id(int(loc), str(par)))
        for loc, par in zip(location, parameter, strict=True)
    ]
    readings = pd.DataFrame(
        {
            "location_id": location,
            "sensor_id": sensor,
            "parameter": parameter,
            "datetime": pd.to_datetime(
                frame["datetimeUtc"], utc=True, errors="coerce", format="ISO8601"
            ),
            "value": pd.to_numeric(frame["value"], errors="coerce"),
            "unit": frame["unit"],
            "coverage_count": pd.NA,
            "source": SOURCE,
        },
        index=frame.index,
    )
    return hour_ending_means(readings)
