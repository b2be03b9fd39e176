"""The per-horizon combination with persistence, its recalibrated interval, and the baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aircast import combination
from aircast.evaluation import Backtest, split_targets
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import BASELINE, Forecaster, ForecasterParams
from tests.forecast import synthetic

SPEC = FeatureSpec(covariates=("no2",), horizons=6)
PARAMS = ForecasterParams(iterations=30, depth=4, threads=2, max_train_rows=20_000)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    m = synthetic.measurements(3, days=30, seed=3)
    return build_features(m, synthetic.locations(3), SPEC), build_targets(m, SPEC)


def _split(
    features: pd.DataFrame, targets: pd.DataFrame, days: int = 8
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    issue = pd.DatetimeIndex(features["issue_time"])
    cut = issue.max() + pd.Timedelta(hours=1) - pd.Timedelta(days=days)
    rows, censored, _ = split_targets(features, targets, cut, cut)
    held = np.asarray(issue >= cut)
    return features[rows], censored[rows], features[held], targets[held]


@pytest.mark.parametrize("seed", range(5))
def test_fitted_weights_never_lose_to_any_single_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    observed = rng.gamma(2.0, 10.0, 500)
    stack = np.column_stack(
        [
            observed * rng.lognormal(0.0, 0.8, 500),  # a poor model
            observed + rng.normal(0.0, 4.0, 500),  # persistence-like
            np.full(500, observed.mean()),  # a mean
        ]
    )
    weights = combination.fit_weights(stack, observed)
    assert weights.min() >= 0.0
    assert weights.sum() == pytest.approx(1.0)
    combined = np.abs(combination.combine(stack, np.tile(weights, (500, 1))) - observed).mean()
    for k in range(stack.shape[1]):
        assert combined <= np.abs(np.clip(stack[:, k], 0, None) - observed).mean() + 1e-12


def test_an_oracle_model_takes_all_the_weight_and_a_useless_one_none() -> None:
    rng = np.random.default_rng(1)
    observed = rng.gamma(2.0, 10.0, 400)
    persistence = observed + rng.normal(0.0, 3.0, 400)
    oracle = np.column_stack([observed, persistence, persistence])
    np.testing.assert_allclose(combination.fit_weights(oracle, observed), [1.0, 0.0, 0.0])
    useless = np.column_stack([rng.permutation(observed), persistence, persistence * 0 + 50])
    assert combination.fit_weights(useless, observed)[0] <= 0.05


@pytest.mark.parametrize("useless", [True, False])
def test_combined_forecast_is_never_worse_than_persistence_where_it_was_fitted(
    data: tuple[pd.DataFrame, pd.DataFrame], useless: bool
) -> None:
    """The oracle property, through the forecaster and the backtest scorer: at every horizon,
    on the held-out rows the weights were fitted on, MAE <= persistence's MAE. Trees fitted on
    shuffled targets are worse than persistence; the combination must still not be."""
    train_x, train_y, held_x, held_y = _split(*data)
    if useless:
        order = np.random.default_rng(0).permutation(len(train_y))
        train_y = train_y.iloc[order].set_axis(train_y.index)
    bare = Forecaster(SPEC, PARAMS).fit(train_x, train_y)
    combined = Forecaster(SPEC, PARAMS).fit(train_x, train_y, calibration=(held_x, held_y))

    table = Backtest.score(combined, held_x, held_y).by_horizon()
    assert (table["mae_aircast"] <= table["mae_persistence"] + 1e-9).all(), table
    bare_table = Backtest.score(bare, held_x, held_y).by_horizon()
    if useless:
        assert (bare_table["mae_aircast"] > bare_table["mae_persistence"]).all(), (
            "trees on shuffled targets should lose to persistence, or this proves nothing"
        )
        assert (combined.weights[:, 0] < 0.5).all()
    # the combination never loses to the trees alone either, on these rows
    assert (table["mae_aircast"] <= bare_table["mae_aircast"] + 1e-9).all()


def test_interval_is_recalibrated_after_the_combination(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train_x, train_y, held_x, held_y = _split(*data)
    model = Forecaster(SPEC, PARAMS).fit(train_x, train_y, calibration=(held_x, held_y))
    coverage = Backtest.score(model, held_x, held_y).by_horizon()["coverage"]
    # conformal on these rows: ~80 % at every horizon (finite-sample quantile rounds up)
    assert coverage.between(0.78, 0.86).all(), coverage


def test_weights_are_stored_with_the_model_and_applied_on_the_serving_path(
    data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train_x, train_y, held_x, held_y = _split(*data)
    model = Forecaster(SPEC, ForecasterParams(iterations=1, depth=4, threads=2)).fit(
        train_x, train_y, calibration=(held_x, held_y)
    )
    assert not np.array_equal(model.weights, combination.default_weights(SPEC.horizons))
    loaded = Forecaster.load(model.save(tmp_path / "model.cb"))
    np.testing.assert_array_equal(loaded.weights, model.weights)
    np.testing.assert_array_equal(loaded.interval_adjust, model.interval_adjust)

    probe = held_x.tail(30).reset_index(drop=True)
    frame_path = model.predict(probe)  # the backtest's (training's) path
    arrays = {c: probe[c].to_numpy() for c in probe.columns}
    serve_path = loaded.predict_columns(arrays)  # the API's path
    np.testing.assert_array_equal(frame_path["point"].to_numpy(), serve_path.point)
    np.testing.assert_array_equal(frame_path["p10"].to_numpy(), serve_path.p10)
    np.testing.assert_array_equal(frame_path["p90"].to_numpy(), serve_path.p90)


def test_format_1_model_serves_the_trees_median_unchanged(
    data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """A model saved before the combination (format 1: no weights) keeps its forecasts."""
    import json

    train_x, train_y, _, _ = _split(*data)
    model = Forecaster(SPEC, PARAMS).fit(train_x, train_y)
    meta = json.loads(model.model.get_metadata()["aircast"])
    for key in ("kind", "weights", "components", "baseline_quantiles"):
        meta.pop(key)
    meta["format"] = 1
    model.model.get_metadata()["aircast"] = json.dumps(meta)
    old = Forecaster.from_catboost(model.model)
    np.testing.assert_array_equal(old.weights, combination.default_weights(SPEC.horizons))
    probe = train_x.tail(10)
    raw = old._raw(old.model_columns(probe.reset_index(drop=True), np.arange(10), np.ones(10)))
    median = np.sort(raw, axis=1)[:, 1]
    anchor = old.model_columns(probe.reset_index(drop=True), np.arange(10), np.ones(10))["anchor"]
    point = old.predict_columns(probe, horizons=[1]).point
    np.testing.assert_allclose(point, np.clip(np.expm1(anchor + median), 0, None), rtol=1e-6)


# --------------------------------------------------------------------------- baseline


def test_baseline_from_three_days_has_the_forecaster_contract(tmp_path: Path) -> None:
    m = synthetic.measurements(2, days=3, seed=4)
    features, targets = build_features(m, synthetic.locations(2), SPEC), build_targets(m, SPEC)
    baseline = Forecaster.baseline(SPEC).fit_baseline(features, targets)
    assert baseline.kind == BASELINE
    assert baseline.model is None

    out = baseline.predict(features.dropna(subset=["y_lag_0"]))
    assert set(out["horizon"]) == set(range(1, SPEC.horizons + 1))
    assert (out["p10"] <= out["point"]).all()
    assert (out["point"] <= out["p90"]).all()
    assert np.isfinite(out[["point", "p10", "p90"]].to_numpy()).all()
    # empirical interval: ~80 % of the targets it was fitted on, at every horizon
    coverage = Backtest.score(baseline, features, targets).by_horizon()["coverage"]
    assert coverage.between(0.75, 0.87).all(), coverage

    path = baseline.save(tmp_path / "baseline.json")
    loaded = Forecaster.load(path)
    assert loaded.is_baseline
    probe = features.tail(5)
    pd.testing.assert_frame_equal(loaded.predict(probe), baseline.predict(probe))


def test_baseline_never_worse_than_persistence_where_it_was_fitted() -> None:
    m = synthetic.measurements(3, days=10, seed=8)
    features, targets = build_features(m, synthetic.locations(3), SPEC), build_targets(m, SPEC)
    baseline = Forecaster.baseline(SPEC).fit_baseline(features, targets)
    table = Backtest.score(baseline, features, targets).by_horizon()
    assert (table["mae_aircast"] <= table["mae_persistence"] + 1e-9).all(), table


def test_baseline_without_any_target_uses_the_prior() -> None:
    m = synthetic.measurements(1, days=1, seed=2)
    m = m[pd.DatetimeIndex(m["datetime"]) < m["datetime"].min() + pd.Timedelta(hours=1)]
    features, targets = build_features(m, synthetic.locations(1), SPEC), build_targets(m, SPEC)
    baseline = Forecaster.baseline(SPEC).fit_baseline(features, targets)
    out = baseline.predict(features.dropna(subset=["y_lag_0"]))
    last = float(features["y_lag_0"].dropna().iloc[-1])
    np.testing.assert_allclose(out["point"], last)  # persistence
    width = (out["p90"] - out["p10"]).to_numpy()
    assert (np.diff(width) > 0).all(), "the prior widens with the horizon"


def test_unfitted_baseline_cannot_predict(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        Forecaster.baseline(SPEC).predict(data[0].tail(2))
