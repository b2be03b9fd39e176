"""Per-horizon forecast combination and interval recalibration, shared by fit and predict.

Each horizon's point forecast is a convex combination of reference forecasts (the model's
median, persistence, the location's recent mean), with weights fitted per horizon by
minimising MAE on held-out rows: rows the trees did not see. Persistence is one vertex of the
weight simplex, so on the rows the weights were fitted on the combination is never worse
than persistence (docs/forecasting.md, "Combination"). The p10/p90 interval is then centred
on the combined point and recalibrated per horizon (conformalised quantile regression).

Everything here is plain numpy on aligned arrays, so :class:`aircast.forecaster.Forecaster`
calls the same functions when it fits the weights and when it serves a forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

COMPONENTS = ("model", "persistence", "recent_mean")
# fewer held-out cells than this at a horizon: keep the default weights / no adjustment
MIN_ROWS = 20
# cells per horizon the weight search uses (a seeded sample of them beyond this)
MAX_FIT_ROWS = 60_000
_COARSE = 0.05
_FINE = 0.01
# The held-out slice: a third of the history, at least this many days (docs/forecasting.md).
HELD_OUT_FRACTION = 1.0 / 3.0
MIN_HELD_OUT_DAYS = 2


def default_weights(horizons: int) -> np.ndarray:
    """(horizons x components) weights that pass the model's median through unchanged."""
    weights = np.zeros((horizons, len(COMPONENTS)))
    weights[:, 0] = 1.0
    return weights


def held_out_days(span_days: float, calibration_days: int) -> int:
    """Days at the end of a ``span_days`` history held out of the trees for the combination
    weights and the interval calibration: a third of the span, at least
    :data:`MIN_HELD_OUT_DAYS`, at most ``calibration_days`` (0 = hold nothing out).

    Returns 0 when the span is too short to leave the trees as many days as are held out.
    """
    if calibration_days <= 0:
        return 0
    days = max(MIN_HELD_OUT_DAYS, int(np.floor(span_days * HELD_OUT_FRACTION)))
    days = min(days, calibration_days)
    return days if span_days - days >= days else 0


def references(
    features: Mapping[str, Any] | pd.DataFrame, windows: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per feature row: persistence (the latest value, else the anchor's fallback, the
    longest-window mean) and the recent mean (the 24 h mean, or the longest window's; else
    persistence). Never NaN: a row with no value at all gets 0."""
    last = np.asarray(features["y_lag_0"], dtype="float64")
    longest = (
        np.asarray(features[f"y_mean_{max(windows)}"], dtype="float64")
        if windows
        else np.full(len(last), np.nan)
    )
    persistence = np.where(np.isnan(last), longest, last)
    persistence = np.where(np.isnan(persistence), 0.0, persistence)
    window = 24 if 24 in windows else (max(windows) if windows else None)
    recent = (
        np.asarray(features[f"y_mean_{window}"], dtype="float64")
        if window is not None
        else persistence
    )
    recent = np.where(np.isnan(recent), persistence, recent)
    return persistence, recent


def combine(stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise combination: ``stack`` (n x components) by ``weights`` (n x components), >= 0."""
    combined: np.ndarray = np.clip(np.einsum("ij,ij->i", stack, weights), 0.0, None)
    return combined


def _simplex(step: float, centre: np.ndarray | None = None, radius: float = 1.0) -> np.ndarray:
    """Grid points of the weight simplex (3 components) with spacing ``step``, optionally only
    those within ``radius`` (max norm) of ``centre``."""
    n = round(1.0 / step)
    points = [
        (i * step, j * step, (n - i - j) * step) for i in range(n + 1) for j in range(n + 1 - i)
    ]
    grid: np.ndarray = np.clip(np.asarray(points), 0.0, 1.0)
    if centre is not None:
        grid = grid[np.abs(grid - centre).max(axis=1) <= radius + 1e-9]
    return grid


def _best(stack: np.ndarray, observed: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, float]:
    """The grid point with the least MAE (ties: the first) and that MAE."""
    best, best_mae = grid[0], np.inf
    for start in range(0, len(grid), 64):
        block = grid[start : start + 64]
        predicted = np.clip(stack @ block.T, 0.0, None)
        mae = np.abs(predicted - observed[:, None]).mean(axis=0)
        i = int(np.argmin(mae))
        if mae[i] < best_mae:
            best, best_mae = block[i], float(mae[i])
    return best, best_mae


def fit_weights(stack: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Simplex weights (non-negative, summing to 1) minimising the MAE of the clipped
    combination of ``stack`` (n x 3) against ``observed``: a 0.05 grid, then a 0.01 grid
    around its best point. Every vertex (each reference alone) is on the grid, so the result
    is never worse than any single reference on these rows."""
    if stack.shape[1] != len(COMPONENTS):
        raise ValueError(f"stack needs {len(COMPONENTS)} columns, one per component")
    coarse, _ = _best(stack, observed, _simplex(_COARSE))
    fine, _ = _best(stack, observed, _simplex(_FINE, coarse, _COARSE))
    return np.asarray(fine, dtype="float64")


def fit_horizon_weights(
    stack: np.ndarray, observed: np.ndarray, horizon: np.ndarray, horizons: int, seed: int = 0
) -> np.ndarray:
    """(horizons x components) weights, one :func:`fit_weights` per horizon; a horizon with
    fewer than :data:`MIN_ROWS` cells keeps the default (the model alone)."""
    weights = default_weights(horizons)
    rng = np.random.default_rng(seed)
    for h in range(1, horizons + 1):
        idx = np.flatnonzero(horizon == h)
        if len(idx) < MIN_ROWS:
            continue
        if len(idx) > MAX_FIT_ROWS:
            idx = np.sort(rng.choice(idx, MAX_FIT_ROWS, replace=False))
        weights[h - 1] = fit_weights(stack[idx], observed[idx])
    return weights


def interval(
    point: np.ndarray, q10: np.ndarray, q50: np.ndarray, q90: np.ndarray, adjust: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """p10 and p90 around the combined ``point``: the model's quantile offsets from its median
    (log1p space) applied to ``log1p(point)``, widened by ``adjust`` (per row); ordered so
    that ``0 <= p10 <= point <= p90``."""
    centre = np.log1p(point)
    low = np.expm1(centre + (q10 - q50) - adjust)
    high = np.expm1(centre + (q90 - q50) + adjust)
    return np.clip(np.minimum(low, point), 0.0, None), np.maximum(high, point)


def conformal_adjust(
    point: np.ndarray,
    q10: np.ndarray,
    q50: np.ndarray,
    q90: np.ndarray,
    observed: np.ndarray,
    horizon: np.ndarray,
    horizons: int,
    coverage: float = 0.8,
) -> np.ndarray:
    """Per-horizon CQR adjustment of the interval around the combined point: the
    finite-sample ``coverage`` quantile of the conformity scores (0 with too few cells)."""
    centre = np.log1p(point)
    z = np.log1p(np.clip(observed, 0.0, None))
    scores = np.maximum(centre + (q10 - q50) - z, z - centre - (q90 - q50))
    adjust = np.zeros(horizons)
    for h in range(1, horizons + 1):
        s = scores[horizon == h]
        if len(s) >= MIN_ROWS:
            level = min(1.0, np.ceil((len(s) + 1) * coverage) / len(s))
            adjust[h - 1] = float(np.quantile(s, level))
    return adjust
