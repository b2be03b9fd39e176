"""THE feature builder: one function computes model inputs for training and for serving.

Input is the long measurement frame of ``aircast.store.load_measurements`` (``location_id``,
``parameter``, ``datetime`` hour-ending UTC, ``value``) plus the location table. Each location's
series is put on a full hourly grid before anything is shifted, so a lag that falls in a gap is
missing — it is never taken from a neighbouring hour. Window statistics are computed from an
explicit (rows x window) matrix rather than running sums, so a value depends only on the hours
inside its window and the serving path (which loads only :func:`history_hours` of history) gets
bit-identical features to the training path.

Row key: (``location_id``, ``issue_time``), where ``issue_time`` is the hour-ending time of the
newest observation a row may use. Feature names do not mention the target parameter (the target
is ``y``); co-located parameters are ``cov_<parameter>_*``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

LOCATION_FEATURE = "location"
"""The categorical feature holding the location id (as a string)."""

_UNITS = {
    "pm25": "µg/m³",
    "pm10": "µg/m³",
    "pm1": "µg/m³",
    "no2": "µg/m³",
    "o3": "µg/m³",
    "so2": "µg/m³",
    "co": "µg/m³",
    "temperature": "°C",
    "relativehumidity": "%",
}


def default_unit(parameter: str) -> str:
    """The unit aircast reports for an OpenAQ parameter (``µg/m³`` for pollutants)."""
    return _UNITS.get(parameter, "")


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
        names += ["hour", "weekday", "month", "latitude", "longitude", LOCATION_FEATURE]
        return names

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


def _build_grid(
    measurements: pd.DataFrame,
    parameters: Iterable[str],
    until: pd.Series | None,
) -> _Grid:
    """Reindex every location to a full hourly grid from its first observation.

    The grid ends at the location's last observation, or at ``until[location_id]`` when given
    (serving: the issue time may be later than the newest measurement).
    """
    params = list(parameters)
    frame = measurements[measurements["parameter"].isin(params)]
    if frame.empty and until is None:
        return _Grid(np.empty(0, np.int64), pd.DatetimeIndex([], tz="UTC"), np.empty(0, np.int64))
    spans = frame.groupby("location_id")["datetime"].agg(["min", "max"])
    if until is not None:
        until = until.groupby(level=0).max()
        spans = spans.reindex(spans.index.union(until.index))
        spans["max"] = until.reindex(spans.index)
        spans["min"] = spans["min"].fillna(spans["max"])
        spans = spans.dropna()
    span_ns = (spans["max"] - spans["min"]).to_numpy(dtype="timedelta64[ns]")
    hours = pd.Series(span_ns // np.timedelta64(1, "h"), index=spans.index).astype("int64") + 1
    hours = hours.clip(lower=0)
    loc = np.repeat(spans.index.to_numpy(dtype=np.int64), hours.to_numpy())
    starts = np.repeat(spans["min"].to_numpy(dtype="datetime64[ns]"), hours.to_numpy())
    offsets = np.arange(len(loc)) - np.repeat(np.cumsum(hours.to_numpy()) - hours.to_numpy(), hours)
    times = pd.DatetimeIndex(starts + offsets.astype("timedelta64[h]"), tz="UTC")
    # Scatter each observation onto its grid row (a mean where an hour has several rows):
    # much cheaper than a pivot, and the same for training and serving.
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
        mask = (parameter == p) & ~np.isnan(observed)
        total = np.bincount(target[mask], weights=observed[mask], minlength=len(loc))
        count = np.bincount(target[mask], minlength=len(loc)).astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            values[p] = np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)
    return _Grid(loc, times, offsets.astype(np.int64), values)


def _grid_rows(grid: _Grid, wanted: pd.DataFrame) -> np.ndarray:
    """Index in ``grid`` of each wanted (location_id, issue_time); -1 where it has none."""
    n = len(grid.location_id)
    if n == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    # Each location's rows are contiguous, hourly and start at position 0.
    firsts = np.flatnonzero(grid.position == 0)
    lengths = np.diff(np.append(firsts, n))
    first_of = pd.Series(firsts, index=grid.location_id[firsts])
    length_of = pd.Series(lengths, index=grid.location_id[firsts])
    loc = wanted["location_id"].to_numpy(dtype=np.int64)
    start = first_of.reindex(loc).to_numpy(dtype="float64")
    length = length_of.reindex(loc).to_numpy(dtype="float64")
    grid_ns = grid.time.as_unit("ns").asi8
    start_time = grid_ns[np.where(np.isnan(start), 0, start).astype(np.int64)]
    issue_ns = pd.DatetimeIndex(wanted["issue_time"]).as_unit("ns").asi8
    offset = (issue_ns - start_time) // 3_600_000_000_000
    ok = ~np.isnan(start) & (offset >= 0) & (offset < np.nan_to_num(length))
    return np.where(ok, np.nan_to_num(start).astype(np.int64) + offset, -1).astype(np.int64)


def _nan_stats(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return (
            np.nanmean(matrix, axis=1),
            np.nanstd(matrix, axis=1),
            np.nanmax(matrix, axis=1),
        )


def _nan_mean(matrix: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean: np.ndarray = np.nanmean(matrix, axis=1)
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
    hour = np.zeros(len(time), dtype=np.int64)
    weekday = np.zeros(len(time), dtype=np.int64)
    month = np.zeros(len(time), dtype=np.int64)
    zones = tz.reindex(pd.Index(location_id)).fillna("UTC").to_numpy()
    for zone in pd.unique(zones):
        mask = zones == zone
        local = time[mask].tz_convert(str(zone))
        hour[mask] = local.hour
        weekday[mask] = local.day_of_week
        month[mask] = local.month
    return pd.DataFrame({"hour": hour, "weekday": weekday, "month": month})


def _feature_columns(
    grid: _Grid, spec: FeatureSpec, picked: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The numeric feature columns, for every grid row or only the ``picked`` ones."""

    def shift(column: np.ndarray, k: int) -> np.ndarray:
        if picked is None:
            return grid.shift(column, k)
        out = np.full(len(picked), np.nan)
        ok = grid.position[picked] >= k if len(grid.position) else np.zeros(len(picked), bool)
        out[ok] = column[picked[ok] - k]
        return out

    def window(column: np.ndarray, w: int) -> np.ndarray:
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


def build_features(
    measurements: pd.DataFrame,
    locations: pd.DataFrame,
    spec: FeatureSpec,
    issue_times: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Model inputs, one row per (``location_id``, ``issue_time``).

    With ``issue_times=None`` every hour of every location's grid is a row (training). With a
    frame of (``location_id``, ``issue_time``) only those rows are returned, in that order
    (serving); an issue time later than the newest measurement gives missing recent lags
    rather than an error. Columns: ``location_id``, ``issue_time``, then
    ``spec.feature_names()``.
    """
    frame = _check_measurements(measurements) if len(measurements) else _empty_measurements()
    table = _locations_table(locations)
    until: pd.Series | None = None
    wanted: pd.DataFrame | None = None
    if issue_times is not None:
        if not {"location_id", "issue_time"} <= set(issue_times.columns):
            raise ValueError("issue_times needs columns location_id and issue_time")
        wanted = issue_times[["location_id", "issue_time"]].copy()
        wanted["location_id"] = wanted["location_id"].astype("int64")
        wanted["issue_time"] = pd.to_datetime(wanted["issue_time"], utc=True).dt.floor("h")
        until = wanted.set_index("location_id")["issue_time"]
        # history newer than the latest issue time can never be used; dropping it keeps the
        # grid (and the cost) bounded by what the rows need.
        frame = frame[frame["datetime"] <= frame["location_id"].map(until.groupby(level=0).max())]
    grid = _build_grid(frame, spec.parameters, until)
    # Serving computes only the wanted rows (not every hour of each location's grid): the same
    # arithmetic on the same grid, so the values are identical to the training path's.
    rows = None if wanted is None else _grid_rows(grid, wanted)
    cols = _feature_columns(grid, spec, None if rows is None else np.maximum(rows, 0))

    if rows is not None and wanted is not None:
        # Rows outside every grid (no history at all, or an issue time before the first
        # observation) have no features: all missing, as the training path would give.
        missing = rows < 0
        if missing.any():
            for column in cols.values():
                column[missing] = np.nan
        location_id = wanted["location_id"].to_numpy(dtype=np.int64)
        time = pd.DatetimeIndex(wanted["issue_time"])
    else:
        location_id, time = grid.location_id, grid.time
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
    grid = _build_grid(frame, spec.parameters, None)
    y = grid.values[spec.target]
    out = pd.DataFrame({f"y_h{h}": grid.shift(y, -h) for h in range(1, spec.horizons + 1)})
    out.insert(0, "issue_time", grid.time)
    out.insert(0, "location_id", grid.location_id)
    return out
