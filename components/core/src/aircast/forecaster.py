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
* Optional **conformal calibration** (CQR) per horizon on a held-out tail shifts p10/p90 so
  the interval covers ~80 % on data the trees did not see. ``adopt_calibration`` lets a
  model refitted on everything reuse the adjustment of one calibrated on a held-out year
  (the Beijing benchmark does this; see the README).
* Everything the forecaster needs at predict time (feature spec, quantiles, calibration) is
  stored in the CatBoost model's own metadata, so a native ``.cbm`` file is the whole model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aircast.features import LOCATION_FEATURE, FeatureSpec

QUANTILES = (0.1, 0.5, 0.9)
HORIZON_FEATURES = ("horizon", "target_hour", "same_hour_yesterday", "anchor")
_METADATA_KEY = "aircast"
_FORMAT = 1


@dataclass(frozen=True)
class ForecasterParams:
    """CatBoost hyper-parameters and sampling; the defaults are `aircast train`'s settings.

    The Beijing benchmark (``bench/skill.py``) uses 300 iterations, depth 6 and 200,000 rows.
    """

    iterations: int = 600
    depth: int = 7
    learning_rate: float = 0.08
    l2_leaf_reg: float = 3.0
    threads: int = 2
    seed: int = 0
    max_train_rows: int = 800_000
    border_count: int = 128

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for MLflow params)."""
        return asdict(self)


def _anchor(features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """log1p of the latest value, else of the longest-window mean, else 0."""
    anchor = features["y_lag_0"].to_numpy(dtype="float64", na_value=np.nan)
    if spec.windows:
        mean = features[f"y_mean_{max(spec.windows)}"].to_numpy(dtype="float64", na_value=np.nan)
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

    # ------------------------------------------------------------------ model inputs

    @property
    def model_feature_names(self) -> list[str]:
        """Columns of the model's input matrix (the features plus the horizon features)."""
        return [*self.spec.feature_names(), *HORIZON_FEATURES]

    def model_frame(self, features: pd.DataFrame, horizons: np.ndarray) -> pd.DataFrame:
        """Rows of ``features`` paired with ``horizons`` (same length) as model input."""
        names = self.spec.feature_names()
        missing = set(names) - set(features.columns)
        if missing:
            raise ValueError(
                f"features lack {len(missing)} column(s) the model needs (e.g. "
                f"{sorted(missing)[:3]}); build them with aircast.features.build_features "
                "and the model's FeatureSpec"
            )
        # one dict of arrays -> one DataFrame: column-by-column inserts cost more than the
        # CatBoost call itself for a 1,000-location batch
        cols: dict[str, np.ndarray] = {
            c: features[c].to_numpy(dtype="float32", na_value=np.nan)
            for c in names
            if c != LOCATION_FEATURE
        }
        cols[LOCATION_FEATURE] = features[LOCATION_FEATURE].astype(str).to_numpy()
        h = np.asarray(horizons, dtype=np.int64)
        cols["horizon"] = h.astype("float32")
        cols["target_hour"] = ((cols["hour"].astype(np.int64) + h) % 24).astype("float32")
        yesterday = np.full(len(h), np.nan, dtype="float32")
        lags = set(self.spec.lags) | {0}
        for value in np.unique(h):
            lag = 24 - int(value)
            if lag in lags:
                rows = h == value
                yesterday[rows] = cols[f"y_lag_{lag}"][rows]
        cols["same_hour_yesterday"] = yesterday
        cols["anchor"] = _anchor(features, self.spec).astype("float32")
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
        feats = features.iloc[rows].reset_index(drop=True)
        x = self.model_frame(feats, horizons)
        z = np.log1p(np.clip(y, 0.0, None)) - x["anchor"].to_numpy(dtype="float64")
        return x, z

    def fit(
        self,
        features: pd.DataFrame,
        targets: pd.DataFrame,
        calibration: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    ) -> Forecaster:
        """Fit on aligned ``build_features``/``build_targets`` frames.

        ``calibration`` (features, targets) from a later period, if given, sets the per-horizon
        conformal interval adjustment; it is not used to fit the trees.
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
        self.interval_adjust = np.zeros(self.spec.horizons)
        if calibration is not None:
            self.calibrate(*calibration)
        self._store_metadata()
        return self

    def calibrate(
        self, features: pd.DataFrame, targets: pd.DataFrame, coverage: float = 0.8
    ) -> None:
        """Conformalised quantile regression: per horizon, shift p10/p90 by the
        ``coverage`` quantile of the conformity scores on (features, targets)."""
        self._require_model()
        cols = [f"y_h{h}" for h in range(1, self.spec.horizons + 1)]
        matrix = targets[cols].to_numpy(dtype="float64", na_value=np.nan)
        rows, hcol = np.nonzero(~np.isnan(matrix))
        if len(rows) == 0:
            return
        horizons = hcol + 1
        x = self.model_frame(features.iloc[rows].reset_index(drop=True), horizons)
        raw = np.sort(self._raw(x), axis=1)
        z = np.log1p(np.clip(matrix[rows, hcol], 0.0, None)) - x["anchor"].to_numpy()
        scores = np.maximum(raw[:, 0] - z, z - raw[:, 2])
        adjust = np.zeros(self.spec.horizons)
        for h in range(1, self.spec.horizons + 1):
            s = scores[horizons == h]
            if len(s) >= 20:
                level = min(1.0, np.ceil((len(s) + 1) * coverage) / len(s))
                adjust[h - 1] = float(np.quantile(s, level))
        self.interval_adjust = adjust
        self._store_metadata()

    def adopt_calibration(self, other: Forecaster) -> None:
        """Take ``other``'s conformal interval adjustment (cross-fitted calibration).

        ``other`` is the same kind of model fitted without a held-out period and calibrated
        on it; this model is then fitted on everything, the held-out period included, and
        reuses the adjustment. Calibrating this model on data it was fitted on would measure
        in-sample errors and give too narrow an interval.
        """
        self._require_model()
        if other.spec != self.spec or len(other.interval_adjust) != self.spec.horizons:
            raise ValueError("adopt_calibration needs a model with the same feature spec")
        self.interval_adjust = np.asarray(other.interval_adjust, dtype="float64").copy()
        self._store_metadata()

    # ------------------------------------------------------------------ predict

    def _require_model(self) -> None:
        if self.model is None:
            raise RuntimeError("the forecaster is not fitted; call fit() or load() first")

    def _raw(self, x: pd.DataFrame) -> np.ndarray:
        from catboost import Pool

        raw = self.model.predict(Pool(x, cat_features=[LOCATION_FEATURE]))
        raw = np.asarray(raw, dtype="float64").reshape(len(x), len(QUANTILES))
        horizon = x["horizon"].to_numpy().astype(np.int64)
        return raw * self.target_scale[horizon - 1][:, None]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Forecasts for every row of ``build_features`` output and every horizon.

        Returns ``location_id``, ``issue_time``, ``horizon`` (1..H), ``target_time``,
        ``point``, ``p10``, ``p90`` (in the target's unit; ``p10 <= point <= p90``).
        """
        self._require_model()
        n, horizons = len(features), self.spec.horizons
        rows = np.repeat(np.arange(n), horizons)
        h = np.tile(np.arange(1, horizons + 1), n)
        x = self.model_frame(features.iloc[rows], h)
        raw = np.sort(self._raw(x), axis=1)
        adjust = self.interval_adjust[h - 1]
        anchor = x["anchor"].to_numpy(dtype="float64")
        low = np.expm1(anchor + raw[:, 0] - adjust)
        mid = np.expm1(anchor + raw[:, 1])
        high = np.expm1(anchor + raw[:, 2] + adjust)
        point = np.clip(mid, 0.0, None)
        issue = pd.DatetimeIndex(features["issue_time"].to_numpy()[rows])
        if issue.tz is None:
            issue = issue.tz_localize("UTC")
        return pd.DataFrame(
            {
                "location_id": features["location_id"].to_numpy()[rows].astype("int64"),
                "issue_time": issue,
                "horizon": h,
                "target_time": issue + pd.to_timedelta(h, unit="h"),
                "point": point,
                "p10": np.clip(np.minimum(low, point), 0.0, None),
                "p90": np.maximum(high, point),
            }
        )

    def feature_importance(self) -> pd.Series:
        """CatBoost's feature importance per model input, largest first."""
        self._require_model()
        values = self.model.get_feature_importance()
        return pd.Series(values, index=self.model_feature_names).sort_values(ascending=False)

    # ------------------------------------------------------------------ persistence

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "spec": self.spec.to_dict(),
            "params": self.params.to_dict(),
            "quantiles": list(QUANTILES),
            "interval_adjust": [float(v) for v in self.interval_adjust],
            "target_scale": [float(v) for v in self.target_scale],
        }

    def _store_metadata(self) -> None:
        self.model.get_metadata()[_METADATA_KEY] = json.dumps(self._metadata())

    def save(self, path: str | Path) -> Path:
        """Write the native CatBoost model (with the forecaster's metadata) to ``path``."""
        self._require_model()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(target))
        return target

    @classmethod
    def from_catboost(cls, model: Any) -> Forecaster:
        """Wrap a CatBoost model saved by :meth:`save` (e.g. loaded through MLflow)."""
        meta = dict(model.get_metadata())
        if _METADATA_KEY not in meta:
            raise ValueError("this CatBoost model was not trained by aircast (no metadata)")
        data = json.loads(meta[_METADATA_KEY])
        if data.get("format") != _FORMAT:
            raise ValueError(f"unsupported aircast model format {data.get('format')!r}")
        forecaster = cls(FeatureSpec.from_dict(data["spec"]), ForecasterParams(**data["params"]))
        forecaster.model = model
        forecaster.interval_adjust = np.asarray(data["interval_adjust"], dtype="float64")
        # models saved before the per-horizon scale existed were fitted on the unscaled target
        forecaster.target_scale = np.asarray(
            data.get("target_scale", [1.0] * forecaster.spec.horizons), dtype="float64"
        )
        return forecaster

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a model file written by :meth:`save`."""
        from catboost import CatBoost

        model = CatBoost()
        model.load_model(str(path))
        return cls.from_catboost(model)
