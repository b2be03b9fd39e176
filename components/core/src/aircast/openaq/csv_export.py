"""OpenAQ Explorer CSV exports (``aircast ingest --from-csv PATH``).

The Explorer's download has the columns ``location_id, location_name, parameter, value, unit,
datetimeUtc, datetimeLocal, timezone, latitude, longitude, country_iso, isMobile, isMonitor,
owner_name, provider`` and no sensor id. Rows are mapped to the stored sensor of their location
and parameter when there is exactly one; otherwise to a stable negative id (never a real
OpenAQ id) derived from location and parameter.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from aircast.openaq.models import PARAMETER_IDS, Location, Sensor
from aircast.schemas import RAW_COLUMNS, RawMeasurements

SOURCE = "openaq-csv"
REQUIRED = ("location_id", "parameter", "value", "unit", "datetimeUtc")


class CSVExportError(ValueError):
    """The file is not an OpenAQ CSV export; the message names what is missing."""


def export_sensor_id(location_id: int, parameter: str) -> int:
    """A stable id for a (location, parameter) series of a CSV export (negative)."""
    return -(int(location_id) * 100_000 + zlib.crc32(parameter.lower().encode()) % 100_000)


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
    """Export rows → raw frame (``datetimeUtc`` is read as the hour-ending time)."""
    known = dict(known_sensors or {})
    parameter = frame["parameter"].astype(str).str.lower()
    location = pd.to_numeric(frame["location_id"], errors="coerce").fillna(0).astype("int64")
    sensor = [
        known.get((int(loc), str(par)), export_sensor_id(int(loc), str(par)))
        for loc, par in zip(location, parameter, strict=True)
    ]
    out = pd.DataFrame(
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
        }
    )
    validated: pd.DataFrame = RawMeasurements.validate(out[list(RAW_COLUMNS)])
    return validated
