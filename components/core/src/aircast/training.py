"""One training: load → features → fit (rolling-origin backtest) → evaluate (the gate) → register.

`aircast train` calls :func:`train`; the Mage pipeline ``train_forecaster`` calls the same
stage functions one block each. Stages hand over through a work directory (files, not Python
objects), so a Mage block only passes a small dict and every stage can be re-run on its own.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aircast import combination
from aircast.drift import record_reference, reference_histograms
from aircast.evaluation import (
    Backtest,
    cross_fit_blocks,
    rolling_origin,
    split_targets,
    write_plots,
)
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams, HeldOut
from aircast.gate import (
    ChampionCells,
    FoldPlan,
    GateDecision,
    NotEnoughHistoryError,
    decide,
    horizon_scores,
    plan_folds,
    score_champion,
)
from aircast.registry import apply_gate, log_training, model_name
from aircast.settings import GateSettings, TrainingSettings

Progress = Callable[[str], None]


class TrainingError(RuntimeError):
    """Training cannot proceed (e.g. too little data); the message says what to do."""


class HistoryTooShortError(TrainingError):
    """Too little history for a single backtest fold (:func:`aircast.gate.plan_folds`):
    :func:`train` registers the baseline (:mod:`aircast.baseline`) instead of a trained model."""


def _noop(_: str) -> None:
    return None


def feature_spec(settings: TrainingSettings) -> FeatureSpec:
    """The feature spec a training with these settings uses."""
    return FeatureSpec(
        target=settings.train_parameter,
        covariates=settings.covariates(),
        horizons=settings.train_horizons,
        weather=settings.weather(),
    )


def forecaster_params(settings: TrainingSettings) -> ForecasterParams:
    """CatBoost parameters from the settings."""
    return ForecasterParams(
        iterations=settings.train_iterations,
        depth=settings.train_depth,
        learning_rate=settings.train_learning_rate,
        threads=settings.train_threads,
        seed=settings.train_seed,
        max_train_rows=settings.train_max_rows,
    )


def fingerprint(measurements: pd.DataFrame) -> dict[str, Any]:
    """Rows, locations, parameters, time span and a content hash of the training data."""
    ordered = measurements.sort_values(["location_id", "parameter", "datetime"])
    hashed = pd.util.hash_pandas_object(
        ordered[["location_id", "parameter", "datetime", "value"]], index=False
    )
    digest = hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()
    span = pd.to_datetime(measurements["datetime"], utc=True)
    return {
        "rows": len(measurements),
        "locations": int(measurements["location_id"].nunique()),
        "parameters": ",".join(sorted(measurements["parameter"].unique())),
        "start": span.min().isoformat() if len(span) else "",
        "end": span.max().isoformat() if len(span) else "",
        "sha256": digest,
    }


_VARIABLES = {
    "parameter": "train_parameter",
    "covariates": "train_covariates",
    "weather": "train_weather",
    "horizons": "train_horizons",
    "history_days": "train_history_days",
    "iterations": "train_iterations",
    "depth": "train_depth",
    "learning_rate": "train_learning_rate",
    "threads": "train_threads",
    "seed": "train_seed",
    "max_rows": "train_max_rows",
    "calibration_days": "train_calibration_days",
    "cross_fit": "train_cross_fit",
    "cross_blocks": "train_cross_blocks",
    "experiment": "train_experiment",
}


_GATE_VARIABLES = {
    "gate_folds": "gate_folds",
    "gate_min_train_days": "gate_min_train_days",
    "gate_max_fold_days": "gate_max_fold_days",
    "gate_horizon_tolerance": "gate_horizon_tolerance",
}


def _overridden(variables: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {
        field: variables[key]
        for key, field in names.items()
        if variables.get(key) not in (None, "")
    }


def settings_from_variables(variables: dict[str, Any]) -> TrainingSettings:
    """AIRCAST_TRAIN_* settings overridden by non-empty pipeline variables (e.g. Mage's
    ``iterations``); values are validated like the environment's."""
    base = TrainingSettings().model_dump()
    return TrainingSettings.model_validate({**base, **_overridden(variables, _VARIABLES)})


def gate_settings_from_variables(variables: dict[str, Any]) -> GateSettings:
    """AIRCAST_GATE_* settings overridden by non-empty pipeline variables (``gate_folds``,
    ``gate_min_train_days``, ``gate_max_fold_days``, ``gate_horizon_tolerance``)."""
    base = GateSettings().model_dump()
    return GateSettings.model_validate({**base, **_overridden(variables, _GATE_VARIABLES)})


def until_from_variables(variables: dict[str, Any]) -> pd.Timestamp | None:
    """The pipeline variable ``until`` (ISO 8601), or None when empty."""
    raw = variables.get("until")
    if raw in (None, ""):
        return None
    try:
        return _utc(str(raw))
    except ValueError as exc:
        raise TrainingError(
            f"until={raw!r} is not a time: use ISO 8601, e.g. 2024-01-01T00:00Z"
        ) from exc


def new_workdir(prefix: str = "aircast-train-") -> Path:
    """A fresh work directory for a staged training (removed by :func:`stage_register`'s
    caller via :func:`remove_workdir`)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_workdir(workdir: Path) -> None:
    """Delete a work directory made by :func:`new_workdir`."""
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------- stages


def _utc(value: pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _when(ts: pd.Timestamp) -> str:
    return f"{ts:%Y-%m-%dT%H:%MZ}"


def stage_load(
    workdir: Path,
    conninfo: str,
    settings: TrainingSettings,
    *,
    until: pd.Timestamp | str | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Read the training window from the aircast DB.

    The window is the ``train_history_days`` up to ``until``, by default up to the newest
    stored measurement of the target parameter (not the wall clock: an old export trains).
    An empty window raises :class:`TrainingError` naming the window and the newest
    measurement found.
    """
    from aircast.store import load_locations, load_measurements, newest_measurement

    spec = feature_spec(settings)
    target = settings.train_parameter
    newest = newest_measurement(conninfo, target)
    if newest is None:
        raise TrainingError(
            f"no {target} measurements are stored; run `aircast ingest` (or the ingest_openaq "
            "pipeline) first"
        )
    end = _utc(until) if until is not None and until != "" else newest
    since = end - pd.Timedelta(days=settings.train_history_days)
    progress(f"loading {', '.join(spec.parameters)} from {_when(since)} to {_when(end)}")
    measurements = load_measurements(conninfo, list(spec.parameters), since=since, until=end)
    if not (measurements["parameter"] == target).any():
        raise TrainingError(
            f"no {target} measurements in the training window {_when(since)} to {_when(end)} "
            f"(AIRCAST_TRAIN_HISTORY_DAYS={settings.train_history_days} days up to --until); "
            f"the newest stored {target} measurement is at {_when(newest)}: pass "
            f"--until {_when(newest)} or leave --until out to end at it"
        )
    locations = load_locations(conninfo)
    weather = None
    # the champion's weather too: the gate scores it on the candidate's folds with the
    # forecasts it was trained to read, not only its no-weather fallback (stage_evaluate)
    if spec.weather or _champion_weather(target, progress):
        from aircast.weather.store import load_forecasts

        # every forecast row of the window's target hours issued by its end; the feature
        # builder then gives each row only what was issued at or before its issue time
        weather = load_forecasts(
            conninfo,
            since=since - pd.Timedelta(hours=1),
            until=end + pd.Timedelta(hours=spec.horizons),
            issued_until=end,
        )
        progress(f"loaded {len(weather)} weather forecast rows")
    return stage_frames(workdir, measurements, locations, settings, weather=weather)


def _champion_weather(target: str, progress: Progress) -> tuple[str, ...]:
    """The current champion's weather covariates; none when the registry cannot say."""
    from aircast.registry import champion_weather

    try:
        return champion_weather(model_name(target))
    except Exception as exc:  # noqa: BLE001 - the gate then scores it without weather
        progress(f"could not read the champion's weather covariates ({exc}); scoring it without")
        return ()


def stage_frames(
    workdir: Path,
    measurements: pd.DataFrame,
    locations: pd.DataFrame,
    settings: TrainingSettings,
    *,
    weather: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Put already-loaded frames into ``workdir`` (the entry point for in-memory data).

    ``weather``: weather forecast rows with their issue times (:mod:`aircast.weather.store`),
    for a spec with weather covariates."""
    target = settings.train_parameter
    if not (measurements["parameter"] == target).any():
        raise TrainingError(
            f"the measurements given hold no {target} rows; nothing to train "
            f"AIRCAST_TRAIN_PARAMETER={target} on"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    measurements.to_pickle(workdir / "measurements.pkl")
    locations.to_pickle(workdir / "locations.pkl")
    if weather is not None:
        weather.to_pickle(workdir / "weather.pkl")
    fp = fingerprint(measurements)
    (workdir / "fingerprint.json").write_text(json.dumps(fp))
    return {"workdir": str(workdir), **fp}


def _weather_frame(workdir: Path) -> pd.DataFrame | None:
    """The weather forecast rows stage_load stored, if the spec or the champion reads them."""
    path = workdir / "weather.pkl"
    return pd.read_pickle(path) if path.exists() else None  # noqa: S301 - our own file


def stage_features(
    workdir: Path, settings: TrainingSettings, *, progress: Progress = _noop
) -> dict[str, Any]:
    """Build features and targets on the full hourly grid."""
    spec = feature_spec(settings)
    measurements = pd.read_pickle(workdir / "measurements.pkl")  # noqa: S301 - our own file
    locations = pd.read_pickle(workdir / "locations.pkl")  # noqa: S301
    weather = _weather_frame(workdir) if spec.weather else None
    progress("building features")
    features = build_features(measurements, locations, spec, weather=weather)
    targets = build_targets(measurements, spec)
    features.to_pickle(workdir / "features.pkl")
    targets.to_pickle(workdir / "targets.pkl")
    return {"workdir": str(workdir), "rows": len(features), "features": len(spec.feature_names())}


# Rows dropped after each cross-fitted block: their lags up to 48 h, trailing means and the
# same hour of the previous day read the block's hours. The longer lags (72 h, 168 h by
# default) of later rows still read some, as inputs only: no training target is in a block
# (docs/forecasting.md, "Out-of-sample forecasts").
CROSS_FIT_GAP = pd.Timedelta(hours=48)


def calibrated_fitter(
    spec: FeatureSpec,
    params: ForecasterParams,
    calibration_days: int,
    cross_fit: bool = True,
    progress: Progress = _noop,
    *,
    blocks: int = 3,
) -> Callable[[pd.DataFrame, pd.DataFrame], Forecaster]:
    """Fit the trees and the per-horizon combination weights and interval calibration, the
    latter on forecasts of rows the trees that made them had not seen.

    With ``cross_fit`` (the candidate) the trees are fitted on every row, and the weights and
    calibration on cross-fitted forecasts of the whole window: it is cut into ``blocks``
    contiguous blocks (:func:`aircast.evaluation.cross_fit_blocks`), each forecast by trees
    fitted on the other blocks. Costs ``blocks + 1`` fits. The weights so fitted reflect
    trees fitted on most of the window, as the served ones are, over every season in it
    (docs/forecasting.md, "Out-of-sample forecasts").

    Without ``cross_fit`` (each gate fold, or a window too short for the blocks) one fit on
    all but a held-out tail, sized from the data (:func:`aircast.combination.held_out_days`:
    a third of the span, at least 2 days, at most ``calibration_days``), and the tail fits
    the weights and calibration; a window that short with ``cross_fit`` is then refitted on
    every row and adopts them. ``calibration_days`` 0, or a history too short to hold
    anything out, gives the trees alone.
    """

    def fit(features: pd.DataFrame, targets: pd.DataFrame) -> Forecaster:
        model = Forecaster(spec, params)
        issue = pd.DatetimeIndex(features["issue_time"])
        span = (issue.max() - issue.min() + pd.Timedelta(hours=1)) / pd.Timedelta(days=1)
        days = combination.held_out_days(span, calibration_days) if len(issue) else 0
        if days <= 0:
            return model.fit(features, targets)
        if cross_fit and blocks >= 2 and span >= blocks * combination.MIN_HELD_OUT_DAYS:
            return _cross_fitted(features, targets, span)
        cut = issue.max() + pd.Timedelta(hours=1) - pd.Timedelta(days=days)
        rows, censored, _ = split_targets(features, targets, cut, cut)
        cal = np.asarray(issue >= cut)
        if rows.sum() == 0 or cal.sum() == 0:
            return model.fit(features, targets)
        progress(f"holding out the last {days} of {span:.0f} days for the combination")
        model.fit(features[rows], censored[rows], calibration=(features[cal], targets[cal]))
        if not cross_fit:
            return model
        progress(f"refitting on all {len(features)} rows, held-out days included")
        final = Forecaster(spec, params).fit(features, targets)
        final.adopt_calibration(model)
        return final

    def _cross_fitted(features: pd.DataFrame, targets: pd.DataFrame, span: float) -> Forecaster:
        parts = []
        splits = cross_fit_blocks(features, targets, blocks, CROSS_FIT_GAP)
        for i, (rows, censored, block) in enumerate(splits, start=1):
            if rows.sum() == 0 or block.sum() == 0:
                continue
            progress(
                f"cross-fitting block {i} of {blocks} ({span / blocks:.0f} of {span:.0f} days): "
                f"fitting on {int(rows.sum())} rows"
            )
            held = Forecaster(spec, params).fit(features[rows], censored[rows])
            parts.append(held.held_out(features[block], targets[block]))
        progress(f"refitting on all {len(features)} rows; combining on the blocks' forecasts")
        final = Forecaster(spec, params).fit(features, targets)
        final.fit_combination_on(HeldOut.concat(parts))
        return final

    return fit


def stage_fit(
    workdir: Path,
    settings: TrainingSettings,
    gate: GateSettings | None = None,
    *,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Rolling-origin backtest on folds planned from the data, then the candidate: a fit on
    every row.

    Each fold is one held-out-calibrated fit (no cross-fitted refit, to halve the cost); the
    candidate is fitted like `train_cross_fit` says.
    """
    gate = gate or GateSettings()
    spec, params = feature_spec(settings), forecaster_params(settings)
    features = pd.read_pickle(workdir / "features.pkl")  # noqa: S301
    targets = pd.read_pickle(workdir / "targets.pkl")  # noqa: S301
    if features.empty:
        raise TrainingError("no feature rows; load more history")
    issue = pd.DatetimeIndex(features["issue_time"])
    try:
        plan = plan_folds(
            issue.min(),
            issue.max() + pd.Timedelta(hours=1),
            calibration_days=settings.train_calibration_days,
            gate=gate,
        )
    except NotEnoughHistoryError as exc:
        raise HistoryTooShortError(str(exc)) from exc
    progress(f"backtest: {plan.describe()}")
    fold_fit = calibrated_fitter(
        spec, params, settings.train_calibration_days, cross_fit=False, progress=progress
    )
    backtest, _ = rolling_origin(
        features, targets, fold_fit, plan.origins, plan.length, progress=progress
    )
    if backtest.cells.empty:
        raise TrainingError("the backtest folds have no observed targets; ingest more data")
    progress(f"fitting the candidate on all {len(features)} rows")
    candidate = calibrated_fitter(
        spec,
        params,
        settings.train_calibration_days,
        settings.train_cross_fit,
        progress,
        blocks=settings.train_cross_blocks,
    )(features, targets)
    candidate.save(workdir / "model.cb")
    backtest.cells.to_pickle(workdir / "backtest.pkl")
    (workdir / "plan.json").write_text(json.dumps(plan.to_dict()))
    return {"workdir": str(workdir), "folds": len(plan.origins), "cells": len(backtest.cells)}


def stage_evaluate(
    workdir: Path,
    settings: TrainingSettings,
    gate: GateSettings | None = None,
    *,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Score the champion on the same folds, make the gate's decision, write the plots."""
    gate = gate or GateSettings()
    model = Forecaster.load(workdir / "model.cb")
    cells = pd.read_pickle(workdir / "backtest.pkl")  # noqa: S301
    plan = FoldPlan.from_dict(json.loads((workdir / "plan.json").read_text()))
    backtest = Backtest(cells)
    progress("scoring the current champion on the same folds")
    champion: ChampionCells = score_champion(
        model_name(settings.train_parameter),
        pd.read_pickle(workdir / "measurements.pkl"),  # noqa: S301
        pd.read_pickle(workdir / "locations.pkl"),  # noqa: S301
        plan,
        cells,
        weather=_weather_frame(workdir),
    )
    decision = decide(horizon_scores(cells, champion), plan, champion, gate)
    plots = write_plots(backtest, model, workdir / "plots")
    (workdir / "metrics.json").write_text(json.dumps(backtest.summary()))
    (workdir / "gate.json").write_text(json.dumps(decision.to_dict()))
    return {
        "workdir": str(workdir),
        "decision": decision.alias,
        "reason": decision.reason,
        "candidate_mae": decision.candidate_mae,
        "persistence_mae": decision.persistence_mae,
        "champion_mae": decision.champion_mae,
        "champion_version": decision.champion_version,
        "gate_cells": int(decision.scores["n"].sum()),
        "plots": [p.name for p in plots],
    }


@dataclass(frozen=True)
class TrainingReport:
    """What a training produced: the registered version and the gate's decision."""

    name: str
    version: int
    run_id: str
    decision: GateDecision | None
    """The gate's decision; None for a baseline, which no gate decides (:mod:`aircast.baseline`)."""
    metrics: dict[str, float]
    by_horizon: pd.DataFrame
    kind: str = "catboost"
    baseline_reason: str = ""
    baseline_champion: bool = False

    @property
    def alias(self) -> str:
        """The alias the version got: the gate's, or ``champion``/``none`` for a baseline."""
        if self.decision is not None:
            return self.decision.alias
        return "champion" if self.baseline_champion else "none"

    @property
    def reason(self) -> str:
        """Why the version got its alias."""
        return self.decision.reason if self.decision is not None else self.baseline_reason


def stage_register(
    workdir: Path,
    settings: TrainingSettings,
    gate: GateSettings | None = None,
    *,
    progress: Progress = _noop,
) -> TrainingReport:
    """Log the run (the gate's numbers included), register the version, and record the
    decision stage_evaluate made (alias + ``gate.*`` tags)."""
    gate = gate or GateSettings()
    model = Forecaster.load(workdir / "model.cb")
    metrics = json.loads((workdir / "metrics.json").read_text())
    decision = GateDecision.from_dict(json.loads((workdir / "gate.json").read_text()))
    fp = json.loads((workdir / "fingerprint.json").read_text())
    features = pd.read_pickle(workdir / "features.pkl")  # noqa: S301
    progress("logging the run and registering the model")
    params = {
        **model.params.to_dict(),
        "horizons": settings.train_horizons,
        "covariates": ",".join(model.spec.covariates),
        "weather": ",".join(model.spec.weather),
        "calibration_days": settings.train_calibration_days,
        "cross_fit": settings.train_cross_fit,
        "cross_blocks": settings.train_cross_blocks,
        "history_days": settings.train_history_days,
        **gate.model_dump(),
    }
    example = features.dropna(subset=["y_lag_0"]).tail(5)
    registered = log_training(
        model,
        experiment=settings.train_experiment,
        params=params,
        metrics={**metrics, **decision.metrics()},
        fingerprint=fp,
        input_example=example if len(example) else features.tail(5),
        artifacts=sorted((workdir / "plots").glob("*.png")),
        tags={"gate.decision": decision.alias, "weather": ",".join(model.spec.weather) or "none"},
        stepped_metrics=decision.horizon_metrics(),
        documents={"gate.json": decision.to_dict()},
    )
    # Before the gate moves an alias: a champion always has its drift reference.
    measurements = pd.read_pickle(workdir / "measurements.pkl")  # noqa: S301
    record_reference(registered.run_id, reference_histograms(measurements, model.spec.parameters))
    apply_gate(registered.name, registered.version, decision.promote, decision.tags())
    progress(f"{registered.name} v{registered.version} → {decision.alias}: {decision.reason}")
    cells = pd.read_pickle(workdir / "backtest.pkl")  # noqa: S301
    return TrainingReport(
        name=registered.name,
        version=registered.version,
        run_id=registered.run_id,
        decision=decision,
        metrics=metrics,
        by_horizon=Backtest(cells).by_horizon(),
    )


def train(
    conninfo: str | None = None,
    settings: TrainingSettings | None = None,
    gate: GateSettings | None = None,
    *,
    frames: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    weather: pd.DataFrame | None = None,
    until: pd.Timestamp | str | None = None,
    progress: Progress = _noop,
) -> TrainingReport:
    """Run every stage in a temporary work directory (what `aircast train` does).

    Data comes from the aircast DB at ``conninfo`` (the window ending at ``until``, default
    the newest stored measurement of the target), or from ``frames`` (measurements,
    locations) already in memory, with ``weather`` forecast rows for a spec with weather.
    """
    settings = settings or TrainingSettings()
    gate = gate or GateSettings()
    with tempfile.TemporaryDirectory(prefix="aircast-train-") as tmp:
        workdir = Path(tmp)
        if frames is not None:
            stage_frames(workdir, frames[0], frames[1], settings, weather=weather)
        elif conninfo is not None:
            stage_load(workdir, conninfo, settings, until=until, progress=progress)
        else:
            raise ValueError("give conninfo or frames")
        stage_features(workdir, settings, progress=progress)
        try:
            stage_fit(workdir, settings, gate, progress=progress)
        except HistoryTooShortError as short:
            progress(f"{short}: registering the baseline instead")
            return stage_baseline(workdir, settings, progress=progress)
        stage_evaluate(workdir, settings, gate, progress=progress)
        return stage_register(workdir, settings, gate, progress=progress)


def stage_baseline(
    workdir: Path, settings: TrainingSettings, *, progress: Progress = _noop
) -> TrainingReport:
    """Fit and register the baseline on the loaded data (too little history to train): it
    becomes champion unless a trained model already is (:mod:`aircast.baseline`)."""
    from aircast.baseline import register_baseline

    measurements = pd.read_pickle(workdir / "measurements.pkl")  # noqa: S301 - our own file
    locations = pd.read_pickle(workdir / "locations.pkl")  # noqa: S301
    fp = json.loads((workdir / "fingerprint.json").read_text())
    version = register_baseline(
        measurements,
        locations,
        feature_spec(settings),
        experiment=settings.train_experiment,
        fingerprint=fp,
        progress=progress,
    )
    table = version.by_horizon
    return TrainingReport(
        name=version.name,
        version=version.version,
        run_id=version.run_id,
        decision=None,
        metrics={},
        by_horizon=table,
        kind="baseline",
        baseline_reason=version.reason,
        baseline_champion=version.champion,
    )
