"""The current AQI of a stored location: the EPA NowCast of its last 12 stored hours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from aircast import aqi
from aircast_api import problems
from aircast_api.air_quality import (
    AqiParameter,
    NowCast,
    NowCastUnavailableError,
    stored_nowcast,
)
from aircast_api.deps import ReaderDep, require_api_key
from aircast_api.problems import ProblemError
from aircast_api.routes.locations import LocationId
from aircast_api.routes.locations import _read as read_store  # a DB outage becomes 503

router = APIRouter(prefix="/v1", tags=["locations"], dependencies=[Depends(require_api_key)])


@router.get(
    "/locations/{location_id}/nowcast",
    response_model=NowCast,
    responses={
        **problems.responses(401, 404, 422, 503),
        409: {
            "description": "Too few recent hours for a NowCast: fewer than 2 of the 3 hours up "
            "to the newest stored value have one (type `nowcast-unavailable`).",
            "content": {
                problems.PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        },
    },
)
async def nowcast_location(
    location_id: LocationId,
    reader: ReaderDep,
    parameter: Annotated[
        AqiParameter, Query(description="pm25 or pm10: the pollutants with a NowCast.")
    ] = AqiParameter.PM25,
) -> NowCast:
    """The current US EPA AQI of a stored location: the NowCast of its last 12 hours.

    The NowCast is taken at the hour of the location's newest stored `parameter` value
    (`time` in the response; compare it with the clock to judge how current it is) over the
    12 hours up to it, and is valid only when 2 of the 3 newest of them have a value; otherwise
    the answer is 409 `nowcast-unavailable`. No model is involved: the NowCast needs only the
    database.
    """
    name = parameter.value
    location, series, _ = await read_store(
        reader.forecast_input(location_id, name, (name,), aqi.NOWCAST_HOURS)
    )
    if location is None:
        raise ProblemError(
            404,
            "location-not-found",
            "Unknown location",
            f"No stored location {location_id} measures {name}; see GET /v1/locations.",
        )
    if location.latest_datetime is None or name not in series:
        raise ProblemError(
            409,
            "nowcast-unavailable",
            "NowCast unavailable",
            f"Location {location_id} has no {name} measurements yet.",
        )
    hours, values = series[name]
    try:
        return stored_nowcast(location_id, name, location.latest_datetime, hours, values)
    except NowCastUnavailableError as error:
        raise ProblemError(409, "nowcast-unavailable", "NowCast unavailable", str(error)) from error
