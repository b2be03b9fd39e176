"""From history to forecasts: the thin path between the routes and ``aircast``.

Features come only from :func:`aircast.features.window_features` (the serving entry of the
feature builder training uses: same function, bit-identical values); predictions only from
the served model's ``Forecaster.predict_columns``. This module puts the history on each
location's hourly window, and turns the forecasts into response documents. Plain arrays from
request to response: no pandas frame is built on the hot path, so a single forecast costs
about a millisecond of CPU and a 1,000-location batch stays one vectorised predict.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd

from aircast.features import (
    FeatureSpec,
    scatter_windows,
    series_windows,
    weather_windows,
    window_features,
)
from aircast.forecaster import Forecaster
from aircast_api.air_quality import HOURLY_AQI_TEMPLATE, horizon_readings
from aircast_api.history import StoredLocation
from aircast_api.lifecycle import Served
from aircast_api.models import LocationHistory

# Hours with an observed target, among the 24 up to the issue time, below which the API
# answers 409 instead of forecasting from mostly imputed inputs.
RECENT_WINDOW_HOURS = 24
# pandas timestamps end in 2262; history outside this span is refused as unusable.
_EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_EARLIEST_HOUR = int(_EARLIEST.timestamp()) // 3600
_LATEST_HOUR = int(_LATEST.timestamp()) // 3600


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
    return served.model.forecaster.spec


def _forecaster(served: Served) -> Forecaster:
    return served.model.forecaster


def _iso_hours(hours: np.ndarray) -> list[str]:
    """UTC ISO-8601 strings (``...Z``) for hours since the epoch, vectorised.

    A batch has few distinct hours (24 target hours when every location shares its issue
    time), so each distinct hour is formatted once.
    """
    unique, inverse = np.unique(np.asarray(hours, dtype=np.int64), return_inverse=True)
    stamps = unique.astype("datetime64[h]").astype("datetime64[s]")
    texts = [text + "Z" for text in np.datetime_as_string(stamps, unit="s").tolist()]
    return [texts[i] for i in inverse.tolist()]


@dataclass(frozen=True)
class Windows:
    """Locations to forecast: their hourly windows and what the features need besides."""

    windows: np.ndarray  # (n, parameters, history_hours(spec))
    issue_hour: np.ndarray  # hours since the epoch, per location
    location_id: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    timezone: np.ndarray
    # (n, weather covariates, horizons + 1) as known at each issue time (None: no weather)
    weather: np.ndarray | None = None

    @classmethod
    def concat(cls, parts: Sequence[Windows]) -> Windows:
        """The locations of ``parts``, in order, as one batch."""
        if len(parts) == 1:
            return parts[0]
        weather = None
        shapes = [p.weather.shape[1:] for p in parts if p.weather is not None]
        if shapes:
            weather = np.concatenate(
                [
                    p.weather
                    if p.weather is not None
                    else np.full((len(p.location_id), *shapes[0]), np.nan)
                    for p in parts
                ]
            )
        return cls(
            weather=weather,
            windows=np.concatenate([part.windows for part in parts]),
            issue_hour=np.concatenate([part.issue_hour for part in parts]),
            location_id=np.concatenate([part.location_id for part in parts]),
            latitude=np.concatenate([part.latitude for part in parts]),
            longitude=np.concatenate([part.longitude for part in parts]),
            timezone=np.concatenate([part.timezone for part in parts]),
        )


def forecast_windows(
    served: Served, parameter: str, batch: Windows, horizons: HorizonRange
) -> list[dict[str, Any]]:
    """One forecast document per window, in order: one feature pass, one predict."""
    forecaster = _forecaster(served)
    spec = forecaster.spec
    cols = window_features(
        batch.windows,
        (batch.issue_hour * 3600).astype("datetime64[s]"),
        batch.location_id,
        batch.latitude,
        batch.longitude,
        batch.timezone,
        spec,
        batch.weather,
    )
    wanted = range(horizons.first, min(horizons.last, spec.horizons) + 1)
    out = forecaster.predict_columns(cols, horizons=wanted)
    return render_documents(
        parameter,
        str(served.model.unit),
        served.version,
        batch.location_id,
        batch.issue_hour,
        list(wanted),
        out.point,
        out.p10,
        out.p90,
    )


def render_documents(
    parameter: str,
    unit: str,
    version: int,
    location_id: np.ndarray,
    issue_hour: np.ndarray,
    horizons: list[int],
    point: np.ndarray,
    p10: np.ndarray,
    p90: np.ndarray,
) -> list[dict[str, Any]]:
    """Forecast documents, one per location, from values location major, horizon minor.

    Computed and archived forecasts both render here, so they are byte-identical.
    """
    rows = _rendered_rows(point, p10, p90, issue_hour, horizons, parameter)
    issue = _iso_hours(issue_hour)
    return [
        {
            "location_id": location,
            "parameter": parameter,
            "unit": unit,
            "model_version": version,
            "issue_time": issue[index],
            "forecasts": rows[index],
        }
        for index, location in enumerate(location_id.tolist())
    ]


def _rendered_rows(
    point: np.ndarray,
    p10: np.ndarray,
    p90: np.ndarray,
    issue_hour: np.ndarray,
    horizons: list[int],
    parameter: str,
) -> list[orjson.Fragment]:
    """Each location's ``forecasts`` array, rendered as JSON.

    ``point``, ``p10`` and ``p90`` hold one value per (location, horizon), location major.
    The numbers go through orjson in one pass (as it renders a Python float: shortest
    round-trip form, NaN as null); each location's array is then one %-format of the
    (cached) template of its issue hour. The 24,000 horizon objects of a 1,000-location batch
    are never built as dicts: ~10 ms instead of ~15; one location's rows take ~25 µs instead
    of ~100. Each row's hourly-equivalent AQI readings come from
    :func:`aircast_api.air_quality.horizon_readings` (``aqi`` is null for a parameter without
    an AQI).
    """
    per = len(horizons)
    if len(issue_hour) == 0 or per == 0:
        return [orjson.Fragment(b"[]") for _ in range(len(issue_hour))]
    numbers = np.column_stack([point, p10, p90]).ravel()
    texts = orjson.dumps(numbers, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    wanted = tuple(horizons)
    size = 3 * per
    readings = horizon_readings(parameter, point, p10, p90)
    if readings is None:
        return [
            orjson.Fragment(
                _rows_template(hour, wanted, False) % tuple(texts[i * size : (i + 1) * size])
            )
            for i, hour in enumerate(issue_hour.tolist())
        ]
    # Two formats, each from one contiguous slice: the numbers fill the template, whose AQI
    # placeholders are escaped (%%s) until then; the readings fill those.
    aqi_texts = readings.ravel().tolist()
    return [
        orjson.Fragment(
            _rows_template(hour, wanted, True)
            % tuple(texts[i * size : (i + 1) * size])
            % tuple(aqi_texts[i * size : (i + 1) * size])
        )
        for i, hour in enumerate(issue_hour.tolist())
    ]


@functools.lru_cache(maxsize=1024)
def _rows_template(issue_hour: int, horizons: tuple[int, ...], with_aqi: bool) -> bytes:
    """The ``forecasts`` array of one issue hour, with ``%s`` for point, p10 and p90, and
    (``with_aqi``) ``%%s`` for their AQI readings, filled by a second format; without, ``aqi``
    is null."""
    targets = _iso_hours(np.asarray(horizons, dtype=np.int64) + issue_hour)
    hourly = HOURLY_AQI_TEMPLATE.replace("%s", "%%s") if with_aqi else "null"
    rows = (
        f'{{"horizon":{h},"target_time":"{t}","point":%s,"p10":%s,"p90":%s,"aqi":{hourly}}}'
        for h, t in zip(horizons, targets, strict=True)
    )
    return ("[" + ",".join(rows) + "]").encode()


def stored_windows(
    served: Served,
    location: StoredLocation,
    series: Mapping[str, tuple[np.ndarray, np.ndarray]],
    min_recent_hours: int,
    weather: pd.DataFrame | None = None,
) -> Windows:
    """The window of one stored location, from the history read for it.

    ``weather``: the location's stored weather forecast as of the issue time
    (:func:`aircast.weather.store.forecasts_as_of`), for a model with weather covariates.

    The hour of ``location.latest_datetime`` is the issue time; ``series`` maps a parameter to
    its (hours since the epoch, values) arrays, as
    :meth:`aircast_api.history.HistorySession.series` reads them. Raises
    :class:`UnforecastableError` when the history is too short.
    """
    spec = spec_of(served)
    if location.latest_datetime is None:
        raise UnforecastableError(
            f"location {location.location_id} has no {spec.target} measurements"
        )
    issue = _hour(location.latest_datetime)
    known = [(code, series[name]) for code, name in enumerate(spec.parameters) if name in series]
    if known:
        code = np.concatenate([np.full(len(hours), c, np.int64) for c, (hours, _) in known])
        back = issue - np.concatenate([hours for _, (hours, _) in known])
        value = np.concatenate([values for _, (_, values) in known])
    else:
        code = back = np.zeros(0, np.int64)
        value = np.zeros(0, np.float64)
    windows = scatter_windows(np.zeros(len(code), np.int64), code, back, value, 1, spec)
    recent = int(np.count_nonzero(~np.isnan(windows[0, 0, -RECENT_WINDOW_HOURS:])))
    if recent < min_recent_hours:
        raise UnforecastableError(_too_short(spec.target, min_recent_hours))
    return Windows(
        windows=windows,
        issue_hour=np.asarray([issue], dtype=np.int64),
        location_id=np.asarray([location.location_id], dtype=np.int64),
        latitude=np.asarray([location.latitude], dtype="float64"),
        longitude=np.asarray([location.longitude], dtype="float64"),
        timezone=np.asarray([location.timezone], dtype=object),
        weather=weather_windows(
            weather,
            np.asarray([location.location_id], dtype=np.int64),
            _hours_index([issue]),
            spec,
        )
        if spec.weather
        else None,
    )


def _hours_index(hours: Sequence[int] | np.ndarray) -> pd.DatetimeIndex:
    """Hours since the epoch as a UTC DatetimeIndex."""
    return pd.DatetimeIndex(
        np.asarray(hours, dtype=np.int64).astype("datetime64[h]").astype("datetime64[ns]"),
        tz="UTC",
    )


def body_weather(
    items: Sequence[LocationHistory], picked: Sequence[int], issue_hour: np.ndarray
) -> pd.DataFrame:
    """The request's weather forecasts as forecast rows issued at each item's issue time.

    ``location_id`` is the row's position in ``picked`` (a request may repeat a location id);
    ``target_time`` is ``weather.start`` + i hours. The caller states what it knows at the
    issue time, so the rows are stamped with it and go through the one as-of rule.
    """
    frames = []
    for row, (index, issue) in enumerate(zip(picked, issue_hour.tolist(), strict=True)):
        given = items[index].weather
        if given is None:
            continue
        columns = {
            name: values for name, values in given.model_dump(exclude={"start"}).items() if values
        }
        if not columns:
            continue
        length = max(len(v) for v in columns.values())
        start = int(given.start.timestamp() // 3600)
        if not _EARLIEST_HOUR <= start < _LATEST_HOUR:
            raise UnforecastableError(
                f"locations.{index}: weather.start {given.start.isoformat()} is outside "
                f"{_EARLIEST.year}..{_LATEST.year - 1}"
            )
        frame = pd.DataFrame(
            {
                name: np.asarray(values + [None] * (length - len(values)), dtype="float64")
                for name, values in columns.items()
            }
        )
        frame.insert(0, "issued_at", _hours_index([issue] * length))
        frame.insert(0, "target_time", _hours_index(np.arange(start, start + length)))
        frame.insert(0, "location_id", row)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["location_id", "target_time", "issued_at"])
    return pd.concat(frames, ignore_index=True)


def _hour(moment: datetime) -> int:
    """Hours since the epoch of the hour containing ``moment`` (UTC)."""
    return int(moment.timestamp() // 3600)


def _too_short(target: str, min_recent_hours: int) -> str:
    return (
        f"history too short: at least {min_recent_hours} of the {RECENT_WINDOW_HOURS} hours up "
        f"to the newest {target} value must be observed"
    )


def forecast_histories(
    served: Served,
    parameter: str,
    items: Sequence[LocationHistory],
    horizons: HorizonRange,
    min_recent_hours: int,
    now: float,
) -> list[dict[str, Any] | str]:
    """Forecasts for caller-supplied histories, in request order.

    Each result is a forecast document (with its ``data_age_hours`` at ``now``, seconds since
    the epoch), or a string saying why that item has none. All items go through one
    :func:`aircast.features.window_features` and one predict; each item is its own row, so a
    location id may appear more than once.
    """
    results, windows, picked = history_windows(spec_of(served), items, min_recent_hours)
    if windows is not None:
        documents = forecast_windows(served, parameter, windows, horizons)
        add_data_age(documents, windows.issue_hour, now)
        for i, document in zip(picked, documents, strict=True):
            results[i] = document
    return results


def add_data_age(documents: Sequence[dict[str, Any]], issue_hour: np.ndarray, now: float) -> None:
    """Set each document's ``data_age_hours``: hours from its issue hour to ``now``.

    ``issue_hour`` is in hours since the epoch, one per document; ``now`` in seconds. The
    issue hour is the newest observation a forecast uses, so this is the age of its data.
    """
    if not len(documents):
        return
    ages = np.round(now / 3600 - np.asarray(issue_hour, dtype=np.float64), 3).tolist()
    for document, age in zip(documents, ages, strict=True):
        document["data_age_hours"] = age


@dataclass(frozen=True)
class _Series:
    """The caller's series of the parameters the model uses, in request order.

    Series ``s`` is of window row ``row[s]`` (location index x parameters + parameter code);
    its values are ``value[start[s]:stop[s]]`` (NaN for null), one per hour, the last of which
    is for hour ``end[s]`` (hours since the epoch).
    """

    row: np.ndarray
    end: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    value: np.ndarray

    @classmethod
    def of(cls, items: Sequence[LocationHistory], parameters: tuple[str, ...]) -> _Series:
        code_of = {name: code for code, name in enumerate(parameters)}
        rows: list[int] = []
        ends: list[int] = []
        lengths: list[int] = []
        values: list[float | None] = []
        for index, location in enumerate(items):
            for series in location.history:
                code = code_of.get(series.parameter)
                if code is None:
                    continue
                # Truncated to the hour: the value of hour-ending 10:00 may be stamped 10:00:59.
                end = int(series.end.timestamp() // 3600)
                if not _EARLIEST_HOUR <= end < _LATEST_HOUR:
                    raise UnforecastableError(
                        f"locations.{index}: series end {series.end.isoformat()} is outside "
                        f"{_EARLIEST.year}..{_LATEST.year - 1}"
                    )
                rows.append(index * len(parameters) + code)
                ends.append(end)
                lengths.append(len(series.values))
                values.extend(series.values)
        length = np.asarray(lengths, dtype=np.int64)
        stop = np.cumsum(length)
        return cls(
            row=np.asarray(rows, dtype=np.int64),
            end=np.asarray(ends, dtype=np.int64),
            start=stop - length,
            stop=stop,
            value=np.asarray(values, dtype=np.float64),  # a null becomes NaN
        )

    def newest(self) -> np.ndarray:
        """The hour of each series' newest non-null value (-1: all null)."""
        observed_at = np.flatnonzero(~np.isnan(self.value))
        if not len(observed_at):
            return np.full(len(self.stop), -1, dtype=np.int64)
        # the last observed position before each series' stop (k < 0: none before it)
        k = np.searchsorted(observed_at, self.stop) - 1
        last = observed_at[np.maximum(k, 0)]
        return np.where(
            (k >= 0) & (last >= self.start), self.end - (self.stop - 1 - last), -1
        ).astype(np.int64)

    def windows(self, issue: np.ndarray, spec: FeatureSpec) -> np.ndarray:
        """The ``(locations, parameters, history_hours(spec))`` windows ending at ``issue``.

        Built by :func:`aircast.features.series_windows`, the feature builder's own: only each
        series' part inside its location's window is touched, and an hour covered by several
        series of one parameter gets the mean of their non-null values, as on the training
        grid. A location without an issue hour (-1) gets an empty window.
        """
        n_params = len(spec.parameters)
        location = self.row // n_params
        series_issue = issue[location]
        return series_windows(
            np.where(series_issue >= 0, location, -1),
            self.row % n_params,
            series_issue - self.end,
            self.start,
            self.stop,
            self.value,
            len(issue),
            spec,
        )


def history_windows(
    spec: FeatureSpec, items: Sequence[LocationHistory], min_recent_hours: int
) -> tuple[list[dict[str, Any] | str], Windows | None, list[int]]:
    """The windows of the usable items of caller-supplied histories.

    Returns the results in request order (a string saying why for an unusable item, a
    placeholder for the others), the windows of the usable items (None when there is none)
    and their positions in ``items``. The values are converted to floats once; nothing but
    the nulls is looked at value by value.
    """
    n_params = len(spec.parameters)
    count = len(items)
    given = _Series.of(items, spec.parameters)
    # Issue time per location: its newest non-null target hour (-1: none).
    issue = np.full(count, -1, dtype=np.int64)
    target = given.row % n_params == 0
    np.maximum.at(issue, given.row[target] // n_params, given.newest()[target])
    windows = given.windows(issue, spec)
    # observed target hours among the 24 up to the issue time (the window's last columns)
    recent = np.count_nonzero(~np.isnan(windows[:, 0, -RECENT_WINDOW_HOURS:]), axis=1)
    results: list[dict[str, Any] | str] = []
    for at, seen in zip(issue.tolist(), recent.tolist(), strict=True):
        if at < 0:
            results.append(f"no {spec.target} values in the history")
        elif seen < min_recent_hours:
            results.append(_too_short(spec.target, min_recent_hours))
        else:
            results.append("")
    usable = (issue >= 0) & (recent >= min_recent_hours)
    if not usable.any():
        return results, None, []
    chosen = np.flatnonzero(usable)
    picked: list[int] = chosen.tolist()
    batch = Windows(
        windows=windows if len(chosen) == count else windows[chosen],
        issue_hour=issue[chosen],
        location_id=np.asarray([items[i].location_id for i in picked], dtype=np.int64),
        latitude=np.asarray([items[i].latitude for i in picked], dtype=np.float64),
        longitude=np.asarray([items[i].longitude for i in picked], dtype=np.float64),
        timezone=np.asarray([items[i].timezone for i in picked], dtype=object),
        weather=weather_windows(
            body_weather(items, picked, issue[chosen]),
            np.arange(len(picked), dtype=np.int64),
            _hours_index(issue[chosen]),
            spec,
        )
        if spec.weather
        else None,
    )
    return results, batch, picked


def stale_seconds(served: Served, now: datetime | None = None) -> float | None:
    """Seconds since the served model was trained (None when unknown)."""
    trained_at = served.model.trained_at
    moment = now or datetime.now(UTC)
    if trained_at.tzinfo is None:
        trained_at = trained_at.replace(tzinfo=UTC)
    return max(0.0, float((moment - trained_at) / timedelta(seconds=1)))
