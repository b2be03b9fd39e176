"""Input drift: the distribution of recent observations against the training data's.

At training, :func:`reference_histograms` bins each key feature — the hourly observation of
the target and of every covariate the model reads (``y_lag_0`` and ``cov_<p>_lag_0``, the
inputs every other feature is built from) — into deciles of the training values, and
:func:`record_reference` stores the result as ``drift_reference.json`` in the version's MLflow
run. The verification step compares the observations of the last ``verify_drift_hours``
with it by the population stability index (:func:`psi`): ``sum((a - e) * ln(a / e))`` over the
bins, ``e`` the training share and ``a`` the recent share of a bin. By the usual reading,
below 0.1 is stable, 0.1-0.25 a moderate shift and above 0.25 a large one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from aircast.store.queries import Conninfo, measurement_rows

REFERENCE_ARTIFACT = "drift_reference.json"
_FLOOR = 1e-4  # share given to an empty bin, so ln(a / e) stays finite


def reference_histograms(
    measurements: pd.DataFrame, parameters: Sequence[str], bins: int = 10
) -> dict[str, Any]:
    """Decile bins and shares of each parameter's observed values (training data).

    Returns ``{"bins": n, "features": {parameter: {"edges": [...], "shares": [...],
    "count": n}}}``; a parameter without observations is left out. The outer edges are open
    (values beyond them fall in the first or last bin).
    """
    features: dict[str, Any] = {}
    for parameter in parameters:
        selected = measurements.loc[measurements["parameter"] == parameter, "value"]
        values = selected.to_numpy(dtype="float64")
        values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        counts = _counts(values, inner)
        features[parameter] = {
            "edges": [float(v) for v in inner],
            "shares": [float(v) for v in counts / counts.sum()],
            "count": len(values),
        }
    return {"bins": bins, "features": features}


def _counts(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    # right-closed bins on the inner edges: bin i holds edges[i-1] < v <= edges[i]
    index = np.searchsorted(inner_edges, values, side="left")
    return np.bincount(index, minlength=len(inner_edges) + 1).astype("float64")


def psi(reference: Mapping[str, Any], values: np.ndarray) -> float:
    """Population stability index of ``values`` against one feature's reference bins."""
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError("no values to compare with the reference")
    expected = np.maximum(np.asarray(reference["shares"], dtype="float64"), _FLOOR)
    counts = _counts(values, np.asarray(reference["edges"], dtype="float64"))
    actual = np.maximum(counts / counts.sum(), _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def record_reference(
    run_id: str, reference: Mapping[str, Any], *, tracking_uri: str | None = None
) -> None:
    """Store ``reference`` as ``drift_reference.json`` in the MLflow run ``run_id``."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).log_dict(run_id, dict(reference), REFERENCE_ARTIFACT)


def load_reference(
    name: str, version: int, *, tracking_uri: str | None = None
) -> dict[str, Any] | None:
    """The drift reference of a registered model version (None when it has none)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    run_id = MlflowClient(tracking_uri=tracking_uri).get_model_version(name, str(version)).run_id
    if not run_id:
        return None
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{REFERENCE_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def recent_values(
    conninfo: Conninfo, parameters: Sequence[str], since: datetime, until: datetime
) -> dict[str, np.ndarray]:
    """Observed values per parameter of every location, ``since < datetime <= until``
    (the sensor each location's forecasts read)."""
    rows = measurement_rows(conninfo, list(parameters), since=since, until=until)
    out: dict[str, list[float]] = {p: [] for p in parameters}
    for _, parameter, _, value in rows:
        out[parameter].append(value)
    return {p: np.asarray(v, dtype="float64") for p, v in out.items()}


def drift(
    reference: Mapping[str, Any], recent: Mapping[str, np.ndarray], *, min_values: int = 100
) -> dict[str, float]:
    """PSI per parameter present in both (parameters with fewer than ``min_values`` recent
    values are left out: a handful of hours says nothing about a distribution)."""
    out: dict[str, float] = {}
    for parameter, entry in reference.get("features", {}).items():
        values = recent.get(parameter)
        if values is None or np.isfinite(values).sum() < min_values:
            continue
        out[parameter] = psi(entry, values)
    return out
