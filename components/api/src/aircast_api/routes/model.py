"""Metadata of the served model."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from aircast_api import problems
from aircast_api.deps import LifecycleDep, require_api_key, served_model
from aircast_api.models import ModelInfo, Parameter

router = APIRouter(prefix="/v1", tags=["model"], dependencies=[Depends(require_api_key)])


def _metrics(raw: Any) -> dict[str, float]:
    """Flatten the registry's metrics to ``name -> value`` (nested dicts join with ``_``)."""
    flat: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}_{key}" if prefix else str(key), inner)
        elif (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            flat[prefix] = float(value)

    walk("", raw or {})
    return flat


@router.get("/model", response_model=ModelInfo, responses=problems.responses(401, 404, 422, 503))
async def get_model(
    lifecycle: LifecycleDep, parameter: Annotated[Parameter, Query()] = "pm25"
) -> ModelInfo:
    """Name, version, alias, run, training time, per-horizon metrics and features."""
    served = served_model(lifecycle, parameter)
    slot = lifecycle.slots[parameter]
    model = served.model
    return ModelInfo(
        parameter=parameter,
        name=str(model.name),
        version=served.version,
        alias=str(model.alias),
        kind="baseline" if model.forecaster.is_baseline else "catboost",
        run_id=str(model.run_id),
        trained_at=model.trained_at,
        loaded_at=served.loaded_at,
        unit=str(model.unit),
        feature_names=list(model.feature_names),
        metrics=_metrics(model.metrics),
        registry_reachable=slot.registry_reachable,
        last_error=slot.last_error,
    )
