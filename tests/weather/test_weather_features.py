"""Weather features: the as-of rule (no training row reads a value issued after its issue
time), train == serve, and the model's fallback without weather. Pure unit tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aircast.features import (
    DEFAULT_WEATHER,
    FeatureSpec,
    build_features,
    build_targets,
    history_hours,
    weather_windows,
)
from aircast.forecaster import Forecaster, ForecasterParams
from tests.forecast import synthetic

SPEC = FeatureSpec(covariates=("temperature",), weather=DEFAULT_WEATHER, horizons=12)
HOUR = pd.Timedelta(hours=1)


def _stamped_runs(locations: pd.DataFrame, days: int) -> pd.DataFrame:
    """Runs whose every value is the hour they were issued (hours since 2025-01-01): a
    feature then says which run it was read from."""
    runs = synthetic.weather_runs(locations, days=days, every_hours=6, lead_hours=48, delay_hours=4)
    issued = (runs["issued_at"] - pd.Timestamp("2025-01-01", tz="UTC")) / HOUR
    runs["temperature_2m"] = issued.astype("float64")
    return runs


def test_no_training_row_uses_a_weather_value_issued_after_its_issue_time() -> None:
    locs = synthetic.locations(2)
    m = synthetic.measurements(2, days=8, seed=1)
    runs = _stamped_runs(locs, days=8)
    spec = FeatureSpec(weather=("temperature",), horizons=24)
    features = build_features(m, locs, spec, weather=runs)
    issue_hours = (
        (features["issue_time"] - pd.Timestamp("2025-01-01", tz="UTC")) / HOUR
    ).to_numpy()
    read = features[[f"wx_temperature_{k}" for k in range(25)]].to_numpy(dtype="float64")
    seen = ~np.isnan(read)
    assert seen.sum() > 0.9 * read.size  # the test reads real values, not only gaps
    # every value read was issued at or before the row's issue time ...
    assert (read[seen] <= issue_hours[:, None].repeat(25, axis=1)[seen]).all()
    # ... and is the newest such run covering the target hour (runs every 6 h, 4 h delay,
    # 48 h long): nothing newer that existed then was skipped
    for k in (0, 1, 6, 20, 24):
        for i in range(0, len(features), 37):
            t = issue_hours[i]
            known = [r + 4 for r in range(0, 8 * 24, 6) if r + 4 <= t and r <= t + k <= r + 48]
            expected = max(known) if known else np.nan
            np.testing.assert_equal(read[i, k], expected)


def test_a_value_issued_one_hour_late_is_not_read() -> None:
    locs = synthetic.locations(1)
    loc = int(locs["location_id"].iloc[0])
    t = pd.Timestamp("2025-01-03T12:00Z")
    base = dict.fromkeys(("dew_point_2m", "relative_humidity_2m", "surface_pressure",
                          "precipitation", "wind_speed_10m", "wind_direction_10m",
                          "boundary_layer_height", "cloud_cover"), np.nan)  # fmt: skip
    rows = pd.DataFrame(
        [
            {"location_id": loc, "target_time": t + 3 * HOUR, "issued_at": t - HOUR,
             "temperature_2m": 1.0, **base},
            {"location_id": loc, "target_time": t + 3 * HOUR, "issued_at": t,
             "temperature_2m": 2.0, **base},
            {"location_id": loc, "target_time": t + 3 * HOUR, "issued_at": t + HOUR,
             "temperature_2m": 99.0, **base},
            # issued within the hour after t: known only at its end, so not at t
            {"location_id": loc, "target_time": t + 3 * HOUR,
             "issued_at": t + pd.Timedelta(minutes=20), "temperature_2m": 98.0, **base},
        ]
    )  # fmt: skip
    spec = FeatureSpec(weather=("temperature",), horizons=6)
    windows = weather_windows(rows, np.array([loc]), pd.DatetimeIndex([t]), spec)
    assert windows[0, 0, 3] == 2.0
    assert np.isnan(windows[0, 0, [0, 1, 2, 4, 5, 6]]).all()
    earlier = weather_windows(rows, np.array([loc]), pd.DatetimeIndex([t - HOUR]), spec)
    assert earlier[0, 0, 4] == 1.0


def test_weather_features_serve_like_training() -> None:
    locs = synthetic.locations(2)
    m = synthetic.measurements(2, days=14, seed=2)
    runs = synthetic.weather_runs(locs, days=14, seed=3, delay_hours=4)
    full = build_features(m, locs, SPEC, weather=runs).set_index(["location_id", "issue_time"])
    n = history_hours(SPEC)
    rng = np.random.default_rng(0)
    keys = full.index[rng.choice(np.arange(200, len(full)), 8, replace=False)]
    for loc, t in keys:
        window = m[(m["location_id"] == loc) & (m["datetime"] > t - pd.Timedelta(hours=n))
                   & (m["datetime"] <= t)]  # fmt: skip
        # what serving reads: the newest row issued at or before t per target hour
        known = runs[(runs["location_id"] == loc) & (runs["issued_at"] <= t)]
        as_of = known.sort_values("issued_at").drop_duplicates(["target_time"], keep="last")
        served = build_features(
            window, locs, SPEC,
            issue_times=pd.DataFrame({"location_id": [loc], "issue_time": [t]}),
            weather=as_of,
        )  # fmt: skip
        expected = full.loc[[(loc, t)]].reset_index()
        pd.testing.assert_frame_equal(served, expected, check_exact=True, check_dtype=False)
        assert served[[c for c in served.columns if c.startswith("wx_")]].notna().any(axis=None)


@pytest.mark.timeout(120)
def test_a_model_trained_with_weather_answers_without_it() -> None:
    locs = synthetic.locations(2)
    m = synthetic.measurements(2, days=40, seed=4)
    runs = synthetic.weather_runs(locs, days=40, seed=5, delay_hours=4)
    features = build_features(m, locs, SPEC, weather=runs)
    targets = build_targets(m, SPEC)
    model = Forecaster(SPEC, ForecasterParams(iterations=40, threads=1)).fit(features, targets)
    assert {"wx_wind_u", "wx_wind_u_change", "wx_precipitation_mean6"} <= set(
        model.model_feature_names
    )
    last = features.tail(5).reset_index(drop=True)
    with_weather = model.predict(last)
    # the fallback: no weather at all (every wx_ feature missing)
    blind = build_features(m, locs, SPEC, issue_times=last[["location_id", "issue_time"]])
    assert blind[[c for c in blind.columns if c.startswith("wx_")]].isna().all(axis=None)
    without = model.predict(blind)
    for frame in (with_weather, without):
        assert np.isfinite(frame[["point", "p10", "p90"]].to_numpy()).all()
        assert (frame["p10"] <= frame["point"]).all()
        assert (frame["point"] <= frame["p90"]).all()
    assert not np.allclose(with_weather["point"], without["point"])
