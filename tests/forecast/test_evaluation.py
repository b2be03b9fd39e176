"""Backtest scoring, baselines, no-peeking splits and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aircast.evaluation import baseline_matrix, rolling_origin, split_targets, write_plots
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from tests.forecast import synthetic

SPEC = FeatureSpec(horizons=24)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    m = synthetic.measurements(2, days=30, seed=2, gap_fraction=0.05)
    return build_features(m, synthetic.locations(2), SPEC), build_targets(m, SPEC)


def test_baselines_are_last_value_and_same_hour_yesterday(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    features, targets = data
    persistence = baseline_matrix(features, SPEC, "persistence")
    seasonal = baseline_matrix(features, SPEC, "seasonal_naive")
    row = 300
    np.testing.assert_array_equal(persistence[row], np.full(24, features["y_lag_0"].iloc[row]))
    # target time t+h, one day earlier = t+h-24 = lag 24-h (h=24: the current value)
    assert seasonal[row, 0] == features["y_lag_23"].iloc[row] or np.isnan(seasonal[row, 0])
    assert seasonal[row, 23] == features["y_lag_0"].iloc[row] or np.isnan(seasonal[row, 23])
    # seasonal naive for horizon h equals the observed target h-24 hours... i.e. the value
    # observed at t+h-24, which is targets' y_h(h) of the row issued 24 h earlier
    same_loc = features["location_id"].iloc[row] == features["location_id"].iloc[row - 24]
    assert same_loc
    earlier = targets.iloc[row - 24]
    for h in (1, 6, 23):
        a, b = seasonal[row, h - 1], earlier[f"y_h{h}"]
        assert (np.isnan(a) and np.isnan(b)) or a == b


def test_split_censors_targets_after_the_origin(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    features, targets = data
    origin = pd.Timestamp(features["issue_time"].iloc[400])
    train_rows, censored, test_rows = split_targets(
        features, targets, origin, origin + pd.Timedelta(days=2)
    )
    issue = pd.DatetimeIndex(features["issue_time"])
    assert (issue[train_rows.to_numpy()] < origin).all()
    assert (issue[test_rows.to_numpy()] >= origin).all()
    for h in (1, 12, 24):
        late = issue + pd.Timedelta(hours=h) > origin
        assert censored.loc[np.asarray(late), f"y_h{h}"].isna().all()


def test_rolling_origin_scores_all_models_on_the_same_cells(
    data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    features, targets = data
    end = pd.DatetimeIndex(features["issue_time"]).max()
    window = pd.Timedelta(days=3)
    params = ForecasterParams(iterations=30, depth=4, max_train_rows=20_000)
    origins = [end - 2 * window, end - window]
    backtest, models = rolling_origin(
        features,
        targets,
        lambda f, t: Forecaster(SPEC, params).fit(f, t),
        origins,
        window,
    )
    assert len(models) == 2
    cells = backtest.cells
    # every cell is tagged with its fold and lies in that fold's window
    assert set(cells["fold"]) == {0, 1}
    issued = pd.DatetimeIndex(cells["issue_time"])
    for fold, origin in enumerate(origins):
        inside = issued[(cells["fold"] == fold).to_numpy()]
        assert (inside >= origin).all()
        assert (inside < origin + window).all()
    assert not cells[["observed", "aircast", "persistence", "seasonal_naive"]].isna().any().any()
    table = backtest.by_horizon()
    assert list(table.index) == list(range(1, 25))
    expected = (cells["aircast"] - cells["observed"]).abs().groupby(cells["horizon"]).mean()
    np.testing.assert_allclose(table["mae_aircast"], expected)
    assert table["coverage"].between(0, 1).all()
    np.testing.assert_allclose(table["skill"], 1 - table["mae_aircast"] / table["mae_persistence"])
    summary = backtest.summary()
    assert summary["mae_h01"] == pytest.approx(table.loc[1, "mae_aircast"])
    assert summary["mae_mean_persistence"] == pytest.approx(table["mae_persistence"].mean())
    plots = write_plots(backtest, models[-1], tmp_path)
    assert [p.name for p in plots] == [
        "error_by_horizon.png",
        "predicted_vs_observed.png",
        "feature_importance.png",
    ]
    for p in plots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
