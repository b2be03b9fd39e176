"""One training: load → features → fit (rolling-origin backtest) → evaluate → register/gate.

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
from aircast.evaluation import (
    Backtest,
    backtest_origins,
    rolling_origin,
    split_targets,
    write_plots,
)
from aircast.features import FeatureSpec, build_features, build_targets
from aircast.forecaster import Forecaster, ForecasterParams
from aircast.registry import (
    GateDecision,
    GateMargins,
    ModelNotFoundError,
    apply_gate,
    champion_version,
    decide,
    load_model,
    log_training,
    model_name,
)
from aircast.settings import GateSettings, TrainingSettings

Progress = Callable[[str], None]


class TrainingError(RuntimeError):
    """Training cannot proceed (e.g. too little data); the message says what to do."""


class HistoryTooShortError(TrainingError):
    """Too little history for any backtest fold: :func:`train` registers the baseline
    (:mod:`aircast.baseline`) instead of a trained model."""


# days of history the trees need before the first backtest origin
MIN_TRAIN_DAYS = 4


def _noop(_: str) -> None:
    return None


def feature_spec(settings: TrainingSettings) -> FeatureSpec:
    """The feature spec a training with these settings uses."""
    return FeatureSpec(
        target=settings.train_parameter,
        covariates=settings.covariates(),
        horizons=settings.train_horizons,
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
    "horizons": "train_horizons",
    "history_days": "train_history_days",
    "iterations": "train_iterations",
    "depth": "train_depth",
    "learning_rate": "train_learning_rate",
    "threads": "train_threads",
    "seed": "train_seed",
    "max_rows": "train_max_rows",
    "backtest_days": "train_backtest_days",
    "backtest_folds": "train_backtest_folds",
    "calibration_days": "train_calibration_days",
    "cross_fit": "train_cross_fit",
    "experiment": "train_experiment",
}


def settings_from_variables(variables: dict[str, Any]) -> TrainingSettings:
    """AIRCAST_TRAIN_* settings overridden by non-empty pipeline variables (e.g. Mage's
    ``iterations``, ``backtest_days``); values are validated like the environment's."""
    overrides = {
        field: variables[key]
        for key, field in _VARIABLES.items()
        if variables.get(key) not in (None, "")
    }
    base = TrainingSettings().model_dump()
    return TrainingSettings.model_validate({**base, **overrides})


def new_workdir(prefix: str = "aircast-train-") -> Path:
    """A fresh work directory for a staged training (removed by :func:`stage_register`'s
    caller via :func:`remove_workdir`)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_workdir(workdir: Path) -> None:
    """Delete a work directory made by :func:`new_workdir`."""
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------- stages


def stage_load(
    workdir: Path,
    conninfo: str,
    settings: TrainingSettings,
    *,
    until: pd.Timestamp | str | None = None,
    progress: Progress = _noop,
) -> dict[str, Any]:
    """Read the training window (ending at ``until``, default now) from the aircast DB."""
    from aircast.store import load_locations, load_measurements

    spec = feature_spec(settings)
    end = pd.Timestamp(until) if until else pd.Timestamp.now(tz="UTC").floor("h")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    since = end - pd.Timedelta(days=settings.train_history_days)
    progress(f"loading {', '.join(spec.parameters)} since {since:%Y-%m-%d}")
    measurements = load_measurements(conninfo, list(spec.parameters), since=since, until=end)
    locations = load_locations(conninfo)
    return stage_frames(workdir, measurements, locations, settings)


def stage_frames(
    workdir: Path, measurements: pd.DataFrame, locations: pd.DataFrame, settings: TrainingSettings
) -> dict[str, Any]:
    """Put already-loaded frames into ``workdir`` (the entry point for in-memory data)."""
    target = settings.train_parameter
    if not (measurements["parameter"] == target).any():
        raise TrainingError(
            f"no {target} measurements to train on; run `aircast ingest` (or the "
            "ingest_openaq pipeline) first"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    measurements.to_pickle(workdir / "measurements.pkl")
    locations.to_pickle(workdir / "locations.pkl")
    fp = fingerprint(measurements)
    (workdir / "fingerprint.json").write_text(json.dumps(fp))
    return {"workdir": str(workdir), **fp}


def stage_features(
    workdir: Path, settings: TrainingSettings, *, progress: Progress = _noop
) -> dict[str, Any]:
    """Build features and targets on the full hourly grid."""
    spec = feature_spec(settings)
    measurements = pd.read_pickle(workdir / "measurements.pkl")  # noqa: S301 - our own file
    locations = pd.read_pickle(workdir / "locations.pkl")  # noqa: S301
    progress("building features")
    features = build_features(measurements, locations, spec)
    targets = build_targets(measurements, spec)
    features.to_pickle(workdir / "features.pkl")
    targets.to_pickle(workdir / "targets.pkl")
    return {"workdir": str(workdir), "rows": len(features), "features": len(spec.feature_names())}


def calibrated_fitter(
    spec: FeatureSpec,
    params: ForecasterParams,
    calibration_days: int,
    cross_fit: bool = True,
    progress: Progress = _noop,
) -> Callable[[pd.DataFrame, pd.DataFrame], Forecaster]:
    """Fit the trees on all but a held-out tail of the rows (already censored at the origin),
    and on that tail fit the per-horizon combination weights and the interval calibration.

    The tail is sized from the data (:func:`aircast.combination.held_out_days`): a third of
    the span, at least 2 days, at most ``calibration_days``. With ``cross_fit`` the returned
    model is then fitted again on every row, the held-out days included, and adopts the first
    model's weights and interval adjustment: the served model learns from the most recent
    days, and both are still fitted on days the trees that produced them had not seen.
    Costs a second fit. A history too short to hold anything out gives the trees alone.
    """

    def fit(features: pd.DataFrame, targets: pd.DataFrame) -> Forecaster:
        model = Forecaster(spec, params)
        issue = pd.DatetimeIndex(features["issue_time"])
        span = (issue.max() - issue.min() + pd.Timedelta(hours=1)) / pd.Timedelta(days=1)
        days = combination.held_out_days(span, calibration_days) if len(issue) else 0
        if days <= 0:
            return model.fit(features, targets)
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

    return fit


def stage_fit(
    workdir: Path, settings: TrainingSettings, *, progress: Progress = _noop
) -> dict[str, Any]:
    """Rolling-origin backtest; the model of the last origin is the candidate."""
    spec, params = feature_spec(settings), forecaster_params(settings)
    features = pd.read_pickle(workdir / "features.pkl")  # noqa: S301
    targets = pd.read_pickle(workdir / "targets.pkl")  # noqa: S301
    if features.empty:
        raise TrainingError("no feature rows; load more history")
    end = pd.DatetimeIndex(features["issue_time"]).max() + pd.Timedelta(hours=1)
    window = pd.Timedelta(days=settings.train_backtest_days)
    origins = backtest_origins(end, settings.train_backtest_folds, window)
    start = pd.DatetimeIndex(features["issue_time"]).min()
    # the held-out slice is sized from each origin's history (combination.held_out_days)
    if origins[0] - pd.Timedelta(days=MIN_TRAIN_DAYS) <= start:
        span = (end - start) / pd.Timedelta(days=1)
        raise HistoryTooShortError(
            f"{span:.0f} days of data is too little for {settings.train_backtest_folds} "
            f"backtest fold(s) of {settings.train_backtest_days} days plus "
            f"{MIN_TRAIN_DAYS} days to train on; ingest more history or "
            "lower AIRCAST_TRAIN_BACKTEST_DAYS"
        )
    backtest, models = rolling_origin(
        features,
        targets,
        calibrated_fitter(
            spec,
            params,
            settings.train_calibration_days,
            settings.train_cross_fit,
            progress,
        ),
        origins,
        window,
        progress=progress,
    )
    if backtest.cells.empty:
        raise TrainingError("the backtest window has no observed targets; ingest more data")
    candidate = models[-1]
    candidate.save(workdir / "model.cb")
    backtest.cells.to_pickle(workdir / "backtest.pkl")
    (workdir / "window.json").write_text(
        json.dumps({"origin": origins[-1].isoformat(), "end": end.isoformat()})
    )
    return {"workdir": str(workdir), "folds": len(origins), "cells": len(backtest.cells)}


def _champion_cells(
    name: str, workdir: Path, origin: pd.Timestamp, end: pd.Timestamp
) -> tuple[int | None, pd.DataFrame | None]:
    """The current champion's backtest cells on the candidate's last window."""
    version = champion_version(name)
    if version is None:
        return None, None
    try:
        champion = load_model(name, version=version).forecaster
    except ModelNotFoundError:
        return None, None
    measurements = pd.read_pickle(workdir / "measurements.pkl")  # noqa: S301
    locations = pd.read_pickle(workdir / "locations.pkl")  # noqa: S301
    # the champion may use another feature spec: rebuild its own features
    features = build_features(measurements, locations, champion.spec)
    targets = build_targets(measurements, champion.spec)
    issue = pd.DatetimeIndex(features["issue_time"])
    rows = np.asarray((issue >= origin) & (issue < end))
    return version, Backtest.score(champion, features[rows], targets[rows]).cells


def _mean_mae(cells: pd.DataFrame, column: str) -> float:
    return float((cells[column] - cells["observed"]).abs().groupby(cells["horizon"]).mean().mean())


def stage_evaluate(
    workdir: Path, settings: TrainingSettings, *, progress: Progress = _noop
) -> dict[str, Any]:
    """Metrics per horizon, the champion on the same window, and the plots."""
    model = Forecaster.load(workdir / "model.cb")
    cells = pd.read_pickle(workdir / "backtest.pkl")  # noqa: S301
    window = json.loads((workdir / "window.json").read_text())
    origin, end = pd.Timestamp(window["origin"]), pd.Timestamp(window["end"])
    backtest = Backtest(cells)
    metrics = backtest.summary()
    last = Backtest(cells[pd.DatetimeIndex(cells["issue_time"]) >= origin])
    progress("scoring the current champion on the same window")
    name = model_name(settings.train_parameter)
    champion, champion_cells = _champion_cells(name, workdir, origin, end)
    compared = last.cells
    champion_mae: float | None = None
    if champion_cells is not None:
        # score both on the cells both could forecast, so the comparison is like for like
        key = ["location_id", "issue_time", "horizon"]
        compared = compared.merge(
            champion_cells[[*key, "aircast"]].rename(columns={"aircast": "champion"}), on=key
        )
        champion_mae = _mean_mae(compared, "champion") if len(compared) else None
        if not len(compared):
            compared = last.cells
    gate_numbers = {
        "candidate_mae": _mean_mae(compared, "aircast"),
        "persistence_mae": _mean_mae(compared, "persistence"),
        "champion_mae": champion_mae,
        "champion_version": champion,
        "gate_cells": len(compared),
    }
    plots = write_plots(backtest, model, workdir / "plots")
    (workdir / "metrics.json").write_text(json.dumps(metrics))
    (workdir / "gate_numbers.json").write_text(json.dumps(gate_numbers))
    return {"workdir": str(workdir), **gate_numbers, "plots": [p.name for p in plots]}


@dataclass(frozen=True)
class TrainingReport:
    """What a training produced: the registered version and the gate's decision."""

    name: str
    version: int
    run_id: str
    decision: GateDecision
    metrics: dict[str, float]
    by_horizon: pd.DataFrame
    kind: str = "catboost"


def stage_register(
    workdir: Path,
    settings: TrainingSettings,
    gate: GateSettings,
    *,
    progress: Progress = _noop,
) -> TrainingReport:
    """Log the run, register the version, and apply the gate (alias + decision tags)."""
    model = Forecaster.load(workdir / "model.cb")
    metrics = json.loads((workdir / "metrics.json").read_text())
    numbers = json.loads((workdir / "gate_numbers.json").read_text())
    fp = json.loads((workdir / "fingerprint.json").read_text())
    features = pd.read_pickle(workdir / "features.pkl")  # noqa: S301
    decision = decide(
        numbers["candidate_mae"],
        numbers["persistence_mae"],
        numbers["champion_mae"],
        numbers["champion_version"],
        GateMargins(gate.gate_margin_over_champion, gate.gate_margin_over_persistence),
    )
    progress("logging the run and registering the model")
    params = {
        **model.params.to_dict(),
        "horizons": settings.train_horizons,
        "covariates": ",".join(model.spec.covariates),
        "backtest_days": settings.train_backtest_days,
        "backtest_folds": settings.train_backtest_folds,
        "calibration_days": settings.train_calibration_days,
        "cross_fit": settings.train_cross_fit,
        "gate_margin_over_champion": gate.gate_margin_over_champion,
        "gate_margin_over_persistence": gate.gate_margin_over_persistence,
    }
    example = features.dropna(subset=["y_lag_0"]).tail(5)
    registered = log_training(
        model,
        experiment=settings.train_experiment,
        params=params,
        metrics=metrics,
        fingerprint=fp,
        input_example=example if len(example) else features.tail(5),
        artifacts=sorted((workdir / "plots").glob("*.png")),
        tags={"gate.decision": decision.alias},
    )
    apply_gate(registered.name, registered.version, decision)
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
    until: pd.Timestamp | None = None,
    progress: Progress = _noop,
) -> TrainingReport:
    """Run every stage in a temporary work directory (what `aircast train` does).

    Data comes from the aircast DB at ``conninfo``, or from ``frames`` (measurements,
    locations) already in memory.
    """
    settings = settings or TrainingSettings()
    gate = gate or GateSettings()
    with tempfile.TemporaryDirectory(prefix="aircast-train-") as tmp:
        workdir = Path(tmp)
        if frames is not None:
            stage_frames(workdir, frames[0], frames[1], settings)
        elif conninfo is not None:
            stage_load(workdir, conninfo, settings, until=until, progress=progress)
        else:
            raise ValueError("give conninfo or frames")
        stage_features(workdir, settings, progress=progress)
        try:
            stage_fit(workdir, settings, progress=progress)
        except HistoryTooShortError as short:
            progress(f"{short}: registering the baseline instead")
            return stage_baseline(workdir, settings, progress=progress)
        stage_evaluate(workdir, settings, progress=progress)
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
    mae = float(table["mae_aircast"].mean()) if len(table) else float("nan")
    persistence = float(table["mae_persistence"].mean()) if len(table) else float("nan")
    decision = GateDecision(
        promote=version.champion,
        candidate_mae=mae,
        persistence_mae=persistence,
        champion_mae=None,
        champion_version=None,
        reason=version.reason,
    )
    return TrainingReport(
        name=version.name,
        version=version.version,
        run_id=version.run_id,
        decision=decision,
        metrics={},
        by_horizon=table,
        kind="baseline",
    )
