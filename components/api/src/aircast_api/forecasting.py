"""From history to forecasts: the thin path between the routes and ``aircast``.

Features come only from :func:`aircast.features.build_features` (the function training uses);
predictions only from the served model's ``Forecaster.predict``. This module shapes inputs for
them and turns their output into response documents, vectorised for batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from aircast.features import FeatureSpec, build_features, history_hours
from aircast_api.lifecycle import Served
from aircast_api.models import LocationHistory

# Hours with an observed target, among the 24 up to the issue time, below which the API
# answers 409 instead of forecasting from mostly imputed inputs.
RECENT_WINDOW_HOURS = 24
# pandas timestamps end in 2262; history outside this span is refused as unusable.
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class UnforecastableError(Exception):
    """The history given or stored cannot produce a forecast (too short, empty, out of range)."""


@dataclass(frozen=True)
class HorizonRange:
    """An inclusive range of hours ahead, parsed from ``"6"`` or ``"1..24"``."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> HorizonRange:
        """Parse the (already pattern-checked) query/body value; the order of ends is free."""
        ends = [int(part) for part in text.split("..")]
        return cls(min(ends), max(ends))


def spec_of(served: Served) -> FeatureSpec:
    """The feature spec the served model was trained with."""
    spec: FeatureSpec = served.model.forecaster.spec
    return spec


def _iso(times: Any) -> list[str]:
    """UTC ISO-8601 strings (``...Z``) for an array of datetimes, vectorised."""
    values = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_numpy("datetime64[s]")
    return [text + "Z" for text in np.datetime_as_string(values, unit="s").tolist()]


def _check_recent(
    measurements: pd.DataFrame, target: str, issues: pd.Series, min_recent_hours: int
) -> pd.Series:
    """Per location: the number of observed target hours in the window ending at its issue."""
    target_rows = measurements[measurements["parameter"] == target]
    issue = target_rows["location_id"].map(issues)
    recent = (
        target_rows[target_rows["datetime"] > issue - pd.Timedelta(hours=RECENT_WINDOW_HOURS)]
        .groupby("location_id")["datetime"]
        .nunique()
    )
    return recent.reindex(issues.index, fill_value=0) >= min_recent_hours


def _predict(
    served: Served,
    measurements: pd.DataFrame,
    locations: pd.DataFrame,
    issue_times: pd.DataFrame,
    horizons: HorizonRange,
) -> pd.DataFrame:
    features = build_features(measurements, locations, spec_of(served), issue_times=issue_times)
    predictions: pd.DataFrame = served.model.forecaster.predict(features)
    keep = predictions["horizon"].between(horizons.first, horizons.last)
    return predictions[keep].sort_values(["location_id", "horizon"], kind="stable")


def _documents(
    predictions: pd.DataFrame, served: Served, parameter: str
) -> dict[int, dict[str, Any]]:
    """One forecast document per location id of ``predictions`` (unique ids)."""
    if predictions.empty:
        return {}
    ids = predictions["location_id"].to_numpy(dtype=np.int64)
    horizon = predictions["horizon"].to_numpy(dtype=np.int64).tolist()
    target = _iso(predictions["target_time"])
    issue = _iso(predictions["issue_time"])
    point = predictions["point"].to_numpy(dtype=float).tolist()
    low = predictions["p10"].to_numpy(dtype=float).tolist()
    high = predictions["p90"].to_numpy(dtype=float).tolist()
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    unit = str(served.model.unit)
    version = served.version
    documents: dict[int, dict[str, Any]] = {}
    for start, stop in itertools.pairwise(bounds.tolist()):
        documents[int(ids[start])] = {
            "location_id": int(ids[start]),
            "parameter": parameter,
            "unit": unit,
            "model_version": version,
            "issue_time": issue[start],
            "forecasts": [
                {
                    "horizon": horizon[i],
                    "target_time": target[i],
                    "point": point[i],
                    # CatBoost quantiles are fitted separately; order them for the reader.
                    "p10": min(low[i], high[i]),
                    "p90": max(low[i], high[i]),
                }
                for i in range(start, stop)
            ],
        }
    return documents


def forecast_stored(
    served: Served,
    parameter: str,
    location: Any,
    measurements: pd.DataFrame,
    horizons: HorizonRange,
    min_recent_hours: int,
) -> dict[str, Any]:
    """The forecast of one stored location from the history read for it.

    ``location`` is a :class:`aircast_api.history.StoredLocation` whose ``latest_datetime`` is
    the issue time. Raises :class:`UnforecastableError` when the history is too short.
    """
    spec = spec_of(served)
    if location.latest_datetime is None:
        raise UnforecastableError(
            f"location {location.location_id} has no {spec.target} measurements"
        )
    issue = pd.Timestamp(location.latest_datetime).tz_convert("UTC").floor("h")
    issues = pd.Series([issue], index=[location.location_id])
    if not _check_recent(measurements, spec.target, issues, min_recent_hours).iloc[0]:
        raise UnforecastableError(_too_short(spec.target, min_recent_hours))
    issue_times = pd.DataFrame({"location_id": [location.location_id], "issue_time": [issue]})
    predictions = _predict(served, measurements, location.frame(), issue_times, horizons)
    return _documents(predictions, served, parameter)[location.location_id]


def _too_short(target: str, min_recent_hours: int) -> str:
    return (
        f"history too short: at least {min_recent_hours} of the {RECENT_WINDOW_HOURS} hours up "
        f"to the newest {target} value must be observed"
    )


def _long_frame(items: Sequence[LocationHistory], parameters: tuple[str, ...]) -> pd.DataFrame:
    """Caller-supplied series as the long measurement frame (row = item, parameter, hour)."""
    item_of_series: list[int] = []
    code_of_series: list[int] = []
    end_of_series: list[np.datetime64] = []
    counts: list[int] = []
    values: list[float | None] = []
    earliest, latest = _EARLIEST.replace(tzinfo=None), _LATEST.replace(tzinfo=None)
    for index, item in enumerate(items):
        for series in item.history:
            if series.parameter not in parameters:
                continue
            end = series.end.astimezone(UTC).replace(tzinfo=None)
            if not earliest <= end < latest:
                raise UnforecastableError(
                    f"locations.{index}: series end {series.end.isoformat()} is outside "
                    f"{_EARLIEST.year}..{_LATEST.year - 1}"
                )
            item_of_series.append(index)
            code_of_series.append(parameters.index(series.parameter))
            # Truncating to the hour: the value of hour-ending 10:00 may be stamped 10:00:59.
            end_of_series.append(np.datetime64(end, "h"))
            counts.append(len(series.values))
            values.extend(series.values)
    repeat = np.asarray(counts, dtype=np.int64)
    total = int(repeat.sum())
    # Position of each value within its series, counted back from the end (0 = end).
    back = np.repeat(np.cumsum(repeat), repeat) - np.arange(total) - 1
    ends = np.repeat(np.asarray(end_of_series, dtype="datetime64[h]"), repeat)
    frame = pd.DataFrame(
        {
            "item": np.repeat(np.asarray(item_of_series, dtype=np.int64), repeat),
            "parameter": np.asarray(parameters, dtype=object)[
                np.repeat(np.asarray(code_of_series, dtype=np.int64), repeat)
            ],
            "datetime": pd.DatetimeIndex(
                (ends - back.astype("timedelta64[h]")).astype("datetime64[ns]"), tz="UTC"
            ),
            "value": np.asarray(values, dtype=float),
        }
    )
    frame = frame[~np.isnan(frame["value"].to_numpy())]
    # A later series of the same parameter overrides an earlier one hour by hour.
    deduplicated: pd.DataFrame = frame.drop_duplicates(
        ["item", "parameter", "datetime"], keep="last"
    )
    return deduplicated


def forecast_histories(
    served: Served,
    parameter: str,
    items: Sequence[LocationHistory],
    horizons: HorizonRange,
    min_recent_hours: int,
) -> list[dict[str, Any] | str]:
    """Forecasts for caller-supplied histories, in request order.

    Each result is a forecast document, or a string saying why that item has none. All items
    go through one ``build_features`` and one ``predict`` call; a location id repeated in the
    request adds one more round per repetition (features are keyed by location id).
    """
    spec = spec_of(served)
    frame = _long_frame(items, spec.parameters)
    results: list[dict[str, Any] | str] = [f"no {spec.target} values in the history" for _ in items]
    target = frame[frame["parameter"] == spec.target]
    issues_by_item = target.groupby("item")["datetime"].max()
    if issues_by_item.empty:
        return results
    recent_ok = _check_recent(
        frame.rename(columns={"item": "location_id"}), spec.target, issues_by_item, min_recent_hours
    )
    reach = pd.Timedelta(hours=history_hours(spec))
    usable: list[int] = []
    for index in issues_by_item.index:
        if recent_ok.loc[index]:
            usable.append(int(index))
        else:
            results[int(index)] = _too_short(spec.target, min_recent_hours)
    if not usable:
        return results
    ids = np.array([items[i].location_id for i in usable], dtype=np.int64)
    rounds = pd.Series(ids).groupby(ids).cumcount().to_numpy()
    for round_number in np.unique(rounds):
        chosen = [usable[k] for k in np.flatnonzero(rounds == round_number)]
        rows = frame[frame["item"].isin(chosen)]
        issue = rows["item"].map(issues_by_item)
        rows = rows[rows["datetime"] > issue - reach]
        location_of = {i: items[i].location_id for i in chosen}
        measurements = pd.DataFrame(
            {
                "location_id": rows["item"].map(location_of).astype("int64"),
                "parameter": rows["parameter"],
                "datetime": rows["datetime"],
                "value": rows["value"],
            }
        )
        locations = pd.DataFrame(
            {
                "location_id": [items[i].location_id for i in chosen],
                "latitude": [items[i].latitude for i in chosen],
                "longitude": [items[i].longitude for i in chosen],
                "timezone": [items[i].timezone for i in chosen],
            }
        ).astype({"location_id": "int64", "latitude": "float64", "longitude": "float64"})
        issue_times = pd.DataFrame(
            {
                "location_id": locations["location_id"],
                "issue_time": [issues_by_item.loc[i] for i in chosen],
            }
        )
        predictions = _predict(served, measurements, locations, issue_times, horizons)
        documents = _documents(predictions, served, parameter)
        for i in chosen:
            results[i] = documents[items[i].location_id]
    return results


def stale_seconds(served: Served, now: datetime | None = None) -> float | None:
    """Seconds since the served model was trained (None when unknown)."""
    trained_at = getattr(served.model, "trained_at", None)
    if trained_at is None:
        return None
    moment = now or datetime.now(UTC)
    if trained_at.tzinfo is None:
        trained_at = trained_at.replace(tzinfo=UTC)
    return max(0.0, float((moment - trained_at) / timedelta(seconds=1)))
