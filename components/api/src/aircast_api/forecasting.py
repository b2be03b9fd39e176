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


def _recent_hours(measurements: pd.DataFrame, target: str, issue: pd.Timestamp) -> int:
    """Observed target hours in the window ending at ``issue`` (one location)."""
    rows = measurements[measurements["parameter"] == target]["datetime"]
    window = (rows > issue - pd.Timedelta(hours=RECENT_WINDOW_HOURS)) & (rows <= issue)
    return int(rows[window].nunique())


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
    if _recent_hours(measurements, spec.target, issue) < min_recent_hours:
        raise UnforecastableError(_too_short(spec.target, min_recent_hours))
    issue_times = pd.DataFrame({"location_id": [location.location_id], "issue_time": [issue]})
    predictions = _predict(served, measurements, location.frame(), issue_times, horizons)
    return _documents(predictions, served, parameter)[location.location_id]


def _too_short(target: str, min_recent_hours: int) -> str:
    return (
        f"history too short: at least {min_recent_hours} of the {RECENT_WINDOW_HOURS} hours up "
        f"to the newest {target} value must be observed"
    )


_HOUR_NS = 3_600_000_000_000


@dataclass(frozen=True)
class _History:
    """Caller-supplied series flattened to one row per (item, parameter, hour) with a value.

    ``item`` indexes the request's locations, ``code`` indexes the spec's parameters (0 is
    the target), ``hour`` counts hours since the epoch. Plain arrays: a 1,000-location batch
    is flattened without a pandas group-by.
    """

    item: np.ndarray
    code: np.ndarray
    hour: np.ndarray
    value: np.ndarray


def _flatten(items: Sequence[LocationHistory], parameters: tuple[str, ...]) -> _History:
    item_of_series: list[int] = []
    code_of_series: list[int] = []
    end_of_series: list[int] = []
    counts: list[int] = []
    values: list[float | None] = []
    overlapping = False
    earliest, latest = _EARLIEST.replace(tzinfo=None), _LATEST.replace(tzinfo=None)
    for index, item in enumerate(items):
        seen: set[str] = set()
        for series in item.history:
            if series.parameter not in parameters:
                continue
            overlapping |= series.parameter in seen
            seen.add(series.parameter)
            end = series.end.astimezone(UTC).replace(tzinfo=None)
            if not earliest <= end < latest:
                raise UnforecastableError(
                    f"locations.{index}: series end {series.end.isoformat()} is outside "
                    f"{_EARLIEST.year}..{_LATEST.year - 1}"
                )
            item_of_series.append(index)
            code_of_series.append(parameters.index(series.parameter))
            # Truncated to the hour: the value of hour-ending 10:00 may be stamped 10:00:59.
            end_of_series.append(int(np.datetime64(end, "h").astype(np.int64)))
            counts.append(len(series.values))
            values.extend(series.values)
    repeat = np.asarray(counts, dtype=np.int64)
    # Position of each value counted back from its series' end (0 = the end hour).
    back = np.repeat(np.cumsum(repeat), repeat) - np.arange(int(repeat.sum())) - 1
    history = _History(
        item=np.repeat(np.asarray(item_of_series, dtype=np.int64), repeat),
        code=np.repeat(np.asarray(code_of_series, dtype=np.int64), repeat),
        hour=np.repeat(np.asarray(end_of_series, dtype=np.int64), repeat) - back,
        value=np.asarray(values, dtype=float),
    )
    keep = ~np.isnan(history.value)
    if overlapping:
        # A later series of the same parameter overrides an earlier one hour by hour.
        key = pd.DataFrame({"i": history.item, "c": history.code, "h": history.hour})
        keep &= ~key.duplicated(keep="last").to_numpy()
    return _History(history.item[keep], history.code[keep], history.hour[keep], history.value[keep])


def _rounds(location_ids: list[int]) -> list[int]:
    """Round of each item: the n-th occurrence of a location id goes to round n."""
    seen: dict[int, int] = {}
    rounds = []
    for location_id in location_ids:
        rounds.append(seen.get(location_id, 0))
        seen[location_id] = rounds[-1] + 1
    return rounds


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
    parameters = np.asarray(spec.parameters, dtype=object)
    history = _flatten(items, spec.parameters)
    count = len(items)
    is_target = history.code == 0
    # Issue time per item: its newest target hour (-1: no target value at all).
    issue = np.full(count, -1, dtype=np.int64)
    np.maximum.at(issue, history.item[is_target], history.hour[is_target])
    row_issue = issue[history.item]
    recent = np.bincount(
        history.item[is_target & (history.hour > row_issue - RECENT_WINDOW_HOURS)],
        minlength=count,
    )
    results: list[dict[str, Any] | str] = []
    usable = np.zeros(count, dtype=bool)
    for index in range(count):
        if issue[index] < 0:
            results.append(f"no {spec.target} values in the history")
        elif recent[index] < min_recent_hours:
            results.append(_too_short(spec.target, min_recent_hours))
        else:
            results.append("")
            usable[index] = True
    if not usable.any():
        return results
    reach = history_hours(spec)
    in_window = (
        usable[history.item] & (history.hour > row_issue - reach) & (history.hour <= row_issue)
    )
    location_ids = np.asarray([item.location_id for item in items], dtype=np.int64)
    round_of_item = np.asarray(_rounds(location_ids.tolist()), dtype=np.int64)
    for round_number in np.unique(round_of_item[usable]):
        chosen = np.flatnonzero(usable & (round_of_item == round_number))
        picked: list[int] = chosen.tolist()
        rows = in_window & (round_of_item[history.item] == round_number)
        measurements = pd.DataFrame(
            {
                "location_id": location_ids[history.item[rows]],
                "parameter": parameters[history.code[rows]],
                "datetime": pd.DatetimeIndex(history.hour[rows] * _HOUR_NS, tz="UTC"),
                "value": history.value[rows],
            }
        )
        locations = pd.DataFrame(
            {
                "location_id": location_ids[chosen],
                "latitude": np.asarray([items[i].latitude for i in picked], dtype=np.float64),
                "longitude": np.asarray([items[i].longitude for i in picked], dtype=np.float64),
                "timezone": [items[i].timezone for i in picked],
            }
        )
        issue_times = pd.DataFrame(
            {
                "location_id": location_ids[chosen],
                "issue_time": pd.DatetimeIndex(issue[chosen] * _HOUR_NS, tz="UTC"),
            }
        )
        predictions = _predict(served, measurements, locations, issue_times, horizons)
        documents = _documents(predictions, served, parameter)
        for i in picked:
            results[i] = documents[int(location_ids[i])]
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
