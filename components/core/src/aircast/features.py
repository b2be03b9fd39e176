"""THE feature builder: one function computes model inputs for training and for serving.

Every feature value is computed by :func:`_feature_columns` from an hourly grid of positions
and values. Training (:func:`build_features` without ``issue_times``) puts each location's whole
series on that grid; serving (:func:`window_features`, which the API calls with arrays, and
``build_features(..., issue_times=...)``, which wraps it for frames) puts only the
:func:`history_hours` before each issue time on it. Same function, same arithmetic, so the
values are bit-identical (a unit test checks it).

Input is the long measurement frame of ``aircast.store.load_measurements`` (``location_id``,
``parameter``, ``datetime`` hour-ending UTC, ``value``) plus the location table. A series is
put on a full hourly grid before anything is shifted, so a lag that falls in a gap is missing —
it is never taken from a neighbouring hour. Window statistics are computed from an explicit
(rows x window) matrix rather than running sums, so a value depends only on the hours inside its
window, never on how much history came before it.

Row key: (``location_id``, ``issue_time``), where ``issue_time`` is the hour-ending time of the
newest observation a row may use. Feature names do not mention the target parameter (the target
is ``y``); co-located parameters are ``cov_<parameter>_*``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from aircast.parameters import display_unit

LOCATION_FEATURE = "location"
"""The categorical feature holding the location id (as a string)."""

WEATHER_VARIABLES: dict[str, str] = {
    "wind_u": "eastward wind at 10 m (m/s), from wind_speed_10m and wind_direction_10m",
    "wind_v": "northward wind at 10 m (m/s), from wind_speed_10m and wind_direction_10m",
    "wind_speed": "wind_speed_10m (m/s)",
    "temperature": "temperature_2m (°C)",
    "dew_point": "dew_point_2m (°C)",
    "humidity": "relative_humidity_2m (%)",
    "pressure": "surface_pressure (hPa)",
    "precipitation": "precipitation (mm over the hour)",
    "boundary_layer_height": "boundary_layer_height (m), where the weather model has it",
    "cloud_cover": "cloud_cover (%)",
}
"""Weather covariates a FeatureSpec may name, and the Open-Meteo variables they come from."""

DEFAULT_WEATHER = (
    "wind_u",
    "wind_v",
    "wind_speed",
    "temperature",
    "dew_point",
    "pressure",
    "precipitation",
    "boundary_layer_height",
)
"""The weather covariates of a model trained with weather (``AIRCAST_TRAIN_WEATHER``)."""

_RAW = {
    "wind_speed": "wind_speed_10m",
    "temperature": "temperature_2m",
    "dew_point": "dew_point_2m",
    "humidity": "relative_humidity_2m",
    "pressure": "surface_pressure",
    "precipitation": "precipitation",
    "boundary_layer_height": "boundary_layer_height",
    "cloud_cover": "cloud_cover",
}
_SOURCE_RANK = {"forecast": 0, "previous_runs": 1, "historical_forecast": 2}


def derived_weather(frame: pd.DataFrame | dict[str, Any], name: str) -> np.ndarray:
    """One weather covariate from Open-Meteo's variables (NaN where they are missing).

    The wind vector points where the air goes: ``u = -speed * sin(direction)``,
    ``v = -speed * cos(direction)`` (Open-Meteo's direction is where the wind comes from).
    """

    def column(raw: str) -> np.ndarray:
        if raw not in frame:
            return np.full(len(next(iter(frame.values())) if isinstance(frame, dict)
                               else frame), np.nan)  # fmt: skip
        return np.asarray(pd.to_numeric(pd.Series(frame[raw]), errors="coerce"), dtype="float64")

    if name in ("wind_u", "wind_v"):
        speed = column("wind_speed_10m")
        radians = np.deg2rad(column("wind_direction_10m"))
        if name == "wind_u":
            out: np.ndarray = -speed * np.sin(radians)
        else:
            out = -speed * np.cos(radians)
        return out
    return column(_RAW[name])


def weather_windows(
    weather: pd.DataFrame | None,
    location_id: np.ndarray,
    issue_time: pd.DatetimeIndex | np.ndarray,
    spec: FeatureSpec,
) -> np.ndarray:
    """THE as-of rule: each row's weather forecast for its issue hour + 0..H, as known then.

    ``weather`` holds forecast rows (``location_id``, ``target_time``, ``issued_at``, Open-Meteo
    variables; optional ``source``), e.g. :func:`aircast.weather.store.load_forecasts` or a
    request's weather stamped with its issue time. For row ``r`` and lead ``k`` the value is
    the row for (``location_id[r]``, ``issue_time[r] + k``) with the newest ``issued_at`` that
    is **at or before** ``issue_time[r]`` (on equal issue times the live forecast wins); a
    value issued later is never read, and an hour without such a row is NaN. Returns a
    ``(rows, len(spec.weather), spec.horizons + 1)`` array. Training and serving both come here.
    """
    rows, leads = len(location_id), spec.horizons + 1
    out = np.full((rows, len(spec.weather), leads), np.nan, dtype="float32")
    if weather is None or len(weather) == 0 or not spec.weather or rows == 0:
        return out
    hour = 3_600_000_000_000
    w_loc = weather["location_id"].to_numpy(dtype=np.int64)
    w_target = pd.DatetimeIndex(pd.to_datetime(weather["target_time"], utc=True)).as_unit("ns")
    w_issued = pd.DatetimeIndex(pd.to_datetime(weather["issued_at"], utc=True)).as_unit("ns")
    # hour-ending times: a target stamped within an hour belongs to that hour; an issue time
    # within an hour is only known at the end of it (ceil), never earlier
    w_t = -((-w_target.asi8) // hour)
    w_i = -((-w_issued.asi8) // hour)
    q_loc = np.asarray(location_id, dtype=np.int64)
    q_t = np.asarray(pd.DatetimeIndex(issue_time).as_unit("ns").asi8) // hour
    base = min(int(w_t.min()), int(w_i.min()), int(q_t.min()))
    codes, uniques = pd.factorize(np.concatenate([w_loc, q_loc]))
    bits = np.int64(21)
    top = max(int(w_t.max()), int(w_i.max()), int(q_t.max()) + leads)
    if len(uniques) >= 2**bits or top - base >= 2**bits:
        raise ValueError("weather_windows: too many locations or hours in one call")
    w_code, q_code = codes[: len(w_loc)].astype(np.int64), codes[len(w_loc) :].astype(np.int64)
    group = (w_code << (2 * bits)) | ((w_t - base) << bits)
    key = group | (w_i - base)
    rank = (
        weather["source"].map(_SOURCE_RANK).fillna(9).to_numpy(dtype=np.int64)
        if "source" in weather
        else np.zeros(len(weather), dtype=np.int64)
    )
    # ascending key; among equal keys the preferred source last (searchsorted finds the last)
    order = np.lexsort((-rank, key))
    key, group = key[order], group[order]
    # float32: what the model reads (halves the memory of a training grid's gather)
    values = np.stack([derived_weather(weather, w)[order] for w in spec.weather], axis=1).astype(
        "float32"
    )
    lead = np.arange(leads, dtype=np.int64)
    q_group = (q_code[:, None] << (2 * bits)) | ((q_t[:, None] - base + lead[None, :]) << bits)
    q_key = q_group | (q_t[:, None] - base)
    at = np.searchsorted(key, q_key.reshape(-1), side="right") - 1
    found = (at >= 0) & (group[np.clip(at, 0, None)] == q_group.reshape(-1))
    picked = np.where(found[:, None], values[np.clip(at, 0, None)], np.float32(np.nan))
    return np.ascontiguousarray(picked.reshape(rows, leads, len(spec.weather)).transpose(0, 2, 1))


def _weather_columns(windows: np.ndarray, spec: FeatureSpec) -> dict[str, np.ndarray]:
    return {
        f"wx_{w}_{k}": windows[:, i, k].astype("float32")
        for i, w in enumerate(spec.weather)
        for k in range(spec.horizons + 1)
    }


def default_unit(parameter: str) -> str:
    """The unit aircast reports for an OpenAQ parameter (``µg/m³`` for pollutants)."""
    return display_unit(parameter)


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature builder computes. Serialised with the model so serving rebuilds it.

    ``lags`` are hours before the issue time (the value *at* the issue time is always included
    as ``y_lag_0``); the default dense 1..24 lags give the forecaster the same hour of the
    previous day for every horizon. ``windows`` are trailing window lengths in hours (including
    the issue hour) for mean/std/max; ``diffs`` are differences ``y(t) - y(t - k)``.
    Each covariate gets lags, trailing means over ``covariate_windows`` (a mean of wind
    components over w hours is the wind run, i.e. the air mass's displacement) and tendencies
    ``v(t) - v(t - k)`` for ``k`` in ``covariate_diffs`` (e.g. a pressure rise with a front).
    """

    target: str = "pm25"
    lags: tuple[int, ...] = (*range(1, 25), 36, 48, 72, 168)
    windows: tuple[int, ...] = (3, 6, 24)
    diffs: tuple[int, ...] = (1, 3, 24)
    covariates: tuple[str, ...] = ()
    covariate_lags: tuple[int, ...] = (0, 1, 3, 24)
    covariate_windows: tuple[int, ...] = (6, 24)
    covariate_diffs: tuple[int, ...] = ()
    horizons: int = 24
    unit: str = ""
    weather: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.target:
            raise ValueError("FeatureSpec.target must name a parameter, e.g. 'pm25'")
        if self.target in self.covariates:
            raise ValueError(f"the target {self.target!r} cannot also be a covariate")
        for name, values in (
            ("lags", self.lags),
            ("windows", self.windows),
            ("diffs", self.diffs),
            ("covariate_windows", self.covariate_windows),
            ("covariate_diffs", self.covariate_diffs),
        ):
            if any(v < 1 for v in values):
                raise ValueError(f"FeatureSpec.{name} must be positive hours, got {values}")
        if any(v < 0 for v in self.covariate_lags):
            raise ValueError("FeatureSpec.covariate_lags must be >= 0")
        if not 1 <= self.horizons <= 168:
            raise ValueError("FeatureSpec.horizons must be between 1 and 168")
        unknown = [w for w in self.weather if w not in WEATHER_VARIABLES]
        if unknown:
            raise ValueError(
                f"FeatureSpec.weather: unknown variable(s) {unknown}; "
                f"choose from {sorted(WEATHER_VARIABLES)}"
            )
        if not self.unit:
            object.__setattr__(self, "unit", default_unit(self.target))

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every parameter the features read: the target first, then the covariates."""
        return (self.target, *self.covariates)

    def feature_names(self) -> list[str]:
        """The model's input columns, in order (from :func:`build_features`)."""
        names = [f"y_lag_{k}" for k in (0, *sorted(set(self.lags)))]
        for w in self.windows:
            names += [f"y_mean_{w}", f"y_std_{w}", f"y_max_{w}"]
        names.append("y_count_24")
        names += [f"y_diff_{k}" for k in self.diffs]
        for p in self.covariates:
            names += [f"cov_{p}_lag_{k}" for k in self.covariate_lags]
            names += [f"cov_{p}_mean_{w}" for w in self.covariate_windows]
            names += [f"cov_{p}_diff_{k}" for k in self.covariate_diffs]
        names += self.weather_feature_names()
        names += ["hour", "weekday", "month", "latitude", "longitude", LOCATION_FEATURE]
        return names

    def weather_feature_names(self) -> list[str]:
        """``wx_<variable>_<k>``: the weather forecast for the issue hour + ``k`` (0..H), as it
        was known at the issue time (:func:`weather_windows`). The forecaster turns them into
        per-horizon inputs (the value at the target hour, its change against the issue hour,
        the mean of the 6 hours up to the target: ``aircast.forecaster``)."""
        return [f"wx_{w}_{k}" for w in self.weather for k in range(self.horizons + 1)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored with the model)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; lists become tuples."""
        kwargs: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**kwargs)


def history_hours(spec: FeatureSpec) -> int:
    """Hours of history (ending at the issue time, inclusive) the features of one row read.

    Loading measurements with ``since = issue_time - history_hours(spec)`` (exclusive, as
    ``load_measurements`` treats ``since``) is enough for :func:`build_features` to reproduce
    the training path's features exactly.
    """
    reach = [
        *spec.lags,
        *(w - 1 for w in spec.windows),
        23,  # y_count_24
        *spec.diffs,
    ]
    if spec.covariates:
        reach += [
            *spec.covariate_lags,
            *(w - 1 for w in spec.covariate_windows),
            *spec.covariate_diffs,
        ]
    return max(reach) + 1


_NO_TIMES = pd.DatetimeIndex([], tz="UTC")  # built once: an index costs ~0.4 ms per call


@dataclass
class _Grid:
    """Every location's series on a contiguous hourly grid, sorted by (location, time)."""

    location_id: np.ndarray  # int64 per row
    time: pd.DatetimeIndex  # UTC per row
    position: np.ndarray  # hours since the location's first grid row
    values: dict[str, np.ndarray] = field(default_factory=dict)  # parameter -> float64 per row

    def shift(self, column: np.ndarray, k: int) -> np.ndarray:
        """``column`` k hours earlier (k > 0) or later (k < 0), NaN across location edges."""
        out = np.full(column.shape, np.nan)
        if k == 0:
            return column.copy()
        if k > 0:
            out[k:] = column[:-k]
            out[self.position < k] = np.nan
        else:
            out[:k] = column[-k:]
            # the row |k| ahead must belong to the same location
            same = np.zeros(column.shape, dtype=bool)
            same[:k] = self.location_id[-k:] == self.location_id[:k]
            out[~same] = np.nan
        return out

    def window(self, column: np.ndarray, w: int) -> np.ndarray:
        """(rows x w) matrix of the trailing window: column j is the value j hours earlier."""
        return np.column_stack([self.shift(column, j) for j in range(w)])


def _empty_measurements() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "location_id": pd.Series(dtype="int64"),
            "parameter": pd.Series(dtype="object"),
            "datetime": pd.Series(dtype="datetime64[ns, UTC]"),
            "value": pd.Series(dtype="float64"),
        }
    )


def _check_measurements(measurements: pd.DataFrame) -> pd.DataFrame:
    missing = {"location_id", "parameter", "datetime", "value"} - set(measurements.columns)
    if missing:
        raise ValueError(
            f"measurements lack column(s) {sorted(missing)}; pass the frame of "
            "aircast.store.load_measurements"
        )
    frame = measurements[["location_id", "parameter", "datetime", "value"]].copy()
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True).dt.floor("h")
    frame["location_id"] = frame["location_id"].astype("int64")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame


def _build_grid(measurements: pd.DataFrame, parameters: Iterable[str]) -> _Grid:
    """Reindex every location to a full hourly grid from its first to its last observation."""
    params = list(parameters)
    frame = measurements[measurements["parameter"].isin(params)]
    if frame.empty:
        return _Grid(np.empty(0, np.int64), pd.DatetimeIndex([], tz="UTC"), np.empty(0, np.int64))
    spans = frame.groupby("location_id")["datetime"].agg(["min", "max"])
    span_ns = (spans["max"] - spans["min"]).to_numpy(dtype="timedelta64[ns]")
    hours = pd.Series(span_ns // np.timedelta64(1, "h"), index=spans.index).astype("int64") + 1
    hours = hours.clip(lower=0)
    loc = np.repeat(spans.index.to_numpy(dtype=np.int64), hours.to_numpy())
    starts = np.repeat(spans["min"].to_numpy(dtype="datetime64[ns]"), hours.to_numpy())
    offsets = np.arange(len(loc)) - np.repeat(np.cumsum(hours.to_numpy()) - hours.to_numpy(), hours)
    times = pd.DatetimeIndex(starts + offsets.astype("timedelta64[h]"), tz="UTC")
    # Scatter each observation onto its grid row (hourly_values: the one rule for an hour with
    # several values, shared with serving): much cheaper than a pivot.
    first_row = pd.Series(np.cumsum(hours.to_numpy()) - hours.to_numpy(), index=spans.index)
    row_start = first_row.reindex(frame["location_id"].to_numpy()).to_numpy(dtype="float64")
    known = ~np.isnan(row_start)  # rows of locations outside every grid are not placed
    loc_start = spans["min"].reindex(frame["location_id"].to_numpy()[known])
    obs_ns = pd.DatetimeIndex(frame["datetime"]).as_unit("ns").asi8[known]
    start_ns = pd.DatetimeIndex(loc_start).as_unit("ns").asi8
    target = row_start[known].astype(np.int64) + (obs_ns - start_ns) // 3_600_000_000_000
    parameter = frame["parameter"].to_numpy()[known]
    observed = frame["value"].to_numpy(dtype="float64")[known]
    values: dict[str, np.ndarray] = {}
    for p in params:
        mask = parameter == p
        values[p] = hourly_values(target[mask], observed[mask], len(loc))
    return _Grid(loc, times, offsets.astype(np.int64), values)


def hourly_values(slot: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    """THE rule for several values in one hour: the mean of its non-null values.

    ``value[i]`` belongs to hour slot ``slot[i]`` (0 <= slot < ``size``); returns one value
    per slot, NaN where no non-null value fell. Training (the hourly grid of
    :func:`build_features`) and serving (:func:`scatter_windows`, which the API's stored and
    caller-supplied histories go through) both reduce an hour here, so an hour with several
    values (two overlapping series, a re-ingested sensor) gives the model the same input on
    both paths. The mean, not "the last value", because it does not depend on the order the
    values arrive in (a database scan or a request's series have no meaningful order). A
    single value is returned exactly (``v / 1``).
    """
    slot = np.asarray(slot, dtype=np.int64)
    value = np.asarray(value, dtype="float64")
    seen = ~np.isnan(value)
    total = np.bincount(slot[seen], weights=value[seen], minlength=size)
    count = np.bincount(slot[seen], minlength=size).astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)
    return out


def _nan_stats(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise mean, population std and max over the observed (non-NaN) cells.

    The arithmetic of ``np.nanmean``/``np.nanstd``/``np.nanmax`` without their per-call
    overhead (which dominated a single forecast); all-missing rows give NaN.
    """
    valid = ~np.isnan(matrix)
    count = valid.sum(axis=1)
    filled = np.where(valid, matrix, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / count
        centred = np.where(valid, filled - mean[:, None], 0.0)
        std = np.sqrt((centred * centred).sum(axis=1) / count)
    peak = np.where(valid, matrix, -np.inf).max(axis=1, initial=-np.inf)
    peak[count == 0] = np.nan
    return mean, std, peak


def _nan_mean(matrix: np.ndarray) -> np.ndarray:
    """Row-wise mean over the observed cells (``np.nanmean``'s arithmetic, NaN when none)."""
    valid = ~np.isnan(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: np.ndarray = np.where(valid, matrix, 0.0).sum(axis=1) / valid.sum(axis=1)
    return mean


def _locations_table(locations: pd.DataFrame) -> pd.DataFrame:
    missing = {"location_id", "latitude", "longitude", "timezone"} - set(locations.columns)
    if missing:
        raise ValueError(
            f"locations lack column(s) {sorted(missing)}; pass the frame of "
            "aircast.store.load_locations"
        )
    table = locations[["location_id", "latitude", "longitude", "timezone"]].copy()
    table["location_id"] = table["location_id"].astype("int64")
    return table.drop_duplicates("location_id").set_index("location_id")


def _calendar(location_id: np.ndarray, time: pd.DatetimeIndex, tz: pd.Series) -> pd.DataFrame:
    """Hour, weekday and month in each location's local time (no holiday calendar)."""
    zones = tz.reindex(pd.Index(location_id)).fillna("UTC").to_numpy()
    return pd.DataFrame(_local_calendar(time, zones))


def _local_calendar(
    time: pd.DatetimeIndex | np.ndarray, zones: np.ndarray
) -> dict[str, np.ndarray]:
    """Hour, weekday and month of each UTC ``time`` in its row's IANA zone.

    Each distinct (zone, second) is converted once with :mod:`zoneinfo`: a training grid has
    a few ten thousand distinct hours, a forecast request one, and a pandas ``tz_convert``
    cost more than the model's prediction for a single location. Training and serving both
    come here, so they read the same time zone rules.
    """
    seconds = np.asarray(time, dtype="datetime64[s]").astype(np.int64)
    names = np.asarray(zones, dtype=object)
    out = np.empty((len(seconds), 3), dtype=np.int64)
    for zone in dict.fromkeys(names.tolist()):
        info = ZoneInfo(str(zone))
        mask = names == zone
        unique, inverse = np.unique(seconds[mask], return_inverse=True)
        table = np.empty((len(unique), 3), dtype=np.int64)
        for i, second in enumerate(unique.tolist()):
            local = datetime.fromtimestamp(second, tz=info)
            table[i] = (local.hour, local.weekday(), local.month)
        out[mask] = table[inverse.reshape(-1)]
    return {"hour": out[:, 0].copy(), "weekday": out[:, 1].copy(), "month": out[:, 2].copy()}


def _feature_columns(
    grid: _Grid, spec: FeatureSpec, picked: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The numeric feature columns, for every grid row or only the ``picked`` ones."""

    # Serving: each column's whole reach for the picked rows in one gather, (rows x reach);
    # a lag or window is then a slice of it, with the values one shift at a time would give.
    reach = history_hours(spec)
    gathered: dict[int, np.ndarray] = {}

    def lagged(column: np.ndarray) -> np.ndarray:
        assert picked is not None  # noqa: S101 - only called on the serving path
        matrix = gathered.get(id(column))
        if matrix is None:
            back = np.arange(reach)
            source = picked[:, None] - back[None, :]
            position = grid.position[picked] if len(grid.position) else np.zeros(len(picked))
            ok = position[:, None] >= back[None, :]
            matrix = np.where(ok, column[np.where(ok, source, 0)] if len(column) else 0, np.nan)
            gathered[id(column)] = matrix
        return matrix

    def shift(column: np.ndarray, k: int) -> np.ndarray:
        if picked is None:
            return grid.shift(column, k)
        if k < reach:
            return lagged(column)[:, k].copy()
        out = np.full(len(picked), np.nan)
        ok = grid.position[picked] >= k if len(grid.position) else np.zeros(len(picked), bool)
        out[ok] = column[picked[ok] - k]
        return out

    def window(column: np.ndarray, w: int) -> np.ndarray:
        if picked is not None and w <= reach:
            return lagged(column)[:, :w]
        return np.column_stack([shift(column, j) for j in range(w)])

    y = grid.values[spec.target]
    cols: dict[str, np.ndarray] = {}
    for k in (0, *sorted(set(spec.lags))):
        cols[f"y_lag_{k}"] = shift(y, k)
    window_24 = window(y, max(24, *spec.windows))
    for w in spec.windows:
        mean, std, peak = _nan_stats(window_24[:, :w])
        cols[f"y_mean_{w}"], cols[f"y_std_{w}"], cols[f"y_max_{w}"] = mean, std, peak
    cols["y_count_24"] = np.sum(~np.isnan(window_24[:, :24]), axis=1).astype("float64")
    for k in spec.diffs:
        cols[f"y_diff_{k}"] = cols["y_lag_0"] - shift(y, k)
    for p in spec.covariates:
        v = grid.values[p]
        for k in spec.covariate_lags:
            cols[f"cov_{p}_lag_{k}"] = shift(v, k)
        if spec.covariate_windows:
            matrix = window(v, max(spec.covariate_windows))
            for w in spec.covariate_windows:
                cols[f"cov_{p}_mean_{w}"] = _nan_mean(matrix[:, :w])
        for k in spec.covariate_diffs:
            cols[f"cov_{p}_diff_{k}"] = shift(v, 0) - shift(v, k)
    return cols


def scatter_windows(
    row: np.ndarray,
    parameter_code: np.ndarray,
    hours_back: np.ndarray,
    value: np.ndarray,
    rows: int,
    spec: FeatureSpec,
) -> np.ndarray:
    """Observations placed on each row's hourly window: the input of :func:`window_features`.

    Observation ``i`` belongs to row ``row[i]``, is of ``spec.parameters[parameter_code[i]]``
    and was measured ``hours_back[i]`` hours before that row's issue time (0 = the issue
    hour). Returns a ``(rows, len(spec.parameters), history_hours(spec))`` array whose last
    column is the issue hour; an hour with no observation is NaN (never filled), several
    observations of one hour are reduced by :func:`hourly_values` (the training grid's rule),
    and observations outside the window or with a negative code are ignored. Each observation
    is a one-hour series of :func:`series_windows`, the one window builder.
    """
    value = np.asarray(value, dtype="float64")
    first = np.arange(len(value), dtype=np.int64)
    return series_windows(row, parameter_code, hours_back, first, first + 1, value, rows, spec)


def series_windows(
    row: np.ndarray,
    parameter_code: np.ndarray,
    hours_back: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    value: np.ndarray,
    rows: int,
    spec: FeatureSpec,
) -> np.ndarray:
    """Hourly series placed on each row's window: THE window builder of the serving path.

    Series ``s`` belongs to row ``row[s]``, is of ``spec.parameters[parameter_code[s]]`` and
    holds ``value[start[s]:stop[s]]`` (NaN for a missing hour), one value per consecutive
    hour, oldest first; its last value was measured ``hours_back[s]`` hours before the row's
    issue time (negative: after it). Returns the array of :func:`scatter_windows`: the parts
    of the series inside each window placed on it, NaN elsewhere; an hour that several
    values reach gets their :func:`hourly_values` (the training grid's rule). Series with a
    negative row or code are ignored.

    Only the values inside a window are touched. When no two series share a window row (a
    request with one series per parameter, the usual case), no hour can receive two values
    and each series is copied as it is, which is exactly what :func:`hourly_values` gives a
    single value (``v / 1``), without its passes and index arrays over every value.
    """
    hours = history_hours(spec)
    n_params = len(spec.parameters)
    row = np.asarray(row, dtype=np.int64)
    code = np.asarray(parameter_code, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    value = np.asarray(value, dtype="float64")
    # value i of series s is offset[s] - i hours before the issue time; the window holds
    # 0..hours-1 hours back, so only i in [offset - hours + 1, offset] is kept
    offset = np.asarray(hours_back, dtype=np.int64) + stop - 1
    low = np.maximum(start, offset - (hours - 1))
    high = np.minimum(stop, offset + 1)
    kept = (row >= 0) & (code >= 0) & (high > low)
    window_row = (row * n_params + code)[kept]
    column = hours - 1 - offset  # window column of a series' value 0
    if len(np.unique(window_row)) == len(window_row):
        # no hour can receive two values: each series' kept part is one block copy (no
        # per-value index arrays: a 1,000-location batch is ~3,000 copies, ~2.5 ms)
        windows = np.full((rows * n_params, hours), np.nan)
        for at, lo, hi, move in zip(
            window_row.tolist(),
            low[kept].tolist(),
            high[kept].tolist(),
            column[kept].tolist(),
            strict=True,
        ):
            windows[at, lo + move : hi + move] = value[lo:hi]
        return windows.reshape(rows, n_params, hours)
    take = np.where(kept, high - low, 0)
    # the kept positions of every series, concatenated, and the window slot of each
    before = np.cumsum(take) - take
    position = np.arange(int(take.sum()), dtype=np.int64) + np.repeat(low - before, take)
    slot = position + np.repeat((row * n_params + code) * hours + column, take)
    windows = hourly_values(slot, value[position], rows * n_params * hours)
    return windows.reshape(rows, n_params, hours)


def window_features(
    windows: np.ndarray,
    issue_time: pd.DatetimeIndex | np.ndarray,
    location_id: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    timezone: np.ndarray,
    spec: FeatureSpec,
    weather: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The feature columns (``spec.feature_names()``) of one row per window: the serving path.

    ``weather`` is the :func:`weather_windows` array of the rows (None: no weather known, every
    weather feature missing: the model's fallback, docs/weather.md).

    ``windows`` comes from :func:`scatter_windows`; the other arguments give each row's issue
    time (UTC: a DatetimeIndex or ``datetime64`` values), location id, coordinates and IANA
    time zone. The arithmetic is the training grid's (:func:`_feature_columns` on the same
    hours), so the values are bit-identical to :func:`build_features` on the full history; a
    row whose window holds no observation at all has every feature missing, as a row outside
    the training grid would. Plain arrays: no pandas frame is built, which keeps a
    single-location forecast around a millisecond.
    """
    rows, n_params, hours = windows.shape
    if n_params != len(spec.parameters) or hours != history_hours(spec):
        raise ValueError(
            f"windows of shape {windows.shape} do not fit the spec: expected "
            f"(rows, {len(spec.parameters)}, {history_hours(spec)}); use scatter_windows"
        )
    grid = _Grid(
        location_id=np.repeat(np.arange(rows, dtype=np.int64), hours),
        # _feature_columns reads positions and values only; per-hour times are not needed
        time=_NO_TIMES,
        position=np.tile(np.arange(hours, dtype=np.int64), rows),
        values={p: windows[:, i, :].reshape(-1) for i, p in enumerate(spec.parameters)},
    )
    picked = np.arange(rows, dtype=np.int64) * hours + (hours - 1)
    cols = _feature_columns(grid, spec, picked)
    empty = np.isnan(windows).all(axis=(1, 2))
    if empty.any():
        for column in cols.values():
            column[empty] = np.nan
    if spec.weather:
        if weather is None:
            weather = np.full((rows, len(spec.weather), spec.horizons + 1), np.nan)
        cols.update(_weather_columns(weather, spec))
    calendar = _local_calendar(issue_time, np.asarray(timezone, dtype=object))
    cols.update(calendar)
    cols["latitude"] = np.asarray(latitude, dtype="float64")
    cols["longitude"] = np.asarray(longitude, dtype="float64")
    cols[LOCATION_FEATURE] = np.asarray(location_id, dtype=np.int64).astype(str).astype(object)
    return cols


def _frame_windows(frame: pd.DataFrame, wanted: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """:func:`scatter_windows` for rows of (``location_id``, ``issue_time``) of a long frame."""
    hours = history_hours(spec)
    codes = {p: i for i, p in enumerate(spec.parameters)}
    frame = frame[frame["parameter"].isin(list(codes))]
    keys = wanted.assign(row=np.arange(len(wanted)))
    pairs = frame.merge(keys, on="location_id", how="inner")
    obs_ns = pd.DatetimeIndex(pairs["datetime"]).as_unit("ns").asi8
    issue_ns = pd.DatetimeIndex(pairs["issue_time"]).as_unit("ns").asi8
    back = (issue_ns - obs_ns) // 3_600_000_000_000
    inside = (issue_ns >= obs_ns) & (back < hours)
    pairs = pairs[inside]
    return scatter_windows(
        pairs["row"].to_numpy(dtype=np.int64),
        pairs["parameter"].map(codes).to_numpy(dtype=np.int64),
        back[inside],
        pairs["value"].to_numpy(dtype="float64"),
        len(wanted),
        spec,
    )


def build_features(
    measurements: pd.DataFrame,
    locations: pd.DataFrame,
    spec: FeatureSpec,
    issue_times: pd.DataFrame | None = None,
    weather: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Model inputs, one row per (``location_id``, ``issue_time``).

    ``weather`` (forecast rows with their issue times, see :func:`weather_windows`) feeds the
    ``wx_*`` features of a spec with ``weather``; each row reads only what was issued at or
    before its issue time. Without it those features are missing.

    With ``issue_times=None`` every hour of every location's grid is a row (training). With a
    frame of (``location_id``, ``issue_time``) only those rows are returned, in that order,
    computed from the :func:`history_hours` before each issue time by :func:`window_features`
    (serving: the API calls that directly); an issue time later than the newest measurement
    gives missing recent lags rather than an error. Columns: ``location_id``, ``issue_time``,
    then ``spec.feature_names()``.
    """
    frame = _check_measurements(measurements) if len(measurements) else _empty_measurements()
    table = _locations_table(locations)
    if issue_times is not None:
        if not {"location_id", "issue_time"} <= set(issue_times.columns):
            raise ValueError("issue_times needs columns location_id and issue_time")
        wanted = issue_times[["location_id", "issue_time"]].copy()
        wanted["location_id"] = wanted["location_id"].astype("int64")
        wanted["issue_time"] = pd.to_datetime(wanted["issue_time"], utc=True).dt.floor("h")
        location_id = wanted["location_id"].to_numpy(dtype=np.int64)
        time = pd.DatetimeIndex(wanted["issue_time"])
        cols = window_features(
            _frame_windows(frame, wanted, spec),
            time,
            location_id,
            table["latitude"].reindex(location_id).to_numpy(dtype="float64"),
            table["longitude"].reindex(location_id).to_numpy(dtype="float64"),
            table["timezone"].reindex(location_id).fillna("UTC").to_numpy(dtype=object),
            spec,
            weather_windows(weather, location_id, time, spec) if spec.weather else None,
        )
        out = pd.DataFrame(cols)
        out.insert(0, "issue_time", time)
        out.insert(0, "location_id", location_id)
        return out[["location_id", "issue_time", *spec.feature_names()]].reset_index(drop=True)

    grid = _build_grid(frame, spec.parameters)
    cols = _feature_columns(grid, spec, None)
    location_id, time = grid.location_id, grid.time
    if spec.weather:
        cols.update(_weather_columns(weather_windows(weather, location_id, time, spec), spec))
    out = pd.DataFrame(cols)
    out.insert(0, "issue_time", time)
    out.insert(0, "location_id", location_id)
    calendar = _calendar(location_id, time, table["timezone"])
    for name in ("hour", "weekday", "month"):
        out[name] = calendar[name].to_numpy()
    out["latitude"] = table["latitude"].reindex(location_id).to_numpy(dtype="float64")
    out["longitude"] = table["longitude"].reindex(location_id).to_numpy(dtype="float64")
    out[LOCATION_FEATURE] = location_id.astype(str)
    return out[["location_id", "issue_time", *spec.feature_names()]].reset_index(drop=True)


def build_targets(measurements: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Observed future values: one row per (``location_id``, ``issue_time``) of the grid.

    Column ``y_h<h>`` holds the target observed ``h`` hours after the issue time (missing
    when that hour is a gap). Rows align with ``build_features(..., issue_times=None)``.
    """
    frame = _check_measurements(measurements) if len(measurements) else _empty_measurements()
    grid = _build_grid(frame, spec.parameters)
    y = grid.values[spec.target]
    out = pd.DataFrame({f"y_h{h}": grid.shift(y, -h) for h in range(1, spec.horizons + 1)})
    out.insert(0, "issue_time", grid.time)
    out.insert(0, "location_id", grid.location_id)
    return out
