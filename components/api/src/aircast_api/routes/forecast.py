"""Forecasts from caller-supplied history: one location, or up to 1,000 in one call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from aircast_api import problems
from aircast_api.bodies import documented, json_body, request_body
from aircast_api.deps import ServiceDep, require_api_key
from aircast_api.models import BatchForecast, BatchRequest, Forecast, ForecastRequest
from aircast_api.rendering import json_response

router = APIRouter(prefix="/v1", tags=["forecast"], dependencies=[Depends(require_api_key)])

_BODY_ERRORS = problems.responses(400, 401, 404, 413, 422, 503)


@router.post(
    "/forecast",
    response_model=Forecast,
    responses={**_BODY_ERRORS, **problems.responses(409)},
    openapi_extra=request_body(documented(ForecastRequest)),
)
async def forecast(
    body: Annotated[ForecastRequest, Depends(json_body(ForecastRequest))],
    service: ServiceDep,
) -> Response:
    """Forecast one location from the recent hourly history in the body (no database).

    The issue time is the hour of the newest non-null target value. Not checked for stale
    data (the caller chose it); ``data_age_hours`` reports its age.
    """
    return json_response(await service.from_history(body))


@router.post(
    "/forecast:batch",
    response_model=BatchForecast,
    responses={**_BODY_ERRORS, **problems.responses(409)},
    openapi_extra=request_body(documented(BatchRequest)),
)
async def forecast_batch(
    body: Annotated[BatchRequest, Depends(json_body(BatchRequest))],
    service: ServiceDep,
) -> Response:
    """Forecast up to 1,000 locations from their histories with one vectorised predict.

    A location whose history is too short gets ``forecast: null`` and an ``error``; the others
    are still forecast. A series outside the supported time span fails the call with 409.
    """
    return json_response(await service.batch(body))
