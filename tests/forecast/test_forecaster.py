"""The CatBoost forecaster: output contract, reproducibility, save/load, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from tests.forecast import synthetic

SPEC = FeatureSpec(covariates=("no2",), horizons=6)
PARAMS = ForecasterParams(iterations=40, depth=4, threads=2, max_train_rows=20_000)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    m = synthetic.measurements(3, days=40, seed=5)
    return build_features(m, synthetic.locations(3), SPEC), build_targets(m, SPEC)


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.DataFrame]) -> Forecaster:
    return Forecaster(SPEC, PARAMS).fit(*data)


def test_predict_contract(fitted: Forecaster, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features = data[0].tail(4)
    out = fitted.predict(features)
    assert list(out.columns) == [
        "location_id",
        "issue_time",
        "horizon",
        "target_time",
        "point",
        "p10",
        "p90",
    ]
    assert len(out) == 4 * 6
    assert sorted(out["horizon"].unique()) == [1, 2, 3, 4, 5, 6]
    assert (out["target_time"] - out["issue_time"] == pd.to_timedelta(out["horizon"], "h")).all()
    assert (out["p10"] <= out["point"]).all()
    assert (out["point"] <= out["p90"]).all()
    assert (out["p90"] > out["p10"]).mean() > 0.9
    assert out["point"].notna().all()


def test_beats_persistence_in_sample(
    fitted: Forecaster, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    features, targets = data
    rows = features.iloc[200:800]
    out = fitted.predict(rows)
    y = targets.iloc[200:800]["y_h6"].to_numpy()
    point = out[out["horizon"] == 6]["point"].to_numpy()
    ok = ~np.isnan(y) & ~np.isnan(rows["y_lag_0"].to_numpy())
    model_mae = np.mean(np.abs(point[ok] - y[ok]))
    persistence_mae = np.mean(np.abs(rows["y_lag_0"].to_numpy()[ok] - y[ok]))
    assert model_mae < persistence_mae


def test_seeded_fit_is_reproducible(
    data: tuple[pd.DataFrame, pd.DataFrame], fitted: Forecaster
) -> None:
    again = Forecaster(SPEC, PARAMS).fit(*data)
    rows = data[0].tail(3)
    pd.testing.assert_frame_equal(again.predict(rows), fitted.predict(rows))


def test_native_model_file_round_trips(
    fitted: Forecaster, data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    path = fitted.save(tmp_path / "model.cb")
    loaded = Forecaster.load(path)
    assert loaded.spec == SPEC
    assert loaded.params == PARAMS
    rows = data[0].tail(5)
    pd.testing.assert_frame_equal(loaded.predict(rows), fitted.predict(rows))


def test_calibration_widens_intervals_to_cover(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features, targets = data
    cut = int(len(features) * 0.7)
    model = Forecaster(SPEC, PARAMS).fit(features.iloc[:cut], targets.iloc[:cut])
    before = model.predict(features.iloc[cut:])
    model.calibrate(features.iloc[cut:], targets.iloc[cut:], coverage=0.95)
    after = model.predict(features.iloc[cut:])
    assert (after["p90"] - after["p10"]).mean() > (before["p90"] - before["p10"]).mean()
    y = targets.iloc[cut:][[f"y_h{h}" for h in range(1, 7)]].to_numpy().ravel()
    ok = ~np.isnan(y)
    covered = (after["p10"].to_numpy() <= y) & (y <= after["p90"].to_numpy())
    assert covered[ok].mean() >= 0.9


def test_refitted_model_adopts_a_held_out_calibration(
    data: tuple[pd.DataFrame, pd.DataFrame], fitted: Forecaster, tmp_path: Path
) -> None:
    """Cross-fitted calibration: a model fitted on everything reuses the adjustment measured
    by one that did not see the calibration rows; the adjustment is saved with it."""
    features, targets = data
    cut = int(len(features) * 0.7)
    held_out = Forecaster(SPEC, PARAMS).fit(
        features.iloc[:cut],
        targets.iloc[:cut],
        calibration=(features.iloc[cut:], targets.iloc[cut:]),
    )
    refit = Forecaster(SPEC, PARAMS).fit(*data)
    refit.adopt_calibration(held_out)
    np.testing.assert_array_equal(refit.interval_adjust, held_out.interval_adjust)
    loaded = Forecaster.load(refit.save(tmp_path / "model.cb"))
    np.testing.assert_array_equal(loaded.interval_adjust, held_out.interval_adjust)
    other = Forecaster(FeatureSpec(covariates=("no2",), horizons=3), PARAMS)
    other.interval_adjust = np.zeros(3)
    with pytest.raises(ValueError, match="same feature spec"):
        fitted.adopt_calibration(other)


def test_missing_feature_columns_is_a_clear_error(
    fitted: Forecaster, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    with pytest.raises(ValueError, match="build_features"):
        fitted.predict(data[0].drop(columns=["y_lag_1"]).tail(2))
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster(SPEC).predict(data[0].tail(1))


def test_target_scale_grows_with_horizon_and_is_saved(fitted: Forecaster, tmp_path: Path) -> None:
    # the 1 h log ratio is narrower than the 6 h one; without a per-horizon scale the trees
    # gave the short horizons the long horizons' mean reversion
    scale = fitted.target_scale
    assert scale.shape == (SPEC.horizons,)
    assert scale[-1] > scale[0] > 0
    loaded = Forecaster.load(fitted.save(tmp_path / "model.cb"))
    np.testing.assert_array_equal(loaded.target_scale, scale)


def test_model_saved_before_target_scale_loads_unscaled(fitted: Forecaster, tmp_path: Path) -> None:
    import json

    from catboost import CatBoost

    model = CatBoost()
    model.load_model(str(fitted.save(tmp_path / "model.cb")))
    meta = json.loads(model.get_metadata()["aircast"])
    del meta["target_scale"]
    model.get_metadata()["aircast"] = json.dumps(meta)
    legacy = Forecaster.from_catboost(model)
    np.testing.assert_array_equal(legacy.target_scale, np.ones(SPEC.horizons))


def test_array_input_predicts_what_a_catboost_pool_of_the_frame_predicts(
    fitted: Forecaster, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """The serving fast path (a float matrix plus the location column, no DataFrame) feeds
    CatBoost exactly the inputs the training frame does."""
    from catboost import Pool

    features = data[0].iloc[300:340].reset_index(drop=True)
    rows = np.repeat(np.arange(len(features)), SPEC.horizons)
    horizons = np.tile(np.arange(1, SPEC.horizons + 1), len(features))
    columns = fitted.model_columns(features, rows, horizons)
    frame = fitted.model_frame(features.iloc[rows], horizons)
    assert fitted.model_feature_names[-1] == "location"
    pooled = fitted.model.predict(Pool(frame, cat_features=["location"]))
    scaled = np.asarray(pooled) * fitted.target_scale[horizons - 1][:, None]
    np.testing.assert_array_equal(fitted._raw(columns), scaled)
    np.testing.assert_array_equal(fitted._raw(frame), scaled)  # a frame takes the same path
    # an unseen location goes through both inputs the same way
    other = {**columns, "location": np.full(len(rows), "999999", dtype=object)}
    pooled = fitted.model.predict(Pool(frame.assign(location="999999"), cat_features=["location"]))
    np.testing.assert_array_equal(
        fitted._raw(other), np.asarray(pooled) * fitted.target_scale[horizons - 1][:, None]
    )


def test_predict_columns_selects_horizons_and_rejects_others(
    fitted: Forecaster, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    features = data[0].tail(3).reset_index(drop=True)
    full = fitted.predict(features)
    some = fitted.predict_columns(features, horizons=[2, 5])
    assert some.horizon.tolist() == [2, 5] * 3
    expected = full[full["horizon"].isin([2, 5])]["point"].to_numpy()
    np.testing.assert_array_equal(some.point, expected)
    with pytest.raises(ValueError, match=r"within 1\.\.6"):
        fitted.predict_columns(features, horizons=[7])


@pytest.mark.parametrize("lags", [(1, 2, 3, 24), (*range(1, 25), 36)])
def test_same_hour_yesterday_is_the_lag_reaching_back_to_yesterday(
    lags: tuple[int, ...],
) -> None:
    # Horizon h reads the target 24 - h hours before the issue time (the hour a day before
    # the one forecast), or NaN when the spec has no such lag.
    spec = FeatureSpec(covariates=("no2",), lags=lags, horizons=24)
    m = synthetic.measurements(2, days=12, seed=9)
    features = build_features(m, synthetic.locations(2), spec).reset_index(drop=True)
    rng = np.random.default_rng(3)
    rows = rng.integers(0, len(features), 5_000)
    horizons = rng.integers(1, 25, 5_000)
    column = Forecaster(spec).model_columns(features, rows, horizons)["same_hour_yesterday"]
    for row, h, got in zip(rows, horizons, column, strict=True):
        lag = 24 - int(h)
        if lag == 0 or lag in lags:
            want = np.float32(features[f"y_lag_{lag}"].iloc[row])
            assert got == want or (np.isnan(got) and np.isnan(want))
        else:
            assert np.isnan(got)


def test_crossed_quantiles_are_ordered_as_a_sort_would() -> None:
    from aircast.forecaster import _ordered

    rng = np.random.default_rng(4)
    # every order of three values, ties, and signed zeros
    raw = np.vstack(
        [rng.normal(size=(5_000, 3)), rng.integers(-2, 3, size=(5_000, 3)).astype(float)]
    )
    raw[:3] = [[0.0, -0.0, 0.0], [1.0, 1.0, -1.0], [3.0, 2.0, 1.0]]
    got = np.column_stack(_ordered(raw))
    assert np.array_equal(got, np.sort(raw, axis=1))
