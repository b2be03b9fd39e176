"""Raw readings → hour-ending hourly means, the way OpenAQ's ``/hours`` reports them.

Low-cost sensors (AirGradient, PurpleAir) report every few minutes; the archive and Explorer
exports carry those readings as they came. aircast stores one value per sensor and hour-ending
UTC hour, so readings are averaged first:

* a reading stamped ``t`` belongs to the hour ending ``ceil(t, hour)``: 10:00:00 ends the hour
  09:00-10:00 (OpenAQ's period-ending convention), 10:00:01 falls in the hour ending 11:00;
* times are read with their offset and binned in UTC, so DST days (23 or 25 local hours) and
  offsets of half an hour need nothing special;
* each reading is screened first (:func:`aircast.schemas.screen_rows`): a placeholder, a
  negative or an out-of-range value is rejected on its own, with its reason, instead of
  dragging the mean; the mean is taken over the readings that passed, in the canonical unit;
* ``coverage_count`` is the number of readings averaged.

The result is an ordinary raw frame (one mean per sensor and hour, plus the screened-out
readings at their hour) that goes through the same validation and store as every other source.
"""

from __future__ import annotations

import pandas as pd

from aircast.schemas import RAW_COLUMNS, RawMeasurements, empty_raw, screen_rows

_KEYS = ["location_id", "sensor_id", "parameter", "unit", "source", "datetime"]


def hour_ending(times: pd.Series) -> pd.Series:
    """The hour-ending UTC hour each instant belongs to (an instant on the hour ends it)."""
    utc = pd.to_datetime(times, utc=True)
    return utc.dt.ceil("h")


def hour_ending_means(readings: pd.DataFrame) -> pd.DataFrame:
    """Average raw readings (any spacing) into hour-ending hours, with their count.

    ``readings`` has the raw columns with ``datetime`` the exact UTC time of each reading.
    Returns a raw frame: per (sensor, hour) the mean of the readings that passed screening, in
    the parameter's canonical unit, with ``coverage_count`` readings; and every reading that
    failed screening, stamped with its hour, for validation to reject with the same reason.
    Rows are ordered by sensor and hour.
    """
    if readings.empty:
        return empty_raw()
    staged = RawMeasurements.validate(readings[list(RAW_COLUMNS)].reset_index(drop=True))
    staged["datetime"] = hour_ending(staged["datetime"])
    screened = screen_rows(staged)
    good = screened.reason.isna()
    passed = screened.frame.loc[good].assign(
        parameter=screened.parameter[good],
        unit=screened.unit[good],
        value=screened.value[good],
    )
    means = (
        passed.groupby(_KEYS, sort=True, dropna=False)
        .agg(value=("value", "mean"), coverage_count=("value", "size"))
        .reset_index()
    )
    failed = screened.frame.loc[~good]
    out = pd.concat(
        [frame for frame in (means[list(RAW_COLUMNS)], failed[list(RAW_COLUMNS)]) if len(frame)],
        ignore_index=True,
    )
    out = out.sort_values(["sensor_id", "datetime"], kind="stable", na_position="last")
    validated: pd.DataFrame = RawMeasurements.validate(out.reset_index(drop=True))
    return validated
