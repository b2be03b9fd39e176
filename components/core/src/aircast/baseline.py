"""The baseline model: a forecast from day one, registered like any other version.

Before the first training, or with too little history for any backtest fold, the API still
serves a real registered version of ``aircast-<parameter>``: a :class:`~aircast.forecaster.
Forecaster` with no trees (``kind == "baseline"``), the per-horizon combination of
persistence, the recent mean and persistence corrected by the median drift, with empirical
p10/p90 intervals (docs/forecasting.md, "Baseline"). It has the trained model's contract
(feature spec, ``predict_columns``), goes through the same loader, and is an ordinary
champion: the first trained version that passes the gate replaces it.

It becomes champion only when there is no champion or the champion is itself a baseline; it
never displaces a trained model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from aircast.evaluation import Backtest
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def fit_baseline(
    measurements: pd.DataFrame, locations: pd.DataFrame, spec: FeatureSpec
) -> tuple[Forecaster, Backtest]:
    """A baseline fitted on every observed target of ``measurements`` (any length, even
    none), and its in-sample scores (no cells when no target was observed)."""
    features = build_features(measurements, locations, spec)
    targets = build_targets(measurements, spec)
    baseline = Forecaster.baseline(spec).fit_baseline(features, targets)
    return baseline, Backtest.score(baseline, features, targets)


@dataclass(frozen=True)
class BaselineVersion:
    """A registered baseline: its version, whether it became champion, and why."""

    name: str
    version: int
    run_id: str
    champion: bool
    reason: str
    by_horizon: pd.DataFrame


def _metrics(scores: Backtest) -> dict[str, float]:
    """In-sample metrics (on the rows the baseline was fitted on), prefixed ``in_sample_``."""
    if scores.cells.empty:
        return {}
    return {f"in_sample_{k}": v for k, v in scores.summary().items()}


def register_baseline(
    measurements: pd.DataFrame,
    locations: pd.DataFrame,
    spec: FeatureSpec,
    *,
    experiment: str,
    fingerprint: dict[str, Any],
    tracking_uri: str | None = None,
    progress: Progress = _noop,
) -> BaselineVersion:
    """Fit a baseline on ``measurements``, register it as a version of
    ``aircast-<spec.target>`` (tag ``aircast.kind=baseline``) and make it champion when there
    is no champion or the champion is a baseline."""
    from aircast import registry

    progress("fitting the baseline (persistence / recent mean combination, no trees)")
    baseline, scores = fit_baseline(measurements, locations, spec)
    table = scores.by_horizon() if len(scores.cells) else pd.DataFrame()
    name = registry.model_name(spec.target)
    registered = registry.log_baseline(
        baseline,
        experiment=experiment,
        params={"kind": "baseline", "horizons": spec.horizons},
        metrics=_metrics(scores),
        fingerprint=fingerprint,
        tracking_uri=tracking_uri,
    )
    current = registry.champion_version(name, tracking_uri=tracking_uri)
    if current is None:
        champion, reason = True, "baseline: no champion yet"
    elif registry.version_kind(name, current, tracking_uri=tracking_uri) == "baseline":
        champion, reason = True, f"baseline: replaces baseline v{current}"
    else:
        champion, reason = False, f"baseline: trained champion v{current} stays"
    if champion:
        registry.set_baseline_champion(name, registered.version, reason, tracking_uri=tracking_uri)
    progress(f"{name} v{registered.version}: {reason}")
    return BaselineVersion(
        name=name,
        version=registered.version,
        run_id=registered.run_id,
        champion=champion,
        reason=reason,
        by_horizon=table,
    )
