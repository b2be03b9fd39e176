"""The US EPA Air Quality Index for particulate matter, and the NowCast.

Breakpoints are the EPA's of 6 May 2024 for PM2.5 (EPA-454/B-24-002, Table 6) and the
unchanged PM10 ones; ``docs/aqi.md`` lists them with their sources. The arithmetic follows the
EPA to the letter:

- a concentration is **truncated** (0.1 µg/m³ for PM2.5, 1 µg/m³ for PM10) before the lookup;
- the index is ``(I_hi - I_lo) / (BP_hi - BP_lo) x (C - BP_lo) + I_lo``, **rounded** to the
  nearest integer (halves up);
- the NowCast weights the last 12 hourly values by ``w ** (hours ago)`` with
  ``w = max(c_min / c_max, 0.5)``, is valid only when 2 of the 3 newest hours are present,
  uses the raw hourly values and is truncated like any concentration before its AQI is taken.

Decisions of ours (the EPA leaves them to the reporter):

- **Beyond the AQI.** Above the top breakpoint (325.4 µg/m³ PM2.5, 604 µg/m³ PM10) the index
  is not extrapolated and not capped: :attr:`Reading.aqi` is ``None`` and the category is
  ``"Beyond the AQI"`` (the EPA's own name for it).
- **Negative concentrations** (instrument noise around zero, a forecast's lower quantile) are
  taken as 0 µg/m³: AQI 0, "Good".
- **Truncation is decimal**: float noise below a millionth of the truncation step is ignored,
  so 9.1 (stored as 9.0999…) stays 9.1 and is not truncated to 9.0.
- Parameters other than ``pm25`` and ``pm10`` have no AQI here (:func:`has_aqi`).

Everything is exact integer arithmetic on truncated units (tenths of a µg/m³ for PM2.5), and the
scalar functions are the vectorised ones applied to one value, so a forecast batch and a single
reading can never disagree.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np


class AqiCategory(str, Enum):
    """The AQI categories, in increasing order of concern, and "Beyond the AQI"."""

    GOOD = "Good"
    MODERATE = "Moderate"
    UNHEALTHY_FOR_SENSITIVE_GROUPS = "Unhealthy for Sensitive Groups"
    UNHEALTHY = "Unhealthy"
    VERY_UNHEALTHY = "Very Unhealthy"
    HAZARDOUS = "Hazardous"
    BEYOND_THE_AQI = "Beyond the AQI"


CATEGORIES: tuple[AqiCategory, ...] = tuple(AqiCategory)
"""The categories by code: the code of a category is its position here."""

BEYOND = CATEGORIES.index(AqiCategory.BEYOND_THE_AQI)
"""The category code of a concentration above the top breakpoint."""

UNIT = "µg/m³"
"""The unit every breakpoint (and so every concentration given here) is in."""


@dataclass(frozen=True)
class Breakpoint:
    """One row of the breakpoint table, in truncated units (see :class:`Scale`)."""

    low: int
    high: int
    aqi_low: int
    aqi_high: int
    category: AqiCategory


@dataclass(frozen=True)
class Scale:
    """A pollutant's breakpoint table; concentrations are counted in ``units_per_ug`` units."""

    parameter: str
    units_per_ug: int  # 10: PM2.5 is truncated to 0.1 µg/m³; 1: PM10 to 1 µg/m³
    breakpoints: tuple[Breakpoint, ...]

    @property
    def ceiling(self) -> float:
        """The top breakpoint in µg/m³: above it is beyond the AQI."""
        return self.breakpoints[-1].high / self.units_per_ug


def _table(units: int, rows: Sequence[tuple[float, float, int, int]]) -> tuple[Breakpoint, ...]:
    table = tuple(
        Breakpoint(round(low * units), round(high * units), aqi_low, aqi_high, category)
        for (low, high, aqi_low, aqi_high), category in zip(rows, CATEGORIES, strict=False)
    )
    # every truncated concentration from 0 to the top falls in exactly one row
    if any(a.high + 1 != b.low for a, b in itertools.pairwise(table)):
        raise ValueError("breakpoint rows must be contiguous")
    return table


PM25 = Scale(
    "pm25",
    10,
    _table(
        10,
        [
            (0.0, 9.0, 0, 50),
            (9.1, 35.4, 51, 100),
            (35.5, 55.4, 101, 150),
            (55.5, 125.4, 151, 200),
            (125.5, 225.4, 201, 300),
            (225.5, 325.4, 301, 500),
        ],
    ),
)
"""PM2.5, 24-hour, µg/m³: the breakpoints effective 6 May 2024."""

PM10 = Scale(
    "pm10",
    1,
    _table(
        1,
        [
            (0, 54, 0, 50),
            (55, 154, 51, 100),
            (155, 254, 101, 150),
            (255, 354, 151, 200),
            (355, 424, 201, 300),
            (425, 604, 301, 500),
        ],
    ),
)
"""PM10, 24-hour, µg/m³ (unchanged in 2024)."""

_HUGE = 1.0e12

SCALES: dict[str, Scale] = {scale.parameter: scale for scale in (PM25, PM10)}


def has_aqi(parameter: str) -> bool:
    """Whether ``parameter`` has an AQI here (``pm25`` and ``pm10``)."""
    return parameter in SCALES


def scale_of(parameter: str) -> Scale:
    """The breakpoint table of ``parameter``; ValueError when it has no AQI."""
    try:
        return SCALES[parameter]
    except KeyError:
        raise ValueError(f"no AQI for {parameter!r}; only {', '.join(SCALES)}") from None


def truncated_units(concentrations: np.ndarray, scale: Scale) -> np.ndarray:
    """Concentrations (µg/m³) truncated to whole units of ``scale`` (int64; NaN, inf give 0).

    Negative concentrations become 0. Rounding to 6 decimals first drops the float noise of
    a decimal value (9.1 x 10 = 90.99999999999999), so the truncation is the decimal one.
    """
    values = np.asarray(concentrations, dtype=np.float64)
    # the upper bound only keeps the arithmetic finite (physical values are far below it)
    bounded = np.clip(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), 0.0, _HUGE)
    return np.floor(np.round(bounded * scale.units_per_ug, 6)).astype(np.int64)


@functools.cache
def _by_unit(scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """The AQI and category code of every truncated concentration 0 … top + 1 of ``scale``.

    The last entry stands for everything above the top breakpoint (beyond the AQI). The AQI
    equation is evaluated here, once per table, in exact integer arithmetic.
    """
    top = scale.breakpoints[-1].high
    units = np.arange(top + 2, dtype=np.int64)
    highs = np.asarray([row.high for row in scale.breakpoints], dtype=np.int64)
    row = np.minimum(np.searchsorted(highs, units), len(highs) - 1)  # first high >= units
    low = np.asarray([r.low for r in scale.breakpoints], dtype=np.int64)[row]
    high = highs[row]
    aqi_low = np.asarray([r.aqi_low for r in scale.breakpoints], dtype=np.int64)[row]
    aqi_high = np.asarray([r.aqi_high for r in scale.breakpoints], dtype=np.int64)[row]
    # aqi_low + (aqi_high - aqi_low) x (units - low) / (high - low), rounded half up, exactly
    num = (aqi_high - aqi_low) * (units - low)
    den = high - low
    aqi = aqi_low + (2 * num + den) // (2 * den)
    aqi[-1] = -1
    category = row.copy()
    category[-1] = BEYOND
    return aqi, category


def index_arrays(concentrations: np.ndarray, parameter: str) -> tuple[np.ndarray, np.ndarray]:
    """The AQI and category code of each concentration (µg/m³), vectorised.

    Returns ``(aqi, category)``, both int64: ``aqi`` is -1 where there is none (beyond the AQI,
    or no concentration: NaN or infinite), ``category`` indexes :data:`CATEGORIES` and is -1
    where there is no concentration.
    """
    scale = scale_of(parameter)
    values = np.asarray(concentrations, dtype=np.float64)
    aqi_by_unit, category_by_unit = _by_unit(scale)
    at = np.minimum(truncated_units(values, scale), len(aqi_by_unit) - 1)
    missing = ~np.isfinite(values)
    aqi = np.where(missing, -1, aqi_by_unit[at])
    category = np.where(missing, -1, category_by_unit[at])
    return aqi, category


@dataclass(frozen=True)
class Reading:
    """The AQI of one concentration."""

    concentration: float
    """The concentration as looked up: truncated, negative values as 0 (µg/m³)."""
    aqi: int | None
    """0-500; None beyond the AQI."""
    category: AqiCategory


def reading(concentration: float, parameter: str) -> Reading | None:
    """The AQI of one concentration (µg/m³) of ``parameter``; None for NaN or infinity.

    E.g. 35.9 µg/m³ of PM2.5 reads AQI 102, "Unhealthy for Sensitive Groups".
    """
    scale = scale_of(parameter)
    value = np.asarray([concentration], dtype=np.float64)
    aqi, category = index_arrays(value, parameter)
    if category[0] < 0:
        return None
    units = int(truncated_units(value, scale)[0])
    return Reading(
        concentration=units / scale.units_per_ug,
        aqi=None if aqi[0] < 0 else int(aqi[0]),
        category=CATEGORIES[int(category[0])],
    )


NOWCAST_HOURS = 12
"""Hours the NowCast looks back over (the newest included)."""


def nowcast(newest_first: Sequence[float | None]) -> float | None:
    """The EPA NowCast (µg/m³, not truncated) of up to 12 hourly concentrations.

    ``newest_first`` is c1 (the newest hour) … c12 (11 hours before it), None or NaN for a
    missing hour; values past the twelfth are ignored. Returns None when fewer than 2 of the
    3 newest hours have a value (the EPA's only completeness rule). With ``c_min``/``c_max``
    over the hours present, ``w = max(c_min / c_max, 0.5)`` (1 when ``c_max <= 0``, at most 1),
    and the NowCast is ``sum(w**(i-1) c_i) / sum(w**(i-1))`` over the hours present. Pass the
    result to :func:`reading` for its AQI (which truncates it as the EPA specifies).
    """
    hours = [
        (ago, float(value))
        for ago, value in enumerate(newest_first[:NOWCAST_HOURS])
        if value is not None and not math.isnan(value)
    ]
    if sum(1 for ago, _ in hours if ago < 3) < 2:
        return None
    values = [value for _, value in hours]
    low, high = min(values), max(values)
    weight = 1.0 if high <= 0 else min(1.0, max(low / high, 0.5))
    total = sum(weight**ago * value for ago, value in hours)
    norm = sum(weight**ago for ago, _ in hours)
    return total / norm
