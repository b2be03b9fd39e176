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
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aircast.forecaster import Forecaster

CHAMPION = "champion"
CHALLENGER = "challenger"
_HISTORY_TAG = "aircast.champion_history"


class RegistryError(RuntimeError):
    """A registry operation cannot be done; the message names the problem and the fix."""


class ModelNotFoundError(RegistryError, LookupError):
    """No such registered model, version or alias."""


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


@dataclass(frozen=True)
class LoadedModel:
    """A registered forecaster ready to predict, with what the API reports about it."""

    forecaster: Forecaster
    name: str
    version: int
    alias: str | None
    run_id: str
    trained_at: datetime
    metrics: dict[str, float]
    feature_names: list[str]
    unit: str


def champion_version(name: str, *, tracking_uri: str | None = None) -> int | None:
    """The version behind ``name@champion``, or None when there is none (cheap: one call)."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(tracking_uri).get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise
    return int(mv.version)


def load_model(
    name: str,
    alias: str | None = CHAMPION,
    *,
    version: int | None = None,
    tracking_uri: str | None = None,
) -> LoadedModel:
    """Resolve ``name@alias`` (or an explicit ``version``) and load its native CatBoost model."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        if version is not None:
            mv = client.get_model_version(name, str(version))
            alias = None
        else:
            if alias is None:
                raise ValueError("give an alias or a version")
            mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if _is_missing(exc):
            what = f"version {version}" if version is not None else f"alias {alias!r}"
            raise ModelNotFoundError(
                f"registered model {name!r} has no {what}; train one with `aircast train`"
            ) from exc
        raise
    with tempfile.TemporaryDirectory(prefix="aircast-model-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{mv.version}",
            dst_path=tmp,
            tracking_uri=tracking_uri,
        )
        files = sorted(Path(local).rglob("*.cb"))
        if not files:
            raise RegistryError(f"{name} version {mv.version} has no CatBoost model file")
        forecaster = Forecaster.load(files[0])
    metrics: dict[str, float] = {}
    if mv.run_id:
        metrics = dict(client.get_run(mv.run_id).data.metrics)
    return LoadedModel(
        forecaster=forecaster,
        name=name,
        version=int(mv.version),
        alias=alias,
        run_id=mv.run_id or "",
        trained_at=datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, tz=UTC),
        metrics=metrics,
        feature_names=forecaster.model_feature_names,
        unit=forecaster.spec.unit,
    )


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
    return RegisteredVersion(name=name, version=version, run_id=run.info.run_id)


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
