"""MLflow: one run per training, a registered model per parameter, and alias moves.

Works with ``mlflow-skinny`` (the Mage environment) and full ``mlflow``: only the tracking
client, the CatBoost flavour and artifact download are used, and artifacts go through the
tracking server's proxy, so a client needs nothing but ``MLFLOW_TRACKING_URI``.

Aliases: ``champion`` is what the API serves; a trained version that does not pass the gate
(:mod:`aircast.gate` decides) gets ``challenger``. Every alias move (gate, ``aircast promote``,
``aircast rollback``) is recorded as tags on the version and in the registered model's
``aircast.champion_history``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aircast.forecaster import Forecaster
from aircast.model_store import (
    BASELINE_FILE,
    CHALLENGER,
    CHAMPION,
    LoadedModel,
    ModelNotFoundError,
    ModelStore,
    RegistryError,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "LoadedModel",
    "ModelNotFoundError",
    "RegisteredVersion",
    "RegistryError",
    "apply_gate",
    "champion_version",
    "load_model",
    "log_baseline",
    "log_training",
    "model_name",
    "promote",
    "rollback",
    "set_baseline_champion",
    "version_kind",
]

_HISTORY_TAG = "aircast.champion_history"
# Version (and run) tag naming what a version holds: "catboost" or "baseline".
KIND_TAG = "aircast.kind"


def model_name(parameter: str) -> str:
    """The registered model name for a parameter: ``aircast-<parameter>``."""
    return f"aircast-{parameter}"


def _client(tracking_uri: str | None = None) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _is_missing(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"} or (
        "not found" in str(exc).lower() or "does not exist" in str(exc).lower()
    )


def _store(tracking_uri: str | None) -> ModelStore:
    """The one loader, at ``tracking_uri`` or where the MLflow client is pointed."""
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    return ModelStore(tracking_uri)


def champion_version(name: str, *, tracking_uri: str | None = None) -> int | None:
    """The version behind ``name@champion``, or None when there is none (cheap: one call)."""
    with _store(tracking_uri) as store:
        return store.champion_version(name, CHAMPION)


def load_model(
    name: str,
    alias: str | None = CHAMPION,
    *,
    version: int | None = None,
    tracking_uri: str | None = None,
) -> LoadedModel:
    """Resolve ``name@alias`` (or an explicit ``version``) and load its forecaster, through
    the one loader the API uses too (:class:`aircast.model_store.ModelStore`)."""
    with _store(tracking_uri) as store:
        return store.load_model(name, alias, version=version)


# ----------------------------------------------------------------------------- logging


def git_commit() -> str:
    """The source commit: ``AIRCAST_GIT_COMMIT`` (images), else ``git rev-parse``, else ''."""
    env = os.environ.get("AIRCAST_GIT_COMMIT")
    if env:
        return env
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    return ""


@dataclass(frozen=True)
class RegisteredVersion:
    """The outcome of logging a training: its run and the new registered version."""

    name: str
    version: int
    run_id: str


@contextlib.contextmanager
def _tracking(tracking_uri: str | None) -> Iterator[None]:
    import mlflow

    previous = mlflow.get_tracking_uri() if tracking_uri else None
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        if previous is not None:
            mlflow.set_tracking_uri(previous)


def log_training(
    forecaster: Forecaster,
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    fingerprint: Mapping[str, Any],
    input_example: pd.DataFrame,
    artifacts: list[Path],
    tags: Mapping[str, str] | None = None,
    stepped_metrics: Mapping[int, Mapping[str, float]] | None = None,
    documents: Mapping[str, Mapping[str, Any]] | None = None,
    tracking_uri: str | None = None,
) -> RegisteredVersion:
    """Log one training as an MLflow run and register a new version of the model.

    The run holds params, metrics, the dataset fingerprint (params ``data.*`` and a JSON
    artifact), the feature list, the git commit, the native CatBoost model with signature
    and input example, and ``artifacts`` (plots) under ``plots/``. ``stepped_metrics`` maps
    a step (the gate's horizon) to metrics logged at that step; ``documents`` are JSON
    artifacts by file name.
    """
    import mlflow
    import mlflow.catboost
    from mlflow.models import infer_signature

    if forecaster.model is None:
        raise RegistryError("cannot log an unfitted forecaster")
    name = model_name(forecaster.spec.target)
    with _tracking(tracking_uri):
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            commit = git_commit()
            run_tags = {"aircast.parameter": forecaster.spec.target, **(tags or {})}
            if commit:
                run_tags["mlflow.source.git.commit"] = commit
            mlflow.set_tags(run_tags)
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_params({f"data.{k}": str(v)[:500] for k, v in fingerprint.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            for step, values in sorted((stepped_metrics or {}).items()):
                mlflow.log_metrics({k: float(v) for k, v in values.items()}, step=step)
            for filename, document in (documents or {}).items():
                mlflow.log_dict(dict(document), filename)
            mlflow.log_dict(dict(fingerprint), "dataset_fingerprint.json")
            mlflow.log_dict(
                {"features": forecaster.model_feature_names, "spec": forecaster.spec.to_dict()},
                "features.json",
            )
            for path in artifacts:
                mlflow.log_artifact(str(path), artifact_path="plots")
            rows = input_example.head(5).reset_index(drop=True)
            example = forecaster.model_frame(
                rows, np.arange(len(rows)) % forecaster.spec.horizons + 1
            )
            signature = infer_signature(example, forecaster._raw(example))
            info = mlflow.catboost.log_model(
                forecaster.model,
                name="model",
                signature=signature,
                input_example=example,
                registered_model_name=name,
                # Explicit requirements: MLflow's inference loads the model in a subprocess to
                # watch its imports, which cost about a minute per training under load.
                pip_requirements=_model_requirements(),
            )
            version = int(info.registered_model_version)
    _client(tracking_uri).set_model_version_tag(name, str(version), KIND_TAG, forecaster.kind)
    return RegisteredVersion(name=name, version=version, run_id=run.info.run_id)


def log_baseline(
    forecaster: Forecaster,
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    fingerprint: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    tracking_uri: str | None = None,
) -> RegisteredVersion:
    """Log a baseline (no trees) as an MLflow run and register it as a new version of the
    parameter's model, an ordinary version like a trained one: its artifact is the
    forecaster's JSON file (:data:`aircast.model_store.BASELINE_FILE`) under ``model/`` and
    the version is tagged ``aircast.kind=baseline``."""
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    if not forecaster.is_baseline:
        raise RegistryError("log_baseline needs a baseline forecaster; use log_training")
    name = model_name(forecaster.spec.target)
    with _tracking(tracking_uri):
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            commit = git_commit()
            run_tags = {
                "aircast.parameter": forecaster.spec.target,
                KIND_TAG: forecaster.kind,
                **(tags or {}),
            }
            if commit:
                run_tags["mlflow.source.git.commit"] = commit
            mlflow.set_tags(run_tags)
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_params({f"data.{k}": str(v)[:500] for k, v in fingerprint.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            mlflow.log_dict(dict(fingerprint), "dataset_fingerprint.json")
            mlflow.log_dict(
                {"features": forecaster.model_feature_names, "spec": forecaster.spec.to_dict()},
                "features.json",
            )
            with tempfile.TemporaryDirectory(prefix="aircast-baseline-") as tmp:
                path = forecaster.save(Path(tmp) / BASELINE_FILE)
                mlflow.log_artifact(str(path), artifact_path="model")
            source = f"{run.info.artifact_uri}/model"
    client = _client(tracking_uri)
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = client.create_model_version(
        name, source, run_id=run.info.run_id, tags={KIND_TAG: forecaster.kind}
    )
    return RegisteredVersion(name=name, version=int(mv.version), run_id=run.info.run_id)


def version_kind(name: str, version: int, *, tracking_uri: str | None = None) -> str:
    """``baseline`` or ``catboost``: what a registered version holds (versions registered
    before the tag existed are trained CatBoost models)."""
    mv = _client(tracking_uri).get_model_version(name, str(version))
    return str((mv.tags or {}).get(KIND_TAG, "catboost"))


def set_baseline_champion(
    name: str, version: int, reason: str, *, tracking_uri: str | None = None
) -> None:
    """Make baseline ``version`` the champion, with the decision recorded as version tags
    (:func:`aircast.baseline.register_baseline` decides when)."""
    client = _client(tracking_uri)
    tags = {"gate.decision": CHAMPION, "gate.reason": reason, "gate.decided_at": _now()}
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    _set_champion(client, name, version, [*_history(client, name), version])


def _model_requirements() -> list[str]:
    """What loading the logged model needs (pinned to the versions that trained it)."""
    from importlib.metadata import version

    return [f"{dist}=={version(dist)}" for dist in ("catboost", "numpy", "pandas")]


# ----------------------------------------------------------------------------- alias moves


def _history(client: Any, name: str) -> list[int]:
    model = client.get_registered_model(name)
    raw = (model.tags or {}).get(_HISTORY_TAG, "[]")
    try:
        return [int(v) for v in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def _set_champion(client: Any, name: str, version: int, history: list[int]) -> None:
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(name, _HISTORY_TAG, json.dumps(history[-50:]))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def apply_gate(
    name: str,
    version: int,
    promote: bool,
    tags: Mapping[str, str],
    *,
    tracking_uri: str | None = None,
) -> None:
    """Record the gate's ``tags`` on ``version`` and give it ``champion`` when ``promote``,
    else ``challenger`` (the decision itself is :mod:`aircast.gate`'s)."""
    client = _client(tracking_uri)
    for key, value in {**tags, "gate.decided_at": _now()}.items():
        client.set_model_version_tag(name, str(version), key, value)
    if promote:
        _set_champion(client, name, version, [*_history(client, name), version])
    else:
        client.set_registered_model_alias(name, CHALLENGER, str(version))


def training_data_end(
    name: str, version: int, *, tracking_uri: str | None = None
) -> pd.Timestamp | None:
    """The newest measurement the version was trained on (its run's ``data.end`` param), or
    None when its run did not record one."""
    client = _client(tracking_uri)
    run_id = client.get_model_version(name, str(version)).run_id
    if not run_id:
        return None
    raw = client.get_run(run_id).data.params.get("data.end", "")
    if not raw:
        return None
    ts = pd.Timestamp(raw)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def champion_weather(name: str, *, tracking_uri: str | None = None) -> tuple[str, ...]:
    """The weather covariates of ``name``'s champion (its run's ``weather`` param): empty
    when there is no champion, it is a baseline, or it was trained without weather."""
    version = champion_version(name, tracking_uri=tracking_uri)
    if version is None:
        return ()
    client = _client(tracking_uri)
    run_id = client.get_model_version(name, str(version)).run_id
    if not run_id:
        return ()
    raw = client.get_run(run_id).data.params.get("weather", "")
    return tuple(v for v in raw.split(",") if v)


def promote(
    name: str, version: int, *, reason: str = "manual", tracking_uri: str | None = None
) -> int | None:
    """Make ``version`` the champion (operator override). Returns the previous champion."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        client.get_model_version(name, str(version))
    except MlflowException as exc:
        if _is_missing(exc):
            raise ModelNotFoundError(
                f"{name} has no version {version}; list versions in the MLflow UI"
            ) from exc
        raise
    previous = champion_version(name, tracking_uri=tracking_uri)
    history = _history(client, name)
    if previous is not None and (not history or history[-1] != previous):
        history.append(previous)
    client.set_model_version_tag(name, str(version), "promoted.reason", reason)
    client.set_model_version_tag(name, str(version), "promoted.at", _now())
    client.set_model_version_tag(
        name, str(version), "promoted.previous_champion", "" if previous is None else str(previous)
    )
    _set_champion(client, name, version, [*history, version])
    return previous


def rollback(name: str, *, tracking_uri: str | None = None) -> tuple[int, int]:
    """Move ``champion`` back to the previous champion. Returns (from_version, to_version)."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        history = _history(client, name)
    except MlflowException as exc:
        if _is_missing(exc):
            raise ModelNotFoundError(f"no registered model {name!r}; train one first") from exc
        raise
    current = champion_version(name, tracking_uri=tracking_uri)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back; promote a version first")
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise RegistryError(
            f"{name} has no previous champion to roll back to (v{current} is the first); "
            "use `aircast promote --version N` instead"
        )
    target = history[-1]
    client.set_registered_model_alias(name, CHAMPION, str(target))
    client.set_registered_model_tag(name, _HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, str(current), "rolled_back.at", _now())
    client.set_model_version_tag(name, str(current), "rolled_back.to", str(target))
    client.set_model_version_tag(name, str(target), "restored.at", _now())
    return current, target
