"""Backtests: rolling-origin evaluation against persistence and seasonal-naive baselines.

Where the folds go and what the gate makes of the scores is :mod:`aircast.gate`'s.

All forecasts in a backtest are scored on the same (location, issue time, horizon) cells: the
observed value exists and both baselines have a value, so the model and the baselines are
compared like for like. Metrics are per horizon: MAE, RMSE, skill vs persistence
(``1 - MAE / MAE_persistence``) and p10-p90 interval coverage.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aircast.features import FeatureSpec
from aircast.forecaster import Forecaster

MODELS = ("aircast", "persistence", "seasonal_naive")


def baseline_matrix(features: pd.DataFrame, spec: FeatureSpec, kind: str) -> np.ndarray:
    """(rows x horizons) baseline forecasts from the features.

    ``persistence``: the value at the issue time for every horizon. ``seasonal_naive``: the
    value 24 h before the target time (needs lags 1..23, part of the default spec).
    """
    n, horizons = len(features), spec.horizons
    last = features["y_lag_0"].to_numpy(dtype="float64", na_value=np.nan)
    if kind == "persistence":
        return np.repeat(last[:, None], horizons, axis=1)
    if kind != "seasonal_naive":
        raise ValueError(f"unknown baseline {kind!r}")
    out = np.full((n, horizons), np.nan)
    lags = set(spec.lags) | {0}
    for h in range(1, horizons + 1):
        lag = (24 - h) % 24 if h <= 24 else None
        if lag is not None and lag in lags:
            out[:, h - 1] = features[f"y_lag_{lag}"].to_numpy(dtype="float64", na_value=np.nan)
    return out


@dataclass
class Backtest:
    """Scored cells of a backtest, long format.

    Columns: ``location_id``, ``issue_time``, ``horizon``, ``observed``, one column per model
    in :data:`MODELS` (point forecasts), ``p10``, ``p90``.
    """

    cells: pd.DataFrame

    @classmethod
    def score(
        cls, forecaster: Forecaster, features: pd.DataFrame, targets: pd.DataFrame
    ) -> Backtest:
        """Forecast every row of ``features`` and keep the cells every model can be scored on."""
        spec = forecaster.spec
        horizons = spec.horizons
        cols = [f"y_h{h}" for h in range(1, horizons + 1)]
        observed = targets[cols].to_numpy(dtype="float64", na_value=np.nan)
        persistence = baseline_matrix(features, spec, "persistence")
        seasonal = baseline_matrix(features, spec, "seasonal_naive")
        valid = ~np.isnan(observed) & ~np.isnan(persistence) & ~np.isnan(seasonal)
        keep_rows = valid.any(axis=1)
        feats = features.loc[keep_rows].reset_index(drop=True)
        if feats.empty:
            return cls(pd.DataFrame(columns=["location_id", "issue_time", "horizon", "observed"]))
        forecast = forecaster.predict(feats)
        mask = valid[keep_rows].ravel()
        cells = pd.DataFrame(
            {
                "location_id": forecast["location_id"].to_numpy(),
                "issue_time": forecast["issue_time"].to_numpy(),
                "horizon": forecast["horizon"].to_numpy(),
                "observed": observed[keep_rows].ravel(),
                "aircast": forecast["point"].to_numpy(),
                "persistence": persistence[keep_rows].ravel(),
                "seasonal_naive": seasonal[keep_rows].ravel(),
                "p10": forecast["p10"].to_numpy(),
                "p90": forecast["p90"].to_numpy(),
            }
        )
        return cls(cells[mask].reset_index(drop=True))

    def by_horizon(self) -> pd.DataFrame:
        """Per-horizon ``mae_<model>``, ``rmse_<model>``, ``skill``, ``coverage`` and ``n``."""
        c = self.cells
        out: dict[str, pd.Series] = {}
        for model in MODELS:
            err = c[model] - c["observed"]
            out[f"mae_{model}"] = err.abs().groupby(c["horizon"]).mean()
            out[f"rmse_{model}"] = (err**2).groupby(c["horizon"]).mean() ** 0.5
        table = pd.DataFrame(out)
        table["skill"] = 1.0 - table["mae_aircast"] / table["mae_persistence"]
        inside = (c["p10"] <= c["observed"]) & (c["observed"] <= c["p90"])
        table["coverage"] = inside.groupby(c["horizon"]).mean()
        table["n"] = c.groupby("horizon").size()
        table.index.name = "horizon"
        return table

    def summary(self) -> dict[str, float]:
        """Flat metrics for MLflow: ``<metric>_h<NN>`` per horizon plus means."""
        table = self.by_horizon()
        metrics: dict[str, float] = {}
        for h in table.index:
            row = table.loc[h]
            for name in ("mae_aircast", "rmse_aircast", "skill", "coverage"):
                metrics[f"{name.removesuffix('_aircast')}_h{h:02d}"] = float(row[name])
            metrics[f"mae_persistence_h{h:02d}"] = float(row["mae_persistence"])
        for model in MODELS:
            metrics[f"mae_mean_{model}"] = float(table[f"mae_{model}"].mean())
            metrics[f"rmse_mean_{model}"] = float(table[f"rmse_{model}"].mean())
        metrics["skill_mean"] = float(table["skill"].mean())
        metrics["coverage_mean"] = float(table["coverage"].mean())
        metrics["backtest_cells"] = float(len(self.cells))
        return metrics


def split_targets(
    features: pd.DataFrame, targets: pd.DataFrame, origin: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.Series, pd.DataFrame, pd.Series]:
    """Masks and censored targets for one origin.

    Training rows are issue times before ``origin`` whose targets are censored to observations
    at or before ``origin`` (no peeking). Test rows have ``origin <= issue_time < end``.
    """
    issue = pd.DatetimeIndex(features["issue_time"])
    train_rows = pd.Series(issue < origin, index=features.index)
    test_rows = pd.Series((issue >= origin) & (issue < end), index=features.index)
    censored = targets.copy()
    for col in [c for c in targets.columns if c.startswith("y_h")]:
        h = int(col[3:])
        late = issue + pd.Timedelta(hours=h) > origin
        censored.loc[np.asarray(late), col] = np.nan
    return train_rows, censored, test_rows


def cross_fit_blocks(
    features: pd.DataFrame, targets: pd.DataFrame, blocks: int, gap: pd.Timedelta
) -> list[tuple[pd.Series, pd.DataFrame, pd.Series]]:
    """Blocked cross-validation splits (Bergmeir, Hyndman & Koo 2018): ``blocks`` contiguous
    spans of issue times of equal length, each forecast by trees fitted on the others.

    For each block ``[a, b)``: (training rows, censored targets, block rows). Training rows are
    issued before ``a`` or from ``b + gap`` on: the ``gap`` after a block drops the rows whose
    recent lags and trailing means read its hours (lags longer than ``gap`` still read some,
    as inputs). Rows issued before ``a`` have every target after ``a`` censored, so no
    training pair has a block hour as its target.
    """
    if blocks < 2:
        raise ValueError("cross_fit_blocks needs at least 2 blocks")
    issue = pd.DatetimeIndex(features["issue_time"])
    start, end = issue.min(), issue.max() + pd.Timedelta(hours=1)
    edges = [(start + (end - start) * i / blocks).floor("h") for i in range(blocks)] + [end]
    splits = []
    for a, b in itertools.pairwise(edges):
        before = np.asarray(issue < a)
        train = pd.Series(before | np.asarray(issue >= b + gap), index=features.index)
        block = pd.Series(np.asarray((issue >= a) & (issue < b)), index=features.index)
        censored = targets.copy()
        for col in [c for c in targets.columns if c.startswith("y_h")]:
            late = before & np.asarray(issue + pd.Timedelta(hours=int(col[3:])) > a)
            censored.loc[late, col] = np.nan
        splits.append((train, censored, block))
    return splits


def rolling_origin(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    fit: Callable[[pd.DataFrame, pd.DataFrame], Forecaster],
    origins: Iterable[pd.Timestamp],
    window: pd.Timedelta,
    progress: Callable[[str], None] | None = None,
) -> tuple[Backtest, list[Forecaster]]:
    """Refit at each origin on the data before it and score the following ``window``.

    The cells carry a ``fold`` column (the origin's index); the fold plan is
    :func:`aircast.gate.plan_folds`'s.
    """
    parts, models = [], []
    for fold, origin in enumerate(origins):
        train_rows, censored, test_rows = split_targets(features, targets, origin, origin + window)
        if progress:
            progress(f"fold at {origin:%Y-%m-%d %H:%M}: fitting on {int(train_rows.sum())} rows")
        model = fit(features[train_rows], censored[train_rows])
        cells = Backtest.score(model, features[test_rows], targets[test_rows]).cells
        parts.append(cells.assign(fold=fold))
        models.append(model)
    return Backtest(pd.concat(parts, ignore_index=True)), models


# ----------------------------------------------------------------------------- plots


def _pyplot() -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_error_by_horizon(backtest: Backtest, path: Path) -> Path:
    """MAE per horizon for aircast and both baselines, plus interval coverage."""
    plt = _pyplot()
    table = backtest.by_horizon()
    fig, (ax, cov) = plt.subplots(1, 2, figsize=(11, 4))  # type: ignore[attr-defined]
    for model in MODELS:
        ax.plot(table.index, table[f"mae_{model}"], marker="o", ms=3, label=model)
    ax.set(xlabel="horizon (h)", ylabel="MAE", title="Error by horizon")
    ax.legend()
    cov.plot(table.index, table["coverage"], marker="o", ms=3, color="C3")
    cov.axhline(0.8, ls="--", color="grey")
    cov.set(xlabel="horizon (h)", ylabel="share inside p10-p90", ylim=(0, 1), title="Coverage")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)  # type: ignore[attr-defined]
    return path


def plot_predicted_vs_observed(
    backtest: Backtest, path: Path, horizons: tuple[int, ...] = (1, 24), locations: int = 3
) -> Path:
    """Time series of observed values and forecasts (with interval) for sample locations."""
    plt = _pyplot()
    c = backtest.cells
    sample = sorted(c["location_id"].unique())[:locations]
    shown = [h for h in horizons if h in set(c["horizon"])] or [int(c["horizon"].min())]
    fig, axes = plt.subplots(  # type: ignore[attr-defined]
        len(sample), len(shown), figsize=(6 * len(shown), 2.6 * len(sample)), squeeze=False
    )
    for i, loc in enumerate(sample):
        for j, h in enumerate(shown):
            ax = axes[i][j]
            d = c[(c["location_id"] == loc) & (c["horizon"] == h)].sort_values("issue_time")
            when = pd.DatetimeIndex(d["issue_time"]) + pd.Timedelta(hours=h)
            ax.fill_between(when, d["p10"], d["p90"], alpha=0.25, label="p10-p90")
            ax.plot(when, d["observed"], lw=0.8, color="black", label="observed")
            ax.plot(when, d["aircast"], lw=0.8, label="aircast")
            ax.set_title(f"location {loc}, {h} h ahead", fontsize=9)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)  # type: ignore[attr-defined]
    return path


def plot_feature_importance(forecaster: Forecaster, path: Path, top: int = 25) -> Path:
    """Horizontal bar chart of the model's largest feature importances."""
    plt = _pyplot()
    importance = forecaster.feature_importance().head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(importance) + 1))  # type: ignore[attr-defined]
    ax.barh(importance.index, importance.to_numpy())
    ax.set(xlabel="importance", title="Feature importance")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)  # type: ignore[attr-defined]
    return path


def write_plots(backtest: Backtest, forecaster: Forecaster, folder: Path) -> list[Path]:
    """All backtest plots as PNG files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        plot_error_by_horizon(backtest, folder / "error_by_horizon.png"),
        plot_predicted_vs_observed(backtest, folder / "predicted_vs_observed.png"),
        plot_feature_importance(forecaster, folder / "feature_importance.png"),
    ]
