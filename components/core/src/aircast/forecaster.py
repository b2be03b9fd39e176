"""CatBoost multi-horizon forecaster: one model, horizon as a feature, three quantiles.

Design (the reasons are in the README, "Forecasting"):

* **One CatBoost model** with ``MultiQuantile`` loss (alpha 0.1, 0.5, 0.9) predicts all
  horizons 1..H; each (location, issue time) row is expanded into H rows that add the
  horizon, the local hour of the target time and the observation at the same hour on the
  previous day. Serving is one batched ``predict`` (1,000 locations = 24,000 rows).
* The target is **relative to an anchor** in log space: ``log1p(y(t+h)) - anchor`` where the
  anchor is ``log1p`` of the latest value (or the 24 h mean when the latest hour is a gap).
  Quantiles commute with monotone maps, so ``expm1(anchor + q)`` is exactly the quantile
  of ``y`` — the median is the point forecast (it minimises MAE), p10/p90 the interval.
* The log ratio is **divided by a per-horizon scale** (its median absolute deviation on
  the training rows) before fitting and multiplied back after predicting. Quantiles commute
  with a positive scale, but the trees do not: unscaled, the 1 h log ratio is ~5x narrower
  than the 24 h one, leaves shared across horizons give 1 h the long horizons' mean
  reversion, and the 1 h forecast was worse than persistence (README, "Forecasting").
* On held-out rows (``fit(..., calibration=...)``) each horizon's point forecast becomes a
  **combination** of the model's median, persistence and the recent mean, with weights
  fitted per horizon to minimise MAE (:mod:`aircast.combination`): never worse than
  persistence on those rows. The interval is then centred on the combined point and
  recalibrated per horizon (**CQR**) to cover ~80 % on data the trees did not see.
  A model refitted on everything takes its weights and adjustment from other fits'
  out-of-sample forecasts (:class:`HeldOut`, :meth:`Forecaster.fit_combination_on`: the
  cross-fitted blocks of :func:`aircast.training.calibrated_fitter`; docs/forecasting.md).
* A **baseline** (``kind == "baseline"``, :meth:`Forecaster.fit_baseline`) has no trees: its
  "model" quantiles are per-horizon empirical quantiles of the log ratio; the same
  combination and calibration apply. It serves forecasts before there is history enough
  to train, through the same contract.
* Everything the forecaster needs at predict time (feature spec, quantiles, weights,
  calibration) is stored in the CatBoost model's own metadata, so a native ``.cbm`` file is
  the whole model; a baseline is the same metadata as a JSON file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aircast import combination
from aircast.features import LOCATION_FEATURE, FeatureSpec

QUANTILES = (0.1, 0.5, 0.9)
HORIZON_FEATURES = ("horizon", "target_hour", "same_hour_yesterday", "anchor")
# Feature columns by name: a build_features frame or window_features' dict of arrays.
Columns = Mapping[str, Any] | pd.DataFrame
_METADATA_KEY = "aircast"
_PARALLEL_ROWS = 8192
_FORMAT = 2
_FORMATS = (1, 2)  # format 1: no kind, no combination weights (the model's median alone)
CATBOOST = "catboost"
BASELINE = "baseline"
# A baseline's log-ratio quantiles where no target was ever observed: a prior, widening with
# the square root of the horizon (docs/forecasting.md, "Baseline").
_PRIOR_SPREAD = 0.15


@dataclass(frozen=True)
class ForecasterParams:
    """CatBoost hyper-parameters and sampling; the defaults are `aircast train`'s settings,
    the ones the Beijing benchmark (``bench/skill.py``) measures (README, "Forecasting").
    """

    iterations: int = 300
    depth: int = 6
    learning_rate: float = 0.08
    l2_leaf_reg: float = 3.0
    threads: int = 2
    seed: int = 0
    max_train_rows: int = 200_000
    border_count: int = 128
    # share of training rows whose weather inputs are blanked, so the trees learn the
    # no-weather fallback (docs/weather.md); 0 for a model without weather
    weather_dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for MLflow params)."""
        return asdict(self)


def _ordered(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three columns of ``raw`` sorted within each row (quantiles may cross): the columns
    of ``np.sort(raw, axis=1)``, by a three-element sorting network (24,000 rows: ~0.4 ms
    instead of ~1.2; no NaN reaches here)."""
    a, b, c = raw[:, 0], raw[:, 1], raw[:, 2]
    low, high = np.minimum(a, b), np.maximum(a, b)
    return np.minimum(low, c), np.maximum(low, np.minimum(high, c)), np.maximum(high, c)


def _anchor(features: Columns, spec: FeatureSpec) -> np.ndarray:
    """log1p of the latest value, else of the longest-window mean, else 0."""
    anchor = np.asarray(features["y_lag_0"], dtype="float64")
    if spec.windows:
        mean = np.asarray(features[f"y_mean_{max(spec.windows)}"], dtype="float64")
        anchor = np.where(np.isnan(anchor), mean, anchor)
    anchor = np.log1p(np.clip(anchor, 0.0, None))
    return np.where(np.isnan(anchor), 0.0, anchor)


def _horizon_scale(z: np.ndarray, horizon: np.ndarray, horizons: int) -> np.ndarray:
    """Per-horizon median absolute deviation of the log ratio ``z`` (1.0 where too few rows)."""
    scale = np.ones(horizons)
    for h in range(1, horizons + 1):
        values = z[horizon == h]
        if len(values) >= 20:
            mad = float(np.median(np.abs(values - np.median(values))))
            # a floor keeps a constant series (MAD 0) from dividing by zero
            scale[h - 1] = max(mad, 1e-3)
    return scale


@dataclass(frozen=True)
class ForecastArrays:
    """Forecasts as aligned arrays: feature row, horizon, median and the p10-p90 interval."""

    row: np.ndarray
    horizon: np.ndarray
    point: np.ndarray
    p10: np.ndarray
    p90: np.ndarray


@dataclass(frozen=True)
class HeldOut:
    """Forecasts of cells the model that made them was not fitted on, in parts, aligned with
    the observed values: what the combination weights and the interval calibration are
    fitted on.

    ``q10``/``q50``/``q90`` are the model's log-ratio quantiles, ``stack`` the combination's
    components (model median, persistence, recent mean; :data:`aircast.combination.
    COMPONENTS`). Parts made by several models (cross-fitted blocks) pool with :meth:`concat`.
    """

    horizon: np.ndarray
    observed: np.ndarray
    q10: np.ndarray
    q50: np.ndarray
    q90: np.ndarray
    stack: np.ndarray

    def __len__(self) -> int:
        return len(self.horizon)

    @classmethod
    def empty(cls) -> HeldOut:
        """No cells."""
        none = np.empty(0)
        stack = np.empty((0, len(combination.COMPONENTS)))
        return cls(np.empty(0, dtype=np.int64), none, none, none, none, stack)

    @classmethod
    def concat(cls, parts: Sequence[HeldOut]) -> HeldOut:
        """The cells of every part, pooled."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        fields = cls.__dataclass_fields__
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


class Forecaster:
    """Point forecast (median) and p10-p90 interval for horizons 1..``spec.horizons``."""

    def __init__(self, spec: FeatureSpec, params: ForecasterParams | None = None) -> None:
        self.spec = spec
        self.params = params or ForecasterParams()
        self.model: Any = None  # catboost.CatBoost once fitted or loaded
        # per-horizon widening (+) or narrowing (-) of the interval in the model's log space
        self.interval_adjust = np.zeros(spec.horizons)
        # per-horizon divisor of the log-ratio target (see the module docstring)
        self.target_scale = np.ones(spec.horizons)
        # per-horizon combination weights over aircast.combination.COMPONENTS
        self.weights = combination.default_weights(spec.horizons)
        self.kind = CATBOOST
        # a baseline's per-horizon (q10, q50, q90) of the log ratio (no trees)
        self.baseline_quantiles: np.ndarray | None = None

    @classmethod
    def baseline(cls, spec: FeatureSpec) -> Forecaster:
        """An unfitted baseline (no trees) for ``spec``; see :meth:`fit_baseline`."""
        forecaster = cls(spec, ForecasterParams(iterations=0, threads=1))
        forecaster.kind = BASELINE
        return forecaster

    @property
    def is_baseline(self) -> bool:
        """True for a baseline (persistence / recent mean combination, no trees)."""
        return self.kind == BASELINE

    # ------------------------------------------------------------------ model inputs

    @property
    def model_feature_names(self) -> list[str]:
        """Columns of the model's input matrix (the features plus the horizon features).

        The location categorical comes last, so the numeric columns form one float matrix
        (CatBoost's fast ``FeaturesData`` input). A loaded model reports its own order:
        models trained before this order existed keep theirs.
        """
        if self.model is not None and getattr(self.model, "feature_names_", None):
            return list(self.model.feature_names_)
        per_lead = set(self.spec.weather_feature_names())
        numeric = [
            n for n in self.spec.feature_names() if n != LOCATION_FEATURE and n not in per_lead
        ]
        return [*numeric, *HORIZON_FEATURES, *self.weather_model_names(), LOCATION_FEATURE]

    def weather_model_names(self) -> list[str]:
        """Per-horizon weather inputs: at the target hour, its change against the issue hour,
        and the mean of the 6 hours up to the target (a rain sum / 6, a wind run)."""
        return [f"wx_{w}{s}" for w in self.spec.weather for s in ("", "_change", "_mean6")]

    def model_columns(
        self, features: Columns, rows: np.ndarray, horizons: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Model input as columns: feature row ``rows[i]`` paired with ``horizons[i]``.

        ``features`` maps every name of ``spec.feature_names()`` to an array (a
        ``build_features`` frame or the dict of :func:`aircast.features.window_features`).
        This is the one place model inputs are made, for fitting and for predicting.
        """
        names = self.spec.feature_names()
        missing = [n for n in names if n not in features]
        if missing:
            raise ValueError(
                f"features lack {len(missing)} column(s) the model needs (e.g. "
                f"{sorted(missing)[:3]}); build them with aircast.features.build_features "
                "and the model's FeatureSpec"
            )
        rows = np.asarray(rows, dtype=np.int64)
        cols: dict[str, np.ndarray] = {}
        for c in names:
            if c != LOCATION_FEATURE:
                cols[c] = np.asarray(features[c], dtype="float32")[rows]
        location = np.asarray(features[LOCATION_FEATURE])
        cols[LOCATION_FEATURE] = location.astype(str).astype(object)[rows]
        h = np.asarray(horizons, dtype=np.int64)
        cols["horizon"] = h.astype("float32")
        cols["target_hour"] = ((cols["hour"].astype(np.int64) + h) % 24).astype("float32")
        # The target 24 - h hours before the issue time (where the spec has that lag): a
        # (feature row, horizon) table, gathered once.
        lags = set(self.spec.lags) | {0}
        yesterday = np.full((len(location), self.spec.horizons + 1), np.nan, dtype="float32")
        for value in range(1, self.spec.horizons + 1):
            if 24 - value in lags:
                yesterday[:, value] = np.asarray(features[f"y_lag_{24 - value}"], dtype="float32")
        cols["same_hour_yesterday"] = yesterday[rows, h]
        cols["anchor"] = _anchor(features, self.spec).astype("float32")[rows]
        for w in self.spec.weather:
            # (feature row, lead 0..H) of the forecast known at the issue time
            matrix = np.column_stack(
                [
                    np.asarray(features[f"wx_{w}_{k}"], dtype="float32")
                    for k in range(self.spec.horizons + 1)
                ]
            )
            at = matrix[rows, h]
            cols[f"wx_{w}"] = at
            cols[f"wx_{w}_change"] = at - matrix[rows, 0]
            stack = np.stack([matrix[rows, np.maximum(h - j, 0)] for j in range(6)], axis=1)
            valid = ~np.isnan(stack)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(valid, stack, 0).sum(axis=1) / valid.sum(axis=1)
            # hours before the issue hour repeat lead 0 (the earliest the row reads)
            cols[f"wx_{w}_mean6"] = mean.astype("float32")
        return cols

    def model_frame(self, features: pd.DataFrame, horizons: np.ndarray) -> pd.DataFrame:
        """Rows of ``features`` paired with ``horizons`` (same length) as model input."""
        frame = features.reset_index(drop=True)
        cols = self.model_columns(frame, np.arange(len(frame)), horizons)
        return pd.DataFrame(cols)[self.model_feature_names]

    # ------------------------------------------------------------------ fit

    def _training_pairs(
        self, targets: pd.DataFrame, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, horizon, y) for every observed target, sampled down to ``max_train_rows``."""
        cols = [f"y_h{h}" for h in range(1, self.spec.horizons + 1)]
        matrix = targets[cols].to_numpy(dtype="float64", na_value=np.nan)
        rows, hcol = np.nonzero(~np.isnan(matrix))
        if len(rows) > self.params.max_train_rows:
            keep = np.sort(rng.choice(len(rows), self.params.max_train_rows, replace=False))
            rows, hcol = rows[keep], hcol[keep]
        return rows, hcol + 1, matrix[rows, hcol]

    def _xy(
        self, features: pd.DataFrame, targets: pd.DataFrame, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, np.ndarray]:
        if len(features) != len(targets):
            raise ValueError("features and targets must have the same rows (same grid)")
        rows, horizons, y = self._training_pairs(targets, rng)
        frame = features.reset_index(drop=True)
        x = pd.DataFrame(self.model_columns(frame, rows, horizons))[self.model_feature_names]
        if self.spec.weather and self.params.weather_dropout > 0 and len(x):
            # the fallback: some rows without weather, so a request without it is in-sample
            blank = rng.random(len(x)) < self.params.weather_dropout
            x.loc[blank, self.weather_model_names()] = np.nan
        z = np.log1p(np.clip(y, 0.0, None)) - x["anchor"].to_numpy(dtype="float64")
        return x, z

    def fit(
        self,
        features: pd.DataFrame,
        targets: pd.DataFrame,
        calibration: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    ) -> Forecaster:
        """Fit on aligned ``build_features``/``build_targets`` frames.

        ``calibration`` (features, targets) from a later period, if given, fits the per-horizon
        combination weights and interval adjustment (:meth:`fit_combination_on`); it is not
        used to fit the trees.
        """
        from catboost import CatBoostRegressor, Pool

        rng = np.random.default_rng(self.params.seed)
        x, z = self._xy(features, targets, rng)
        if len(x) == 0:
            raise ValueError(
                f"no training rows: no observed {self.spec.target} target within "
                f"{self.spec.horizons} h of any issue time; load more history"
            )
        alphas = ",".join(str(q) for q in QUANTILES)
        model = CatBoostRegressor(
            loss_function=f"MultiQuantile:alpha={alphas}",
            iterations=self.params.iterations,
            depth=self.params.depth,
            learning_rate=self.params.learning_rate,
            l2_leaf_reg=self.params.l2_leaf_reg,
            border_count=self.params.border_count,
            thread_count=self.params.threads,
            random_seed=self.params.seed,
            allow_writing_files=False,
            verbose=0,
        )
        self.target_scale = _horizon_scale(z, x["horizon"].to_numpy(), self.spec.horizons)
        horizon = x["horizon"].to_numpy().astype(np.int64)
        model.fit(Pool(x, z / self.target_scale[horizon - 1], cat_features=[LOCATION_FEATURE]))
        self.model = model
        self.kind = CATBOOST
        self.interval_adjust = np.zeros(self.spec.horizons)
        self.weights = combination.default_weights(self.spec.horizons)
        if calibration is not None:
            self.fit_combination_on(self.held_out(*calibration))
        self._store_metadata()
        return self

    def fit_baseline(self, features: pd.DataFrame, targets: pd.DataFrame) -> Forecaster:
        """Fit a baseline (no trees) on every observed target of (features, targets).

        Per horizon: the 10/50/90 % quantiles of the log ratio ``log1p(y(t+h)) - anchor``
        (the "model" component: persistence corrected by the median drift), the combination
        weights over that, persistence and the recent mean, and the interval calibration,
        all on the same rows (a handful of numbers per horizon, no trees to overfit). A
        horizon with fewer than 20 observed targets uses every horizon's rows, and with none
        at all a prior spread (docs/forecasting.md).
        """
        self.kind = BASELINE
        self.model = None
        horizons = self.spec.horizons
        rows, h, y, x = self._observed(features, targets)
        z = np.log1p(np.clip(y, 0.0, None)) - np.asarray(x["anchor"], dtype="float64")
        steps = np.sqrt(np.arange(1, horizons + 1))
        quantiles = np.stack(
            [-_PRIOR_SPREAD * steps, np.zeros(horizons), _PRIOR_SPREAD * steps], axis=1
        )
        if len(z) >= combination.MIN_ROWS:
            pooled = np.quantile(z, QUANTILES)
            for value in range(1, horizons + 1):
                at = z[h == value]
                quantiles[value - 1] = (
                    np.quantile(at, QUANTILES) if len(at) >= combination.MIN_ROWS else pooled
                )
        self.baseline_quantiles = quantiles
        self.weights = combination.default_weights(horizons)
        self.interval_adjust = np.zeros(horizons)
        if len(rows):
            self.fit_combination_on(self.held_out(features, targets))
        return self

    def _observed(
        self, features: pd.DataFrame, targets: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(row, horizon, observed target, model columns) of every observed target."""
        cols = [f"y_h{h}" for h in range(1, self.spec.horizons + 1)]
        matrix = targets[cols].to_numpy(dtype="float64", na_value=np.nan)
        rows, hcol = np.nonzero(~np.isnan(matrix))
        horizons = hcol + 1
        x = self.model_columns(features.reset_index(drop=True), rows, horizons)
        return rows, horizons, matrix[rows, hcol], x

    def _components(
        self, features: Columns, rows: np.ndarray, x: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(q10, q50, q90 of the log ratio, components stack) of model-input rows ``x``
        built from feature rows ``rows``: the one computation fit and predict share."""
        horizon = np.asarray(x["horizon"]).astype(np.int64)
        q10, q50, q90 = self._quantiles(x, horizon)
        anchor = np.asarray(x["anchor"], dtype="float64")
        persistence, recent = combination.references(features, self.spec.windows)
        stack = np.column_stack(
            [np.clip(np.expm1(anchor + q50), 0.0, None), persistence[rows], recent[rows]]
        )
        return q10, q50, q90, stack

    def held_out(self, features: pd.DataFrame, targets: pd.DataFrame) -> HeldOut:
        """This model's forecast parts on every observed target of (features, targets): rows
        it must not have been fitted on (:meth:`fit_combination_on`)."""
        self._require_model()
        rows, horizon, y, x = self._observed(features, targets)
        if len(rows) == 0:
            return HeldOut.empty()
        q10, q50, q90, stack = self._components(features.reset_index(drop=True), rows, x)
        return HeldOut(horizon.astype(np.int64), y, q10, q50, q90, stack)

    def fit_combination_on(self, held: HeldOut, coverage: float = 0.8) -> None:
        """Per-horizon combination weights (model, persistence, recent mean) minimising MAE
        on ``held``, then the interval calibration (CQR to ``coverage``) around the combined
        point on the same cells.

        ``held`` may come from other fits of the same spec (the cross-fitted blocks of
        :func:`aircast.training.calibrated_fitter`); nothing here reads this model's trees.
        No cells: the weights and the adjustment stay as they are.
        """
        if len(held) == 0:
            return
        self.weights = combination.fit_horizon_weights(
            held.stack, held.observed, held.horizon, self.spec.horizons, seed=self.params.seed
        )
        self._calibrate_on(held, coverage)

    def calibrate(
        self, features: pd.DataFrame, targets: pd.DataFrame, coverage: float = 0.8
    ) -> None:
        """Conformalised quantile regression after the combination: per horizon, widen (or
        narrow) the interval around the combined point by the ``coverage`` quantile of the
        conformity scores on (features, targets)."""
        held = self.held_out(features, targets)
        if len(held):
            self._calibrate_on(held, coverage)

    def _calibrate_on(self, held: HeldOut, coverage: float) -> None:
        """CQR of the interval around the combined point (the current weights) on ``held``."""
        point = combination.combine(held.stack, self.weights[held.horizon - 1])
        self.interval_adjust = combination.conformal_adjust(
            point, held.q10, held.q50, held.q90, held.observed, held.horizon,
            self.spec.horizons, coverage,
        )  # fmt: skip
        self._store_metadata()

    def adopt_calibration(self, other: Forecaster) -> None:
        """Take ``other``'s combination weights and interval adjustment (cross-fitting).

        ``other`` is the same kind of model fitted without a held-out period and combined and
        calibrated on it; this model is then fitted on everything, the held-out period
        included, and reuses both. Fitting them on data this model was fitted on would
        measure in-sample errors: too much weight on the model, too narrow an interval.
        """
        self._require_model()
        if other.spec != self.spec or len(other.interval_adjust) != self.spec.horizons:
            raise ValueError("adopt_calibration needs a model with the same feature spec")
        self.interval_adjust = np.asarray(other.interval_adjust, dtype="float64").copy()
        self.weights = np.asarray(other.weights, dtype="float64").copy()
        self._store_metadata()

    # ------------------------------------------------------------------ predict

    def _require_model(self) -> None:
        if self.model is None and not (self.is_baseline and self.baseline_quantiles is not None):
            raise RuntimeError("the forecaster is not fitted; call fit() or load() first")

    def _quantiles(
        self, x: Mapping[str, np.ndarray], horizon: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ordered (q10, q50, q90) of the log ratio per input row: the trees', or the
        baseline's per-horizon constants."""
        if self.is_baseline and self.baseline_quantiles is not None:
            q = self.baseline_quantiles[horizon - 1]
            return q[:, 0], q[:, 1], q[:, 2]
        return _ordered(self._raw(x))

    def _raw(self, x: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
        """The three fitted quantiles of the scaled log ratio, unscaled, one row per input."""
        from catboost import FeaturesData, Pool

        names = self.model_feature_names
        n = len(x["horizon"])
        if names[-1] == LOCATION_FEATURE and self.model.get_cat_feature_indices() == [
            len(names) - 1
        ]:
            # numeric block + one categorical column: no DataFrame, no per-cell conversion.
            # Column-major (Fortran order), as CatBoost stores features: a row-major matrix
            # is transposed element by element while the pool is built, which took as long
            # as the prediction itself (24,000 rows: ~20 ms of ~45 ms; one location: ~40 %).
            numeric = np.empty((n, len(names) - 1), dtype=np.float32, order="F")
            for j, c in enumerate(names[:-1]):
                numeric[:, j] = x[c]
            data: Any = FeaturesData(
                num_feature_data=numeric,
                # fresh buffers: CatBoost's reader needs them writable (pandas gives read-only)
                # and leaves them read-only after a parallel read
                cat_feature_data=np.array(x[LOCATION_FEATURE], dtype=object).reshape(n, 1),
                num_feature_names=names[:-1],
                cat_feature_names=[LOCATION_FEATURE],
            )
        else:
            frame = x if isinstance(x, pd.DataFrame) else pd.DataFrame(dict(x))
            data = Pool(frame[names], cat_features=[LOCATION_FEATURE])
        # CatBoost's worker threads cost more than they save on small inputs (a single
        # location's 24 rows: ~3x the CPU time); large batches use every core.
        raw = self.model.predict(data, thread_count=1 if n < _PARALLEL_ROWS else -1)
        raw = np.asarray(raw, dtype="float64").reshape(n, len(QUANTILES))
        horizon = np.asarray(x["horizon"]).astype(np.int64)
        return raw * self.target_scale[horizon - 1][:, None]

    def predict_columns(
        self, features: Columns, horizons: Sequence[int] | None = None
    ) -> ForecastArrays:
        """Forecasts of every feature row for ``horizons`` (default 1..H), as arrays.

        The serving path: ``features`` is the dict of
        :func:`aircast.features.window_features` (or any mapping of the feature columns).
        Output rows are feature row major, horizon minor.
        """
        self._require_model()
        n = len(features["y_lag_0"])
        wanted = np.asarray(
            list(range(1, self.spec.horizons + 1)) if horizons is None else list(horizons),
            dtype=np.int64,
        )
        if len(wanted) and (wanted.min() < 1 or wanted.max() > self.spec.horizons):
            raise ValueError(f"horizons must be within 1..{self.spec.horizons}")
        rows = np.repeat(np.arange(n, dtype=np.int64), len(wanted))
        h = np.tile(wanted, n)
        x = self.model_columns(features, rows, h)
        q10, q50, q90, stack = self._components(features, rows, x)
        point = combination.combine(stack, self.weights[h - 1])
        p10, p90 = combination.interval(point, q10, q50, q90, self.interval_adjust[h - 1])
        return ForecastArrays(row=rows, horizon=h, point=point, p10=p10, p90=p90)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Forecasts for every row of ``build_features`` output and every horizon.

        Returns ``location_id``, ``issue_time``, ``horizon`` (1..H), ``target_time``,
        ``point``, ``p10``, ``p90`` (in the target's unit; ``p10 <= point <= p90``).
        """
        self._require_model()
        frame = features.reset_index(drop=True)
        out = self.predict_columns(frame)
        issue = pd.DatetimeIndex(frame["issue_time"].to_numpy()[out.row])
        if issue.tz is None:
            issue = issue.tz_localize("UTC")
        return pd.DataFrame(
            {
                "location_id": frame["location_id"].to_numpy()[out.row].astype("int64"),
                "issue_time": issue,
                "horizon": out.horizon,
                "target_time": issue + pd.to_timedelta(out.horizon, unit="h"),
                "point": out.point,
                "p10": out.p10,
                "p90": out.p90,
            }
        )

    def feature_importance(self) -> pd.Series:
        """CatBoost's feature importance per model input, largest first."""
        self._require_model()
        if self.is_baseline:
            # no trees: the combination's mean weight per component stands in
            return pd.Series(
                self.weights.mean(axis=0), index=list(combination.COMPONENTS)
            ).sort_values(ascending=False)
        values = self.model.get_feature_importance()
        return pd.Series(values, index=self.model_feature_names).sort_values(ascending=False)

    # ------------------------------------------------------------------ persistence

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "kind": self.kind,
            "spec": self.spec.to_dict(),
            "params": self.params.to_dict(),
            "quantiles": list(QUANTILES),
            "interval_adjust": [float(v) for v in self.interval_adjust],
            "target_scale": [float(v) for v in self.target_scale],
            "components": list(combination.COMPONENTS),
            "weights": [[float(v) for v in row] for row in self.weights],
            "baseline_quantiles": None
            if self.baseline_quantiles is None
            else [[float(v) for v in row] for row in self.baseline_quantiles],
        }

    def _store_metadata(self) -> None:
        if self.model is not None:
            self.model.get_metadata()[_METADATA_KEY] = json.dumps(self._metadata())

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path``: the native CatBoost model with the forecaster's
        metadata, or for a baseline (no trees) that metadata as a JSON file."""
        self._require_model()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.is_baseline:
            target.write_text(json.dumps(self._metadata()))
        else:
            self.model.save_model(str(target))
        return target

    @classmethod
    def _from_metadata(cls, data: dict[str, Any], model: Any) -> Forecaster:
        if data.get("format") not in _FORMATS:
            raise ValueError(f"unsupported aircast model format {data.get('format')!r}")
        forecaster = cls(FeatureSpec.from_dict(data["spec"]), ForecasterParams(**data["params"]))
        forecaster.model = model
        forecaster.kind = str(data.get("kind", CATBOOST))
        horizons = forecaster.spec.horizons
        forecaster.interval_adjust = np.asarray(data["interval_adjust"], dtype="float64")
        # models saved before the per-horizon scale existed were fitted on the unscaled target
        forecaster.target_scale = np.asarray(
            data.get("target_scale", [1.0] * horizons), dtype="float64"
        )
        if data.get("weights") is not None:
            if list(data.get("components", [])) != list(combination.COMPONENTS):
                raise ValueError(
                    f"model combines {data.get('components')}, this aircast combines "
                    f"{list(combination.COMPONENTS)}; retrain with this version"
                )
            forecaster.weights = np.asarray(data["weights"], dtype="float64")
        if data.get("baseline_quantiles") is not None:
            forecaster.baseline_quantiles = np.asarray(data["baseline_quantiles"], dtype="float64")
        if forecaster.is_baseline and forecaster.baseline_quantiles is None:
            raise ValueError("a baseline model file without its quantiles")
        return forecaster

    @classmethod
    def from_catboost(cls, model: Any) -> Forecaster:
        """Wrap a CatBoost model saved by :meth:`save` (e.g. loaded through MLflow)."""
        meta = dict(model.get_metadata())
        if _METADATA_KEY not in meta:
            raise ValueError("this CatBoost model was not trained by aircast (no metadata)")
        return cls._from_metadata(json.loads(meta[_METADATA_KEY]), model)

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a model file written by :meth:`save` (CatBoost or baseline JSON)."""
        with Path(path).open("rb") as handle:
            head = handle.read(1)
        if head == b"{":  # a baseline's JSON; a CatBoost file starts with its binary magic
            return cls._from_metadata(json.loads(Path(path).read_text()), None)
        from catboost import CatBoost

        model = CatBoost()
        model.load_model(str(path))
        return cls.from_catboost(model)
