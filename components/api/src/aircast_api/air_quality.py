"""The AQI in responses: the schemas, and the forecast horizons' hourly-equivalent AQI.

Every number comes from :mod:`aircast.aqi`; this module only renders it. A forecast hour's
AQI is an *hourly equivalent* (the EPA's AQI for particulate matter is a 24-hour mean, and its
"current" AQI is the NowCast): the schema says so, and every rendered object carries
``"basis": "hourly_equivalent"``.
"""

from __future__ import annotations

import datetime as dt
import functools
from enum import Enum
from typing import Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from aircast import aqi
from aircast.aqi import AqiCategory


class AqiParameter(str, Enum):
    """The parameters with an AQI, and so a NowCast: pm25 and pm10."""

    PM25 = "pm25"
    PM10 = "pm10"


_AQI_DESCRIPTION = (
    "US EPA AQI, 0-500 (2024 PM2.5 breakpoints; PM10 unchanged); null when the concentration "
    'is above the top breakpoint (325.4 µg/m³ PM2.5, 604 µg/m³ PM10): category "Beyond the AQI".'
)


class AqiReading(BaseModel):
    """The AQI and category of one concentration."""

    model_config = ConfigDict(extra="forbid")

    aqi: int | None = Field(ge=0, le=500, description=_AQI_DESCRIPTION)
    category: AqiCategory


class HourlyAqi(BaseModel):
    """The hourly-equivalent AQI of a forecast hour's point and interval.

    Not the official AQI, which for particulate matter is a 24-hour mean: the index of one
    forecast hour's concentration, as if it were that mean. Null for parameters without an
    AQI (anything but pm25 and pm10).
    """

    model_config = ConfigDict(extra="forbid")

    basis: Literal["hourly_equivalent"] = Field(
        description="Always `hourly_equivalent`: the index of one hour's concentration, not "
        "the official 24-hour AQI."
    )
    point: AqiReading | None = Field(description="Of `point`; null if `point` is null.")
    p10: AqiReading | None = Field(description="Of `p10`; null if `p10` is null.")
    p90: AqiReading | None = Field(description="Of `p90`; null if `p90` is null.")


class NowCast(BaseModel):
    """The EPA NowCast of a stored location: its current AQI."""

    model_config = ConfigDict(extra="forbid")

    location_id: int
    parameter: AqiParameter
    unit: Literal["µg/m³"]
    time: dt.datetime = Field(
        description="Hour-ending UTC time of the newest stored value (the NowCast's hour c1)."
    )
    hours: int = Field(
        ge=2, le=12, description="Hours with a value among the 12 up to `time` (at least 2)."
    )
    concentration: float = Field(
        ge=0,
        description="The NowCast, truncated as the EPA specifies (0.1 µg/m³ PM2.5, 1 µg/m³ "
        "PM10); negative hourly values (instrument noise) count as 0.",
    )
    aqi: int | None = Field(ge=0, le=500, description=_AQI_DESCRIPTION)
    category: AqiCategory


# ---------------------------------------------------------------- forecast horizons

HOURLY_AQI_TEMPLATE = '{"basis":"hourly_equivalent","point":%s,"p10":%s,"p90":%s}'
"""The JSON of a :class:`HourlyAqi`, with ``%s`` for the three rendered :class:`AqiReading`."""

_INDICES = 502  # AQI -1 (none) .. 500


@functools.lru_cache(maxsize=1)
def _reading_table() -> np.ndarray:
    """The JSON of every possible :class:`AqiReading`, at ``(category + 1) x 502 + aqi + 1``.

    Category -1 (no concentration) renders as null; AQI -1 (beyond the AQI) as ``"aqi":null``.
    """
    table = np.empty((len(aqi.CATEGORIES) + 1) * _INDICES, dtype=object)
    table[:_INDICES] = b"null"
    for code, category in enumerate(aqi.CATEGORIES):
        for index in range(-1, _INDICES - 1):
            table[(code + 1) * _INDICES + index + 1] = orjson.dumps(
                {"aqi": None if index < 0 else index, "category": category.value}
            )
    return table


def horizon_readings(
    parameter: str, point: np.ndarray, p10: np.ndarray, p90: np.ndarray
) -> np.ndarray | None:
    """The rendered :class:`AqiReading` of each value, or None for a parameter without an AQI.

    The arrays hold one concentration per (location, horizon), location major; the result is
    an ``(n, 3)`` object array of JSON bytes (point, p10, p90 of each row), looked up in a table
    of every possible reading: no Python work per value, a few milliseconds for a batch.
    """
    if not aqi.has_aqi(parameter):
        return None
    values = np.column_stack([point, p10, p90]).ravel()
    index, category = aqi.index_arrays(values, parameter)
    readings: np.ndarray = _reading_table()[(category + 1) * _INDICES + index + 1]
    return readings.reshape(-1, 3)


# ---------------------------------------------------------------- NowCast


class NowCastUnavailableError(Exception):
    """The stored hours do not allow a NowCast (the message says why)."""


def stored_nowcast(
    location_id: int,
    parameter: str,
    newest: dt.datetime,
    hours: np.ndarray,
    values: np.ndarray,
) -> NowCast:
    """The NowCast of a stored location at the hour of its newest value ``newest``.

    ``hours`` (hours since the epoch) and ``values`` are its hourly series of ``parameter``
    over the 12 hours up to ``newest``, as :meth:`aircast_api.history.HistoryReader.
    forecast_input` reads them (NaN for a NULL value). Raises :class:`NowCastUnavailableError`
    when fewer than 2 of the 3 newest hours have a value.
    """
    issue = int(newest.timestamp() // 3600)
    newest_first: list[float | None] = [None] * aqi.NOWCAST_HOURS
    for hour, value in zip(np.asarray(hours).tolist(), np.asarray(values).tolist(), strict=True):
        ago = issue - int(hour)
        if 0 <= ago < aqi.NOWCAST_HOURS:
            newest_first[ago] = value
    concentration = aqi.nowcast(newest_first)
    present = [value is not None and np.isfinite(value) for value in newest_first]
    if concentration is None:
        raise NowCastUnavailableError(
            f"no NowCast for location {location_id}: {parameter} values are needed in 2 of the "
            f"3 hours up to its newest value ({_iso(issue)}); {sum(present[:3])} of them have one"
        )
    got = aqi.reading(concentration, parameter)
    if got is None:  # pragma: no cover - the NowCast of finite values is finite
        raise NowCastUnavailableError(f"no NowCast for location {location_id}")
    return NowCast(
        location_id=location_id,
        parameter=AqiParameter(parameter),
        unit=aqi.UNIT,
        time=dt.datetime.fromtimestamp(issue * 3600, tz=dt.UTC),
        hours=sum(present),
        concentration=got.concentration,
        aqi=got.aqi,
        category=got.category,
    )


def _iso(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
