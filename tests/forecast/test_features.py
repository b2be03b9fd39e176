"""The feature builder: gap-aware lags, local calendar, and train/serve equality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aircast.features import (
    FeatureSpec,
    build_features,
    build_targets,
    history_hours,
    hourly_values,
    scatter_windows,
    series_windows,
)
from tests.forecast import synthetic

SPEC = FeatureSpec(covariates=("no2", "temperature"))
# windows and tendencies that reach further back than the 168 h lag
LONG_SPEC = FeatureSpec(
    windows=(3, 24, 72, 168),
    covariates=("no2", "temperature"),
    covariate_windows=(6, 24, 72),
    covariate_diffs=(3, 12, 24, 190),
)


def _series(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "location_id": 7,
            "parameter": "pm25",
            "datetime": pd.to_datetime(list(values), utc=True),
            "value": list(values.values()),
        }
    )


LOCATION = pd.DataFrame(
    {"location_id": [7], "latitude": [1.0], "longitude": [2.0], "timezone": ["Asia/Kolkata"]}
)


def test_lag_in_a_gap_is_missing_not_taken_from_another_hour() -> None:
    # 02:00 is missing: lag 1 at 03:00 must be NaN, not the 01:00 value.
    m = _series({"2025-01-01T00:00Z": 1.0, "2025-01-01T01:00Z": 2.0, "2025-01-01T03:00Z": 4.0})
    f = build_features(m, LOCATION, FeatureSpec()).set_index("issue_time")
    at3 = f.loc[pd.Timestamp("2025-01-01T03:00Z")]
    assert at3["y_lag_0"] == 4.0
    assert np.isnan(at3["y_lag_1"])
    assert at3["y_lag_2"] == 2.0
    assert at3["y_lag_3"] == 1.0
    assert np.isnan(at3["y_diff_1"])
    assert at3["y_mean_3"] == pytest.approx(3.0)  # mean of 4 and 2; the gap is skipped
    assert at3["y_max_6"] == 4.0
    assert at3["y_count_24"] == 3
    # the gap hour itself is a row of the grid with a missing current value
    assert np.isnan(f.loc[pd.Timestamp("2025-01-01T02:00Z"), "y_lag_0"])


def test_calendar_is_in_local_time_and_statics_are_present() -> None:
    m = _series({"2025-03-02T20:00Z": 1.0})  # 01:30 on Monday 3 March in Kolkata
    row = build_features(m, LOCATION, FeatureSpec()).iloc[0]
    assert (row["hour"], row["weekday"], row["month"]) == (1, 0, 3)
    assert (row["latitude"], row["longitude"], row["location"]) == (1.0, 2.0, "7")


def test_lags_do_not_cross_locations() -> None:
    m = synthetic.measurements(2, days=3, gap_fraction=0.0)
    f = build_features(m, synthetic.locations(2), SPEC)
    first_rows = f.groupby("location_id").head(1)
    assert first_rows["y_lag_1"].isna().all()
    assert first_rows["cov_no2_lag_1"].isna().all()


def test_targets_align_with_features() -> None:
    m = synthetic.measurements(2, days=3)
    f = build_features(m, synthetic.locations(2), SPEC)
    t = build_targets(m, SPEC)
    assert (f["issue_time"].to_numpy() == t["issue_time"].to_numpy()).all()
    shifted = f.groupby("location_id")["y_lag_0"].shift(-1)
    np.testing.assert_array_equal(t["y_h1"].to_numpy(), shifted.to_numpy())


def test_serving_path_with_history_hours_equals_training_path() -> None:
    """Features for an issue time from the full history equal those the API computes from
    only the last history_hours(spec) hours it loads."""
    m = synthetic.measurements(3, days=20, seed=3)
    locs = synthetic.locations(3)
    full = build_features(m, locs, SPEC).set_index(["location_id", "issue_time"])
    n = history_hours(SPEC)
    assert n == 169
    rng = np.random.default_rng(1)
    keys = full.index[rng.choice(np.arange(400, len(full)), 12, replace=False)]
    issue = pd.DataFrame(
        {"location_id": keys.get_level_values(0), "issue_time": keys.get_level_values(1)}
    )
    for _, row in issue.iterrows():
        # what the API loads: since = issue - N h (exclusive), until = issue (inclusive)
        window = m[
            (m["location_id"] == row["location_id"])
            & (m["datetime"] > row["issue_time"] - pd.Timedelta(hours=n))
            & (m["datetime"] <= row["issue_time"])
        ]
        served = build_features(window, locs, SPEC, issue_times=pd.DataFrame([row]))
        expected = full.loc[[(row["location_id"], row["issue_time"])]].reset_index()
        pd.testing.assert_frame_equal(served, expected, check_exact=True, check_dtype=False)
    # one call for all rows gives the same as one call per row
    windows = m[m["datetime"] > issue["issue_time"].min() - pd.Timedelta(hours=n)]
    batch = build_features(windows, locs, SPEC, issue_times=issue)
    expected = full.loc[list(keys)].reset_index()
    pd.testing.assert_frame_equal(batch, expected, check_exact=True, check_dtype=False)


def test_one_hour_less_history_changes_the_features() -> None:
    """history_hours is tight: loading one hour less loses the 168 h lag."""
    m = synthetic.measurements(1, days=10, gap_fraction=0.0)
    locs = synthetic.locations(1)
    issue = m["datetime"].max()
    n = history_hours(SPEC) - 1
    window = m[m["datetime"] > issue - pd.Timedelta(hours=n)]
    served = build_features(
        window, locs, SPEC, issue_times=pd.DataFrame({"location_id": [100], "issue_time": [issue]})
    )
    assert np.isnan(served.loc[0, "y_lag_168"])


def test_covariate_tendency_is_gap_aware() -> None:
    """cov_<p>_diff_k is v(t) - v(t - k) on the hourly grid: missing when either hour is a
    gap, never taken from a neighbouring hour."""
    temps = {"2025-01-01T00:00Z": 1.0, "2025-01-01T01:00Z": 2.5, "2025-01-01T03:00Z": 7.0}
    m = pd.concat(
        [
            _series(dict.fromkeys(("2025-01-01T00:00Z", "2025-01-01T03:00Z"), 10.0)),
            _series(temps).assign(parameter="temperature"),
        ]
    )
    spec = FeatureSpec(covariates=("temperature",), covariate_diffs=(1, 2, 3))
    f = build_features(m, LOCATION, spec).set_index("issue_time")
    at3 = f.loc[pd.Timestamp("2025-01-01T03:00Z")]
    assert np.isnan(at3["cov_temperature_diff_1"])  # 02:00 is a gap
    assert at3["cov_temperature_diff_2"] == pytest.approx(4.5)
    assert at3["cov_temperature_diff_3"] == pytest.approx(6.0)
    at1 = f.loc[pd.Timestamp("2025-01-01T01:00Z")]
    assert at1["cov_temperature_diff_1"] == pytest.approx(1.5)
    assert np.isnan(at1["cov_temperature_diff_2"])  # before the first observation
    assert np.isnan(f.loc[pd.Timestamp("2025-01-01T02:00Z"), "cov_temperature_diff_1"])
    assert history_hours(spec) == 169  # the 168 h lag still reaches furthest


def test_long_windows_and_tendencies_serve_like_training() -> None:
    """history_hours covers the longest window and tendency: the serving path's features
    equal the training path's, and one hour less history changes them."""
    m = synthetic.measurements(2, days=14, seed=5)
    locs = synthetic.locations(2)
    n = history_hours(LONG_SPEC)
    assert n == 191  # the 190 h temperature tendency
    full = build_features(m, locs, LONG_SPEC).set_index(["location_id", "issue_time"])
    assert {"y_mean_168", "cov_no2_mean_72", "cov_temperature_diff_190"} <= set(full.columns)
    rng = np.random.default_rng(2)
    keys = full.index[rng.choice(np.arange(200, len(full)), 6, replace=False)]
    issue = pd.DataFrame(
        {"location_id": keys.get_level_values(0), "issue_time": keys.get_level_values(1)}
    )
    for _, row in issue.iterrows():
        own = m[m["location_id"] == row["location_id"]]
        window = own[
            (own["datetime"] > row["issue_time"] - pd.Timedelta(hours=n))
            & (own["datetime"] <= row["issue_time"])
        ]
        served = build_features(window, locs, LONG_SPEC, issue_times=pd.DataFrame([row]))
        expected = full.loc[[(row["location_id"], row["issue_time"])]].reset_index()
        pd.testing.assert_frame_equal(served, expected, check_exact=True, check_dtype=False)
    # one hour less: the oldest hour of the 190 h tendency is gone
    m1 = synthetic.measurements(1, days=14, gap_fraction=0.0)
    issue_time = m1["datetime"].max()
    short = m1[m1["datetime"] > issue_time - pd.Timedelta(hours=n - 1)]
    served = build_features(
        short,
        synthetic.locations(1),
        LONG_SPEC,
        issue_times=pd.DataFrame({"location_id": [100], "issue_time": [issue_time]}),
    )
    assert np.isnan(served.loc[0, "cov_temperature_diff_190"])
    assert not np.isnan(served.loc[0, "cov_temperature_diff_24"])


def test_issue_time_after_newest_measurement_gives_missing_recent_lags() -> None:
    m = synthetic.measurements(1, days=3, gap_fraction=0.0)
    issue = m["datetime"].max() + pd.Timedelta(hours=2)
    f = build_features(
        m,
        synthetic.locations(1),
        SPEC,
        issue_times=pd.DataFrame({"location_id": [100], "issue_time": [issue]}),
    )
    assert f.loc[0, "issue_time"] == issue
    assert np.isnan(f.loc[0, "y_lag_0"])
    assert np.isnan(f.loc[0, "y_lag_1"])
    assert not np.isnan(f.loc[0, "y_lag_2"])


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="load_measurements"):
        build_features(pd.DataFrame({"x": [1]}), LOCATION, SPEC)
    with pytest.raises(ValueError, match="cannot also be a covariate"):
        FeatureSpec(target="pm25", covariates=("pm25",))
    with pytest.raises(ValueError, match="covariate_diffs"):
        FeatureSpec(covariates=("no2",), covariate_diffs=(0,))


def test_spec_round_trips() -> None:
    assert FeatureSpec.from_dict(SPEC.to_dict()) == SPEC
    assert FeatureSpec.from_dict(LONG_SPEC.to_dict()) == LONG_SPEC
    # a spec stored before covariate_diffs existed loads with none
    old = {k: v for k, v in SPEC.to_dict().items() if k != "covariate_diffs"}
    assert FeatureSpec.from_dict(old).covariate_diffs == ()
    assert SPEC.unit == "µg/m³"


def _random_series(rng: np.random.Generator, rows: int, shared: bool) -> tuple[np.ndarray, ...]:
    """Series for series_windows: one per (row, parameter), or several sharing rows."""
    count = rows * 3 * (2 if shared else 1)
    keys = np.arange(count) % (rows * 3)
    row, code = keys // 3, keys % 3
    length = rng.integers(1, 2 * history_hours(SPEC), count)
    stop = np.cumsum(length)
    value = rng.gamma(2, 10, int(stop[-1]))
    value[rng.random(len(value)) < 0.2] = np.nan
    back = rng.integers(-10, history_hours(SPEC) + 10, count)
    return row, code, back, stop - length, stop, value


@pytest.mark.parametrize("shared", [False, True])
def test_series_windows_equal_their_values_scattered_one_by_one(shared: bool) -> None:
    """The one window builder: a series placed as a block equals its values placed one by one
    (hourly_values reducing each hour), with or without several series on one window row."""
    rng = np.random.default_rng(11)
    row, code, back, start, stop, value = _random_series(rng, 30, shared)
    got = series_windows(row, code, back, start, stop, value, 30, SPEC)
    length = stop - start
    hours_back = np.repeat(back + length - 1, length) - (
        np.arange(len(value)) - np.repeat(start, length)
    )
    expected = scatter_windows(
        np.repeat(row, length), np.repeat(code, length), hours_back, value, 30, SPEC
    )
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).sum() > 1000


def test_one_rule_for_several_values_in_one_hour() -> None:
    """hourly_values: the mean of the non-null values of an hour, NaN when it has none; the
    training grid applies it to duplicated measurement rows."""
    got = hourly_values(np.array([0, 0, 0, 2, 3]), np.array([1.0, np.nan, 4.0, np.nan, 7.0]), 4)
    np.testing.assert_array_equal(got, [2.5, np.nan, np.nan, 7.0])
    times = pd.date_range("2025-01-01T00:00Z", periods=3, freq="h")
    m = pd.DataFrame(
        {
            "location_id": 1,
            "parameter": "pm25",
            "datetime": [*times, times[-1], times[-1]],
            "value": [1.0, 2.0, 3.0, 6.0, np.nan],
        }
    )
    f = build_features(m, LOCATION, SPEC).set_index("issue_time")
    assert f.loc[times[-1], "y_lag_0"] == 4.5
