"""Validation: every raw row ends up clean or rejected with the right reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from aircast.openaq.client import hours_frame
from aircast.openaq.models import Sensor
from aircast.schemas import CleanMeasurements, validate_measurements

SENSOR = Sensor(sensor_id=77, location_id=7, parameter="pm25", unit="µg/m³", parameter_id=2)


def _item(hour: str, value: object, units: str = "µg/m³", name: str = "pm25") -> dict[str, object]:
    """An /hours result in the v3 shape (hand-written, camelCase)."""
    start = pd.Timestamp(hour) - pd.Timedelta(hours=1)
    return {
        "value": value,
        "flagInfo": {"hasFlags": False},
        "parameter": {"id": 2, "name": name, "units": units, "displayName": "PM2.5"},
        "period": {
            "label": "1hour",
            "interval": "01:00:00",
            "datetimeFrom": {"utc": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "local": "x"},
            "datetimeTo": {"utc": hour, "local": "x"},
        },
        "coordinates": None,
        "summary": None,
        "coverage": {"expectedCount": 1, "observedCount": 12, "percentComplete": 1200.0},
    }


# (item, expected reason or None for a clean row)
CRAFTED: list[tuple[dict[str, object], str | None]] = [
    (_item("2025-01-01T01:00:00Z", 12.5), None),
    (_item("2025-01-01T02:00:00+00:00", 0.012, units="mg/m³"), None),  # converted to 12 µg/m³
    (_item("2025-01-01T03:00:00Z", None), "missing_value"),
    (_item("2025-01-01T04:00:00Z", -999.0), "placeholder_value"),
    (_item("2025-01-01T05:00:00Z", -1.0), "placeholder_value"),
    (_item("2025-01-01T06:00:00Z", -4.2), "negative_value"),
    (_item("2025-01-01T07:00:00Z", 4500.0), "out_of_range"),
    (_item("2025-01-01T08:00:00Z", 30.0, units="ppm"), "unit_not_convertible"),
    (_item("2025-01-01T09:00:00Z", 30.0, units="furlongs"), "unit_not_convertible"),
    (_item("2025-01-01T10:30:00Z", 30.0), "invalid_datetime"),
    ({"value": 3.0, "parameter": {"name": "pm25", "units": "µg/m³"}}, "invalid_datetime"),
    (_item("2025-01-01T11:00:00Z", 30.0, name="bc"), "unsupported_parameter"),
    (_item("2025-01-01T12:00:00Z", 20.0), None),
    (_item("2025-01-01T12:00:00Z", 21.0), "duplicate_hour"),
]


def crafted_frame() -> pd.DataFrame:
    """The crafted payload parsed as the client parses a page."""
    return hours_frame([item for item, _ in CRAFTED], SENSOR)


def test_every_bad_row_is_rejected_with_its_reason() -> None:
    raw = crafted_frame()
    result = validate_measurements(raw)
    expected_bad = [reason for _, reason in CRAFTED if reason]
    assert len(result.clean) + len(result.rejected) == len(raw)
    assert sorted(result.rejected["reason"]) == sorted(expected_bad)
    assert list(result.clean["value"]) == [12.5, pytest.approx(12.0), 20.0]
    assert set(result.clean["unit"]) == {"µg/m³"}
    assert result.clean["coverage_count"].tolist() == [12, 12, 12]
    # The rejected frame keeps the row as received (unit and value before conversion).
    units = result.rejected.set_index("reason")["unit"]
    assert "furlongs" in set(units.loc["unit_not_convertible"])


def test_gases_and_temperature_are_converted_and_ranged() -> None:
    raw = pd.DataFrame(
        {
            "location_id": 1,
            "sensor_id": [1, 2, 3, 4],
            "parameter": ["no2", "o3", "temperature", "temperature"],
            "datetime": pd.Timestamp("2025-01-01T01:00:00Z"),
            "value": [0.02, 40.0, 50.0, -12.0],
            "unit": ["ppm", "ppb", "f", "c"],
            "coverage_count": 1,
            "source": "test",
        }
    )
    result = validate_measurements(raw)
    assert result.rejected.empty
    values = result.clean.set_index("sensor_id")["value"]
    assert values[1] == pytest.approx(0.02 * 46.0055 * 1000 / 24.45)
    assert values[2] == pytest.approx(40.0 * 47.9982 / 24.45)
    assert values[3] == pytest.approx(10.0)
    assert values[4] == -12.0  # negative temperatures are physical


def test_clean_schema_refuses_what_validation_would_reject() -> None:
    clean = validate_measurements(crafted_frame()).clean
    broken = clean.assign(value=np.where(clean.index == 0, -5.0, clean["value"]))
    with pytest.raises(pandera.errors.SchemaError):
        CleanMeasurements.validate(broken)
    duplicated = pd.concat([clean, clean.iloc[[0]]], ignore_index=True)
    with pytest.raises(pandera.errors.SchemaError):
        CleanMeasurements.validate(duplicated)
