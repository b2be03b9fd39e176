"""The training stages' fit: held-out interval calibration, and the cross-fitted refit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
    # same trees as a fit on the rows before the cut, with targets censored at it
    np.testing.assert_array_equal(
        model.predict(probe)["point"].to_numpy(), direct.predict(probe)["point"].to_numpy()
    )
    assert np.any(model.interval_adjust != 0), "calibrated on the held-out days"


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
    np.testing.assert_array_equal(
        crossed.predict(probe)["point"].to_numpy(), everything.predict(probe)["point"].to_numpy()
    )
    assert not np.array_equal(_predictions(crossed, probe), _predictions(held_out, probe))
    # ... and the interval adjustment is the one measured on days unseen by its model
    np.testing.assert_array_equal(crossed.interval_adjust, held_out.interval_adjust)
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
