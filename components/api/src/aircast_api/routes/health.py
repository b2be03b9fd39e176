"""Liveness and readiness probes."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from aircast_api import problems
from aircast_api.deps import LifecycleDep, ReaderDep, require_api_key_unless_open
from aircast_api.forecasting import stale_seconds
from aircast_api.models import DatabaseStatus, Health, ModelStatus, Readiness
from aircast_api.rendering import json_response

router = APIRouter(tags=["health"], dependencies=[Depends(require_api_key_unless_open)])


@router.get("/healthz", response_model=Health, responses=problems.responses(401))
async def healthz() -> Health:
    """Liveness: the process answers. Never touches the database or MLflow."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "Not ready: no model loaded or DB unreachable."},
        **problems.responses(401),
    },
)
async def readyz(lifecycle: LifecycleDep, reader: ReaderDep) -> Response:
    """Readiness: every served parameter has a model and the database answers.

    A model kept after a failed reload still counts as ready; ``registry_reachable`` and
    ``last_error`` say that MLflow or S3 is failing.
    """
    reachable = await reader.reachable()
    now = datetime.now(UTC)
    statuses = [
        ModelStatus(
            parameter=slot.parameter,
            loaded=slot.served is not None,
            version=slot.served.version if slot.served else None,
            age_seconds=stale_seconds(slot.served, now) if slot.served else None,
            loaded_at=slot.served.loaded_at if slot.served else None,
            registry_reachable=slot.registry_reachable,
            last_error=slot.last_error,
        )
        for slot in lifecycle.slots.values()
    ]
    ready = reachable and all(status.loaded for status in statuses)
    body = Readiness(
        status="ready" if ready else "not_ready",
        database=DatabaseStatus(configured=True, reachable=reachable),
        models=statuses,
    )
    return json_response(body.model_dump(mode="json"), status_code=200 if ready else 503)
