"""Archived forecasts of a stored location, and their live verification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AfterValidator

from aircast_api import problems
from aircast_api.deps import ServiceDep, require_api_key
from aircast_api.models import ArchivedForecastPage, Parameter, Timestamp, VerificationPage
from aircast_api.rendering import json_response

router = APIRouter(prefix="/v1", tags=["verification"], dependencies=[Depends(require_api_key)])

LocationId = Annotated[int, Path(ge=1, le=2**62, description="OpenAQ location id.")]
_EARLIEST = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _in_range(value: dt.datetime) -> dt.datetime:
    # Any RFC 3339 time is a valid bound; the archive holds nothing outside these years, and
    # clamping keeps far-off years (where a UTC conversion could overflow) out of the query.
    if value.year < _EARLIEST.year + 1:
        return _EARLIEST
    if value.year >= _LATEST.year - 1:
        return _LATEST
    return value


# RFC 3339 text only (pydantic alone would also take epoch numbers), then clamped.
IssueBound = Annotated[Timestamp, AfterValidator(_in_range)]

_ARCHIVE_EXAMPLE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of archived forecasts, oldest issue first.",
        "links": {
            "NextArchivePage": {
                "operationId": "list_archived_forecasts",
                "parameters": {
                    "location_id": "$request.path.location_id",
                    "cursor": "$response.body#/next_cursor",
                },
                "description": "The next page (when `next_cursor` is not null).",
            },
        },
    }
}


@router.get(
    "/locations/{location_id}/forecasts",
    response_model=ArchivedForecastPage,
    responses={**_ARCHIVE_EXAMPLE, **problems.responses(401, 422, 503)},
)
async def list_archived_forecasts(
    location_id: LocationId,
    service: ServiceDep,
    parameter: Annotated[Parameter, Query()] = "pm25",
    issued_since: Annotated[
        IssueBound | None,
        Query(
            description="Only forecasts issued at or after this time (RFC 3339 with offset).",
            examples=["2026-12-01T00:00:00Z"],
        ),
    ] = None,
    issued_until: Annotated[
        IssueBound | None,
        Query(
            description="Only forecasts issued at or before this time (RFC 3339 with offset).",
            examples=["2026-12-02T00:00:00Z"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Issues per page.")] = 24,
    cursor: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,7}\.[0-9]{1,9}$",
            description="`next_cursor` of the previous page; omit for the first page.",
        ),
    ] = None,
) -> Response:
    """Past forecasts of a stored location, as issued by the archive (`issue_forecasts`).

    Each item is the forecast document the stored-location route served (or would have) at
    its issue time, with the model version that issued it. An unknown location, or one
    without archived forecasts, gives an empty page.
    """
    page = await service.archived_forecasts(
        location_id,
        parameter,
        issued_since=issued_since,
        issued_until=issued_until,
        cursor=cursor,
        limit=limit,
    )
    return json_response(page)


@router.get(
    "/verification",
    response_model=VerificationPage,
    responses=problems.responses(401, 422, 503),
)
async def get_verification(
    service: ServiceDep,
    parameter: Annotated[Parameter, Query()] = "pm25",
    location_id: Annotated[
        int | None, Query(ge=1, le=2**62, description="Only this location.")
    ] = None,
    horizon: Annotated[int | None, Query(ge=1, le=24, description="Only this horizon.")] = None,
    window: Annotated[
        Literal["24h", "7d", "30d"] | None,
        Query(description="Only this rolling window (default: all three)."),
    ] = None,
    model_version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only this model version.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Locations per page.")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}$",
            description="`next_cursor` of the previous page; omit for the first page.",
        ),
    ] = None,
) -> Response:
    """How good the archived forecasts were: MAE, bias, RMSE, p10-p90 coverage and skill
    against persistence, per location, model version, horizon and rolling window.

    Windows end at the newest scored target time. Within one location and model version,
    every horizon is scored on the same target times (`pairs`).
    """
    page = await service.verification(
        parameter,
        location_id=location_id,
        horizon=horizon,
        window=window,
        model_version=model_version,
        cursor=cursor,
        limit=limit,
    )
    return json_response(page)
