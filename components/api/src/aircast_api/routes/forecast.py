"""Forecasts from caller-supplied history: one location, or up to 1,000 in one call."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from aircast_api import metrics, problems
from aircast_api.bodies import documented, json_body, request_body
from aircast_api.deps import (
    CoalescerDep,
    LifecycleDep,
    SettingsDep,
    require_api_key,
    served_model,
)
from aircast_api.forecasting import (
    HorizonRange,
    UnforecastableError,
    forecast_histories,
    history_windows,
    spec_of,
)
from aircast_api.models import BatchForecast, BatchRequest, Forecast, ForecastRequest
from aircast_api.problems import ProblemError
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
    lifecycle: LifecycleDep,
    settings: SettingsDep,
    coalescer: CoalescerDep,
) -> Response:
    """Forecast one location from the recent hourly history in the body (no database).

    The issue time is the hour of the newest non-null target value.
    """
    served = served_model(lifecycle, body.parameter)
    try:
        results, windows, _ = history_windows(
            spec_of(served), [body], settings.api_min_recent_hours
        )
    except UnforecastableError as error:
        raise ProblemError(409, "history-too-short", "History too short", str(error)) from error
    if windows is None:
        raise ProblemError(409, "history-too-short", "History too short", str(results[0]))
    # On the event loop: one location is ~2 ms of CPU, less than a thread hand-off and the
    # GIL switches it brings under load; merged with concurrent forecasts ready in the same
    # loop turn (aircast_api.coalesce). Batches go to a worker thread.
    (result,) = await coalescer.forecast(
        served, body.parameter, windows, HorizonRange.parse(body.horizons)
    )
    metrics.PREDICTIONS.labels(parameter=body.parameter, route="history").inc()
    return json_response(result)


@router.post(
    "/forecast:batch",
    response_model=BatchForecast,
    responses={**_BODY_ERRORS, **problems.responses(409)},
    openapi_extra=request_body(documented(BatchRequest)),
)
async def forecast_batch(
    body: Annotated[BatchRequest, Depends(json_body(BatchRequest))],
    lifecycle: LifecycleDep,
    settings: SettingsDep,
) -> Response:
    """Forecast up to 1,000 locations from their histories with one vectorised predict.

    A location whose history is too short gets ``forecast: null`` and an ``error``; the others
    are still forecast. A series outside the supported time span fails the call with 409.
    """
    served = served_model(lifecycle, body.parameter)
    if len(body.locations) > settings.api_max_batch:
        raise ProblemError(
            413,
            "batch-too-large",
            "Batch too large",
            f"At most {settings.api_max_batch} locations per call; split the batch.",
        )
    try:
        results = await asyncio.to_thread(
            forecast_histories,
            served,
            body.parameter,
            body.locations,
            HorizonRange.parse(body.horizons),
            settings.api_min_recent_hours,
        )
    except UnforecastableError as error:
        raise ProblemError(409, "history-unusable", "History unusable", str(error)) from error
    items = [
        {
            "index": index,
            "location_id": location.location_id,
            "forecast": result if isinstance(result, dict) else None,
            "error": result if isinstance(result, str) else None,
        }
        for index, (location, result) in enumerate(zip(body.locations, results, strict=True))
    ]
    served_count = sum(1 for item in items if item["forecast"] is not None)
    metrics.PREDICTIONS.labels(parameter=body.parameter, route="batch").inc(served_count)
    return json_response(
        {"parameter": body.parameter, "model_version": served.version, "items": items}
    )
