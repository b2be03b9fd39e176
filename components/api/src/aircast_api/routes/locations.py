"""Stored locations, and forecasts for them from the history in the database."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from aircast_api import problems
from aircast_api.deps import ServiceDep, require_api_key
from aircast_api.forecasting import HorizonRange
from aircast_api.models import (
    Forecast,
    Horizons,
    Latest,
    LocationOut,
    LocationPage,
    Parameter,
)

router = APIRouter(prefix="/v1", tags=["locations"], dependencies=[Depends(require_api_key)])
LocationId = Annotated[int, Path(ge=1, le=2**62, description="OpenAQ location id.")]


_LINKS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of locations.",
        "links": {
            "ForecastFirstLocation": {
                "operationId": "forecast_location",
                "parameters": {"location_id": "$response.body#/items/0/location_id"},
                "description": "Forecast the first location of this page.",
            },
            "NextPage": {
                "operationId": "list_locations",
                "parameters": {"cursor": "$response.body#/next_cursor"},
                "description": "The next page (when `next_cursor` is not null).",
            },
        },
    }
}


@router.get(
    "/locations",
    response_model=LocationPage,
    responses={**_LINKS, **problems.responses(401, 422, 503)},
)
async def list_locations(
    service: ServiceDep,
    parameter: Annotated[Parameter, Query(description="Only locations measuring it.")] = "pm25",
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 100,
    cursor: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}$",
            description="`next_cursor` of the previous page; omit for the first page.",
        ),
    ] = None,
) -> LocationPage:
    """Locations with a sensor of ``parameter``, with their newest measurement, by id."""
    after = int(cursor) if cursor is not None else None
    rows = await service.locations(parameter, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return LocationPage(
        items=[
            LocationOut(
                location_id=row.location_id,
                name=row.name,
                timezone=row.timezone,
                latitude=row.latitude,
                longitude=row.longitude,
                country=row.country,
                latest=(
                    Latest(datetime=row.latest_datetime, value=row.latest_value)
                    if row.latest_datetime is not None and row.latest_value is not None
                    else None
                ),
                newest_observation=row.latest_datetime,
            )
            for row in rows
        ],
        next_cursor=str(rows[-1].location_id) if more and rows else None,
    )


_STORED_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "No forecast from this location's data: too short a recent history "
        "(`history-too-short`), or a newest measurement older than "
        "`AIRCAST_API_MAX_DATA_AGE_HOURS` (`stale-data`, naming it).",
        "content": {
            problems.PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "examples": {
                    "stale-data": {
                        "summary": "The newest measurement is too old",
                        "value": {
                            "type": "https://aircast.dev/problems/stale-data",
                            "title": "Data too old to forecast",
                            "status": 409,
                            "detail": "The newest measurement of location 2178 is from "
                            "2025-06-01T12:00:00Z, 10.5 h ago; forecasts need one within 6 h "
                            "(AIRCAST_API_MAX_DATA_AGE_HOURS). Ingestion may be behind or the "
                            "station offline.",
                            "instance": "/v1/locations/2178/forecast",
                            "request_id": "4f1c2a9e8b7d6c5a",
                            "newest_observation": "2025-06-01T12:00:00Z",
                            "data_age_hours": 10.5,
                            "max_data_age_hours": 6.0,
                        },
                    },
                    "history-too-short": {
                        "summary": "Too few recent hours observed",
                        "value": {
                            "type": "https://aircast.dev/problems/history-too-short",
                            "title": "History too short",
                            "status": 409,
                            "detail": "history too short: at least 12 of the 24 hours up to "
                            "the newest pm25 value must be observed",
                            "instance": "/v1/locations/2178/forecast",
                            "request_id": "4f1c2a9e8b7d6c5a",
                        },
                    },
                },
            }
        },
    }
}


@router.get(
    "/locations/{location_id}/forecast",
    response_model=Forecast,
    responses={
        **problems.responses(401, 404),
        **_STORED_CONFLICT,
        **problems.responses(422, 503),
    },
)
async def forecast_location(
    location_id: LocationId,
    service: ServiceDep,
    parameter: Annotated[Parameter, Query()] = "pm25",
    horizons: Annotated[Horizons, Query()] = "1..24",
) -> Response:
    """Forecast a stored location from its newest history in the database.

    The issue time is the hour of the newest stored ``parameter`` value; only
    ``history_hours(spec)`` hours before it are read. A newest value older than
    ``AIRCAST_API_MAX_DATA_AGE_HOURS`` answers 409 ``stale-data``. The rendered forecast is
    reused for the same model version and newest measurement for up to
    ``AIRCAST_API_FORECAST_CACHE_SECONDS``.
    """
    body = await service.stored(location_id, parameter, HorizonRange.parse(horizons))
    return Response(body, media_type="application/json")
