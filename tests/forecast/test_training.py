"""The training stages' fit: the combination weights and interval calibration fitted on
forecasts of rows the trees had not seen (cross-fitted blocks for the candidate, a held-out
tail for each backtest fold), and the held-out slice sized from the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aircast import combination
from aircast.evaluation import cross_fit_blocks, split_targets
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams, HeldOut
from aircast.training import _GATE_VARIABLES, _VARIABLES, CROSS_FIT_GAP, calibrated_fitter
from tests.forecast import synthetic

SPEC = FeatureSpec(covariates=("no2",), horizons=6)
PARAMS = ForecasterParams(iterations=30, depth=4, threads=2, max_train_rows=20_000)
CALIBRATION_DAYS = 7


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    m = synthetic.measurements(3, days=40, seed=11)
    return build_features(m, synthetic.locations(3), SPEC), build_targets(m, SPEC)


def _predictions(model: Forecaster, features: pd.DataFrame) -> np.ndarray:
    out = model.predict(features)
    return out[["point", "p10", "p90"]].to_numpy()


def _trees(model: Forecaster, features: pd.DataFrame) -> np.ndarray:
    """The trees' median alone (the combination's "model" component)."""
    bare = Forecaster.from_catboost(model.model)
    bare.weights = combination.default_weights(SPEC.horizons)
    return bare.predict(features)["point"].to_numpy()


def test_held_out_model_never_sees_the_calibration_days(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, targets = data
    model = calibrated_fitter(SPEC, PARAMS, CALIBRATION_DAYS, cross_fit=False)(features, targets)

    issue = pd.DatetimeIndex(features["issue_time"])
    cut = issue.max() + pd.Timedelta(hours=1) - pd.Timedelta(days=CALIBRATION_DAYS)
    rows, censored, _ = split_targets(features, targets, cut, cut)
    direct = Forecaster(SPEC, PARAMS).fit(features[rows], censored[rows])
    probe = features.tail(48)
    # same trees as a fit on the rows before the cut, with targets censored at it (the point
    # itself is the held-out combination, so the trees' median is compared)
    np.testing.assert_array_equal(_trees(model, probe), _trees(direct, probe))
    assert np.any(model.interval_adjust != 0), "calibrated on the held-out days"
    assert not np.array_equal(model.weights, direct.weights), "weights fitted on held-out days"


def test_cross_fit_combines_the_full_fit_on_the_blocks_out_of_sample_forecasts(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, targets = data
    messages: list[str] = []
    crossed = calibrated_fitter(
        SPEC, PARAMS, CALIBRATION_DAYS, cross_fit=True, progress=messages.append, blocks=3
    )(features, targets)
    everything = Forecaster(SPEC, PARAMS).fit(features, targets)
    probe = features.tail(48)

    # the trees are those of a fit on every row ...
    np.testing.assert_array_equal(_trees(crossed, probe), _trees(everything, probe))
    # ... and the weights and interval adjustment those fitted on each block's forecasts by
    # trees fitted on the other blocks, pooled
    parts = []
    for rows, censored, block in cross_fit_blocks(features, targets, 3, CROSS_FIT_GAP):
        held = Forecaster(SPEC, PARAMS).fit(features[rows], censored[rows])
        parts.append(held.held_out(features[block], targets[block]))
    pooled = HeldOut.concat(parts)
    assert len(pooled) == int(targets.filter(like="y_h").notna().to_numpy().sum())
    everything.fit_combination_on(pooled)
    np.testing.assert_array_equal(crossed.weights, everything.weights)
    np.testing.assert_array_equal(crossed.interval_adjust, everything.interval_adjust)
    assert np.any(crossed.interval_adjust != 0)
    # in-sample errors would narrow the interval: the cross-fitted one is wider
    in_sample = Forecaster(SPEC, PARAMS).fit(features, targets, calibration=(features, targets))
    assert crossed.interval_adjust.mean() > in_sample.interval_adjust.mean()
    assert sum("cross-fitting block" in m for m in messages) == 3
    assert any("refitting on all" in m for m in messages)


def test_cross_fit_blocks_never_train_on_a_block_hour(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, targets = data
    issue = pd.DatetimeIndex(features["issue_time"])
    gap = pd.Timedelta(hours=48)
    splits = cross_fit_blocks(features, targets, 4, gap)
    blocks = np.stack([np.asarray(block) for _, _, block in splits])
    assert (blocks.sum(axis=0) == 1).all(), "every row is in exactly one block"
    for rows, censored, block in splits:
        a, b = issue[np.asarray(block)].min(), issue[np.asarray(block)].max()
        train = np.asarray(rows)
        assert not (train & np.asarray(block)).any()
        # no training row reads the block through its lags: none issued in it or the gap after
        after = (issue > b) & (issue < b + pd.Timedelta(hours=1) + gap)
        assert not (train & np.asarray(after)).any()
        assert (np.asarray(issue >= b + pd.Timedelta(hours=1) + gap) <= train).all()
        # no training pair's target hour lies in the block (or after its start)
        for h in range(1, SPEC.horizons + 1):
            kept = censored[f"y_h{h}"].notna().to_numpy() & train
            target_hour = issue[kept] + pd.Timedelta(hours=h)
            assert not ((target_hour > a) & (target_hour <= b + gap)).any()
        # the earlier rows keep their targets before the block
        early = np.asarray(issue < a - pd.Timedelta(hours=SPEC.horizons))
        pd.testing.assert_frame_equal(censored[early], targets[early])
    with pytest.raises(ValueError, match="at least 2"):
        cross_fit_blocks(features, targets, 1, gap)


def test_cross_fit_on_a_window_too_short_for_the_blocks_uses_the_held_out_tail() -> None:
    m = synthetic.measurements(3, days=5, seed=5)
    features, targets = build_features(m, synthetic.locations(3), SPEC), build_targets(m, SPEC)
    messages: list[str] = []
    model = calibrated_fitter(SPEC, PARAMS, 14, cross_fit=True, progress=messages.append)(
        features, targets
    )
    assert not any("cross-fitting" in m for m in messages), messages
    assert any("holding out the last 2 of" in m for m in messages), messages
    assert any("refitting on all" in m for m in messages), messages
    assert np.any(model.interval_adjust != 0)


def test_without_calibration_days_there_is_one_fit(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, targets = data
    messages: list[str] = []
    model = calibrated_fitter(SPEC, PARAMS, 0, cross_fit=True, progress=messages.append)(
        features, targets
    )
    assert not messages
    np.testing.assert_array_equal(model.interval_adjust, np.zeros(SPEC.horizons))


def test_held_out_slice_is_sized_from_the_history() -> None:
    # a third of the span, at least two days, at most the configured ceiling
    assert combination.held_out_days(1096, 365) == 365
    assert combination.held_out_days(30, 14) == 10
    assert combination.held_out_days(24, 14) == 8
    assert combination.held_out_days(6, 14) == 2
    assert combination.held_out_days(3, 14) == 0  # the trees would get fewer days than held out
    assert combination.held_out_days(30, 0) == 0


def test_short_history_holds_out_a_third_not_the_configured_days() -> None:
    m = synthetic.measurements(3, days=12, seed=5)
    features, targets = build_features(m, synthetic.locations(3), SPEC), build_targets(m, SPEC)
    messages: list[str] = []
    calibrated_fitter(SPEC, PARAMS, 14, cross_fit=False, progress=messages.append)(
        features, targets
    )
    assert any("last 4 of 12 days" in m for m in messages), messages


def test_pipeline_variables_reach_the_training_settings() -> None:
    import yaml
    from pydantic import ValidationError

    from aircast.training import gate_settings_from_variables, settings_from_variables

    metadata = Path(__file__).resolve().parents[2] / (
        "components/mage/aircast_mage/pipelines/train_forecaster/metadata.yaml"
    )
    declared = set(yaml.safe_load(metadata.read_text())["variables"])
    known = set(_VARIABLES) | set(_GATE_VARIABLES) | {"until"}
    assert declared <= known, f"pipeline variables with no setting: {declared - known}"

    settings = settings_from_variables({"cross_blocks": "5", "cross_fit": "", "until": ""})
    assert settings.train_cross_blocks == 5
    assert settings.train_cross_fit is True  # empty: the environment's (default) value
    with pytest.raises(ValidationError, match="train_cross_blocks"):
        settings_from_variables({"cross_blocks": "1"})
    assert gate_settings_from_variables({"gate_folds": "2"}).gate_folds == 2
