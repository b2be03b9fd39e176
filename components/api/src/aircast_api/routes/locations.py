"""Stored locations, and forecasts for them from the history in the database."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import orjson
import psycopg
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from psycopg_pool import PoolTimeout

from aircast.features import history_hours
from aircast_api import archive, metrics, problems
from aircast_api.deps import (
    CacheDep,
    CoalescerDep,
    LifecycleDep,
    ReaderDep,
    SettingsDep,
    require_api_key,
    served_model,
)
from aircast_api.forecasting import HorizonRange, UnforecastableError, spec_of, stored_windows
from aircast_api.history import StoredLocation
from aircast_api.models import (
    Forecast,
    Horizons,
    Latest,
    LocationOut,
    LocationPage,
    Parameter,
)
from aircast_api.problems import ProblemError

router = APIRouter(prefix="/v1", tags=["locations"], dependencies=[Depends(require_api_key)])
T = TypeVar("T")
LocationId = Annotated[int, Path(ge=1, le=2**62, description="OpenAQ location id.")]


async def _read(read: Awaitable[T]) -> T:
    """Await a store read; a database outage becomes a 503."""
    try:
        return await read
    except (psycopg.OperationalError, PoolTimeout) as error:
        raise ProblemError(
            503,
            "database-unavailable",
            "Database unavailable",
            "The aircast database cannot be reached; retry later.",
            headers={"Retry-After": "5"},
        ) from error


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
    reader: ReaderDep,
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
    rows = await _read(reader.page(parameter, after, limit + 1))
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
            )
            for row in rows
        ],
        next_cursor=str(rows[-1].location_id) if more and rows else None,
    )


@router.get(
    "/locations/{location_id}/forecast",
    response_model=Forecast,
    responses=problems.responses(401, 404, 409, 422, 503),
)
async def forecast_location(
    location_id: LocationId,
    lifecycle: LifecycleDep,
    reader: ReaderDep,
    settings: SettingsDep,
    cache: CacheDep,
    coalescer: CoalescerDep,
    parameter: Annotated[Parameter, Query()] = "pm25",
    horizons: Annotated[Horizons, Query()] = "1..24",
) -> Response:
    """Forecast a stored location from its newest history in the database.

    The issue time is the hour of the newest stored ``parameter`` value; only
    ``history_hours(spec)`` hours before it are read. When the forecast archive holds this
    issue time for the served model version (``issue_forecasts`` ran since the newest
    measurement), that forecast is served: the same document, without a predict. The
    rendered forecast is reused for the same model version and newest measurement for up to
    ``AIRCAST_API_FORECAST_CACHE_SECONDS``.
    """
    served = served_model(lifecycle, parameter)
    spec = spec_of(served)
    wanted = HorizonRange.parse(horizons)

    def key(location: StoredLocation) -> tuple[Any, ...]:
        return (parameter, location_id, served.version, location.latest_datetime, wanted)

    async with coalescer.reading():
        location, series, body = await _read(
            reader.forecast_input(
                location_id,
                parameter,
                spec.parameters,
                history_hours(spec),
                lambda found: cache.get(key(found)),
            )
        )
    if location is None:
        raise ProblemError(
            404,
            "location-not-found",
            "Unknown location",
            f"No stored location {location_id} measures {parameter}; see GET /v1/locations.",
        )
    if location.latest_datetime is None:
        raise ProblemError(
            409,
            "history-too-short",
            "History too short",
            f"Location {location_id} has no {parameter} measurements yet.",
        )
    if body is None:
        # The archive's forecast of this issue time by this model version, when
        # issue_forecasts has issued it: the same document, without a predict.
        archived = await _read(
            archive.archived_document(
                reader,
                location_id,
                parameter,
                str(served.model.unit),
                served.version,
                location.latest_datetime,
                wanted,
            )
        )
        if archived is not None:
            document = archived
            metrics.FORECAST_SOURCE.labels(parameter=parameter, source="archive").inc()
        else:
            try:
                windows = stored_windows(served, location, series, settings.api_min_recent_hours)
            except UnforecastableError as error:
                raise ProblemError(
                    409, "history-too-short", "History too short", str(error)
                ) from error
            # On the event loop (one location is ~2 ms of CPU), merged with the forecasts of
            # concurrent requests still reading their history (aircast_api.coalesce).
            (document,) = await coalescer.forecast(served, parameter, windows, wanted)
            metrics.FORECAST_SOURCE.labels(parameter=parameter, source="computed").inc()
        body = orjson.dumps(document)
        cache.put(key(location), body)
    metrics.PREDICTIONS.labels(parameter=parameter, route="stored").inc()
    return Response(body, media_type="application/json")
