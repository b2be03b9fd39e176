"""The training stages' fit: held-out combination and interval calibration, the cross-fitted
refit, and the held-out slice sized from the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aircast import combination
from aircast.evaluation import split_targets
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.training import calibrated_fitter
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


def test_cross_fit_refits_on_everything_and_keeps_the_held_out_calibration(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, targets = data
    messages: list[str] = []
    held_out = calibrated_fitter(SPEC, PARAMS, CALIBRATION_DAYS, cross_fit=False)(features, targets)
    crossed = calibrated_fitter(
        SPEC, PARAMS, CALIBRATION_DAYS, cross_fit=True, progress=messages.append
    )(features, targets)
    everything = Forecaster(SPEC, PARAMS).fit(features, targets)
    probe = features.tail(48)

    # the trees are those of a fit on every row, the calibration days included ...
    np.testing.assert_array_equal(_trees(crossed, probe), _trees(everything, probe))
    assert not np.array_equal(_predictions(crossed, probe), _predictions(held_out, probe))
    # ... and the weights and interval adjustment are those measured on days unseen by the
    # model that was combined and calibrated on them
    np.testing.assert_array_equal(crossed.interval_adjust, held_out.interval_adjust)
    np.testing.assert_array_equal(crossed.weights, held_out.weights)
    assert not np.array_equal(crossed.interval_adjust, everything.interval_adjust)
    assert any("refitting" in m for m in messages)


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
