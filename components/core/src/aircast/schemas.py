"""Pandera schemas for raw and clean measurement frames, and the validation that splits them.

Every source (the v3 API, the S3 archive, CSV exports) produces a *raw* frame; validation turns
it into a *clean* frame (canonical units, one row per sensor and hour) and a *rejected* frame
with one reason per row. Nothing is dropped silently: every input row ends up in exactly one of
the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from aircast.parameters import CANONICAL_UNITS, CATALOGUE, VALID_RANGES

#: Columns every source produces (hour-ending UTC ``datetime``).
RAW_COLUMNS = (
    "location_id",
    "sensor_id",
    "parameter",
    "datetime",
    "value",
    "unit",
    "coverage_count",
    "source",
)

#: Canonical unit per parameter, and the physically plausible range in that unit (from the
#: parameter catalogue).
PHYSICAL_RANGE = VALID_RANGES
#: Parameters for which a negative value is physically impossible.
NON_NEGATIVE = frozenset(p.name for p in CATALOGUE if p.non_negative)
#: Sentinels loggers write instead of "no data".
PLACEHOLDERS = frozenset({-1.0, -99.0, -999.0, -9999.0, -99999.0, 9999.0, 99999.0, 999999.0})
# Molar masses (g/mol) for ppm/ppb -> µg/m³ at 25 °C and 1 atm (molar volume 24.45 L).
_MOLAR_MASS = {"no2": 46.0055, "o3": 47.9982, "so2": 64.066, "co": 28.010}
_MOLAR_VOLUME = 24.45

# The micro sign, the Greek mu and ASCII spellings all mean the same unit.
_UNIT_ALIASES = {
    "µg/m³": "µg/m³",
    "μg/m³": "µg/m³",
    "ug/m3": "µg/m³",
    "µg/m3": "µg/m³",
    "μg/m3": "µg/m³",
    "ug/m³": "µg/m³",
    "mg/m³": "mg/m³",
    "mg/m3": "mg/m³",
    "ppm": "ppm",
    "ppb": "ppb",
    "c": "c",
    "°c": "c",
    "degc": "c",
    "celsius": "c",
    "f": "f",
    "°f": "f",
    "%": "%",
    "percent": "%",
}

REASONS = (
    "missing_value",
    "invalid_datetime",
    "unsupported_parameter",
    "unit_not_convertible",
    "placeholder_value",
    "negative_value",
    "out_of_range",
    "duplicate_hour",
)

RawMeasurements = pa.DataFrameSchema(
    {
        "location_id": pa.Column("int64", coerce=True),
        "sensor_id": pa.Column("int64", coerce=True),
        "parameter": pa.Column(str, coerce=True),
        "datetime": pa.Column("datetime64[ns, UTC]", nullable=True, coerce=True),
        "value": pa.Column("float64", nullable=True, coerce=True),
        "unit": pa.Column(str, nullable=True, coerce=True),
        "coverage_count": pa.Column("Int64", nullable=True, coerce=True),
        "source": pa.Column(str, coerce=True),
    },
    strict="filter",
    name="raw_measurements",
)

CleanMeasurements = pa.DataFrameSchema(
    {
        "location_id": pa.Column("int64"),
        "sensor_id": pa.Column("int64"),
        "parameter": pa.Column(str, pa.Check.isin(list(CANONICAL_UNITS))),
        "datetime": pa.Column(
            "datetime64[ns, UTC]",
            pa.Check(lambda s: (s.dt.minute == 0) & (s.dt.second == 0), name="on_the_hour"),
        ),
        "value": pa.Column("float64", pa.Check(np.isfinite, name="finite")),
        "unit": pa.Column(str),
        "coverage_count": pa.Column("Int64", pa.Check.ge(0), nullable=True),
        "source": pa.Column(str),
    },
    checks=[
        pa.Check(
            lambda df: df["unit"] == df["parameter"].map(CANONICAL_UNITS),
            name="canonical_unit",
        ),
        pa.Check(
            lambda df: df["value"].between(
                df["parameter"].map(lambda p: PHYSICAL_RANGE[p][0]),
                df["parameter"].map(lambda p: PHYSICAL_RANGE[p][1]),
            ),
            name="physical_range",
        ),
    ],
    unique=["sensor_id", "datetime"],
    strict=True,
    ordered=True,
    name="clean_measurements",
)


@dataclass(frozen=True)
class Validated:
    """The outcome of validation: rows to store and rows to reject (with ``reason``)."""

    clean: pd.DataFrame
    rejected: pd.DataFrame


def _canonical_unit(unit: pd.Series) -> pd.Series:
    return unit.astype("object").map(
        lambda u: _UNIT_ALIASES.get(str(u).strip().lower().replace("μ", "µ"))
        if isinstance(u, str)
        else None
    )


def _convert(parameter: pd.Series, unit: pd.Series, value: pd.Series) -> pd.Series:
    """Values in the parameter's canonical unit; NaN where the unit cannot be converted."""
    param = parameter.to_numpy(dtype=object)
    units = unit.to_numpy(dtype=object)
    values = value.to_numpy(dtype="float64", na_value=np.nan)
    target = parameter.map(CANONICAL_UNITS).to_numpy(dtype=object)
    factor = np.full(len(values), np.nan)
    factor[units == target] = 1.0
    factor[(target == "µg/m³") & (units == "mg/m³")] = 1000.0
    for gas, mass in _MOLAR_MASS.items():
        is_gas = param == gas
        factor[is_gas & (units == "ppm")] = mass * 1000.0 / _MOLAR_VOLUME
        factor[is_gas & (units == "ppb")] = mass / _MOLAR_VOLUME
    out = values * factor
    fahrenheit = (param == "temperature") & (units == "f")
    out[fahrenheit] = (values[fahrenheit] - 32.0) * 5.0 / 9.0
    return pd.Series(out, index=value.index, dtype="float64")


def empty_raw() -> pd.DataFrame:
    """An empty frame with the raw columns and dtypes."""
    frame: pd.DataFrame = RawMeasurements.validate(pd.DataFrame({c: [] for c in RAW_COLUMNS}))
    return frame


def validate_measurements(raw: pd.DataFrame) -> Validated:
    """Split a raw frame into clean rows and rejected rows, each rejection with its reason.

    Reasons, first match wins: ``missing_value``, ``invalid_datetime``,
    ``unsupported_parameter``, ``unit_not_convertible``, ``placeholder_value`` (sentinels such
    as -999), ``negative_value``, ``out_of_range`` (outside the parameter's physical range after
    unit conversion), ``duplicate_hour`` (a second row for the same sensor and hour: the first
    is kept). Clean rows carry the canonical unit and converted value.
    """
    frame = RawMeasurements.validate(raw.reset_index(drop=True), lazy=True)
    original = frame.copy()
    parameter = frame["parameter"].astype("object").str.strip().str.lower()
    unit = _canonical_unit(frame["unit"])
    value = frame["value"]
    converted = _convert(parameter, unit, value)
    low = parameter.map(lambda p: PHYSICAL_RANGE.get(p, (np.nan, np.nan))[0]).astype("float64")
    high = parameter.map(lambda p: PHYSICAL_RANGE.get(p, (np.nan, np.nan))[1]).astype("float64")
    dt = frame["datetime"]

    reason = pd.Series(None, index=frame.index, dtype="object")

    def flag(mask: pd.Series, why: str) -> None:
        reason[mask.fillna(False).astype(bool) & reason.isna()] = why

    flag(value.isna() | ~np.isfinite(value.fillna(0.0)), "missing_value")
    flag(dt.isna() | (dt.dt.minute != 0) | (dt.dt.second != 0), "invalid_datetime")
    flag(~parameter.isin(list(CANONICAL_UNITS)), "unsupported_parameter")
    flag(converted.isna(), "unit_not_convertible")
    flag(value.isin(list(PLACEHOLDERS)), "placeholder_value")
    flag(parameter.isin(list(NON_NEGATIVE)) & (value < 0), "negative_value")
    flag((converted < low) | (converted > high), "out_of_range")
    candidate = reason.isna()
    duplicated = frame.loc[candidate].duplicated(subset=["sensor_id", "datetime"], keep="first")
    flag(duplicated.reindex(frame.index, fill_value=False), "duplicate_hour")

    keep = reason.isna()
    clean = frame.loc[keep].assign(
        parameter=parameter[keep],
        unit=parameter[keep].map(CANONICAL_UNITS),
        value=converted[keep],
    )
    clean = CleanMeasurements.validate(
        clean[list(RAW_COLUMNS)].astype({"parameter": str, "unit": str, "source": str}),
        lazy=True,
    ).reset_index(drop=True)
    rejected = original.loc[~keep].assign(reason=reason[~keep]).reset_index(drop=True)
    return Validated(clean=clean, rejected=rejected)
