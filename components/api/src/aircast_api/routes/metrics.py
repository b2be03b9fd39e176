"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from aircast_api import problems
from aircast_api.deps import require_api_key_unless_open

router = APIRouter(tags=["health"], dependencies=[Depends(require_api_key_unless_open)])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problems.responses(401),
    },
)
async def prometheus_metrics(request: Request) -> Response:
    """Request counts and latency per route, model version, predictions, reload failures,
    and the live verification of archived forecasts (``aircast_verification_*``)."""
    reader = getattr(request.app.state, "reader", None)
    if reader is not None:
        await request.app.state.verification_gauges.refresh(reader)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
