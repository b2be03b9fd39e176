"""Drive the live API with the client openapi-python-client generated from the contract.

Run by ``test_generated_client.py`` with the Python of a scratch venv holding only the
generated package ``aircast_api_client`` (and its own dependencies): nothing of aircast is
importable here. Prints one JSON object: for each step, what the typed client returned. The
test asserts on it. Each step is one function in ``STEPS``; a new route is one more.

    python generated_client_steps.py '{"url": ..., "key": ..., "location_id": ..., ...}'
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any

from aircast_api_client import AuthenticatedClient
from aircast_api_client.api.forecast import forecast, forecast_batch
from aircast_api_client.api.locations import forecast_location, list_locations, nowcast_location
from aircast_api_client.models import (
    BatchForecast,
    BatchRequest,
    Forecast,
    ForecastRequest,
    LocationHistory,
    LocationPage,
    NowCast,
    Problem,
    Series,
    SeriesParameter,
)

Step = Callable[[AuthenticatedClient, dict[str, Any]], dict[str, Any]]


def _horizons(result: Forecast) -> list[dict[str, Any]]:
    rows = []
    for row in result.forecasts:
        aqi = row.aqi
        rows.append(
            {
                "horizon": row.horizon,
                "point": row.point,
                "p10": row.p10,
                "p90": row.p90,
                # typed all the way down: HourlyAqi -> AqiReading -> AqiCategory (an enum)
                "basis": aqi.basis if aqi else None,
                "aqi": {
                    key: {"aqi": reading.aqi, "category": reading.category.value}
                    for key, reading in (("point", aqi.point), ("p10", aqi.p10), ("p90", aqi.p90))
                    if reading is not None
                }
                if aqi
                else None,
            }
        )
    return rows


def _history(args: dict[str, Any], values: list[float | None]) -> list[Series]:
    end = dt.datetime.fromisoformat(args["end"])
    return [Series(parameter=SeriesParameter.PM25, end=end, values=values)]


def step_list_locations(client: AuthenticatedClient, args: dict[str, Any]) -> dict[str, Any]:
    ids: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = list_locations.sync(client=client, limit=2, cursor=cursor)
        assert isinstance(page, LocationPage), page
        ids += [item.location_id for item in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return {"type": "LocationPage", "ids": ids, "pages": pages}


def step_stored_forecast(client: AuthenticatedClient, args: dict[str, Any]) -> dict[str, Any]:
    result = forecast_location.sync(location_id=args["location_id"], client=client, horizons="1..6")
    assert isinstance(result, Forecast), result
    return {
        "type": type(result).__name__,
        "location_id": result.location_id,
        "issue_time": result.issue_time.isoformat(),
        "horizons": _horizons(result),
    }


def step_history_forecast(client: AuthenticatedClient, args: dict[str, Any]) -> dict[str, Any]:
    body = ForecastRequest(
        location_id=42,
        timezone="Europe/Paris",
        latitude=48.85,
        longitude=2.35,
        history=_history(args, args["values"]),
        horizons="1..3",
    )
    result = forecast.sync(client=client, body=body)
    assert isinstance(result, Forecast), result
    return {
        "type": type(result).__name__,
        "location_id": result.location_id,
        "issue_time": result.issue_time.isoformat(),
        "horizons": _horizons(result),
    }


def step_batch(client: AuthenticatedClient, args: dict[str, Any]) -> dict[str, Any]:
    body = BatchRequest(
        horizons="1..2",
        locations=[
            LocationHistory(
                location_id=1, timezone="Asia/Kolkata", history=_history(args, args["values"])
            ),
            LocationHistory(location_id=2, history=_history(args, args["values"][-3:])),
        ],
    )
    result = forecast_batch.sync(client=client, body=body)
    assert isinstance(result, BatchForecast), result
    return {
        "type": type(result).__name__,
        "items": [
            {
                "index": item.index,
                "location_id": item.location_id,
                "forecast": item.forecast is not None,
                "error": item.error,
            }
            for item in result.items
        ],
    }


def step_nowcast(client: AuthenticatedClient, args: dict[str, Any]) -> dict[str, Any]:
    result = nowcast_location.sync(location_id=args["location_id"], client=client)
    assert isinstance(result, NowCast), result
    return {
        "type": type(result).__name__,
        "location_id": result.location_id,
        "time": result.time.isoformat(),
        "hours": result.hours,
        "concentration": result.concentration,
        "aqi": result.aqi,
        "category": result.category.value,
    }


def step_errors(client: AuthenticatedClient, args: dict[str, Any]) -> dict[str, Any]:
    body = ForecastRequest(timezone="Mars/Olympus_Mons", history=_history(args, args["values"]))
    invalid = forecast.sync(client=client, body=body)
    unknown = nowcast_location.sync(location_id=args["unknown_location_id"], client=client)
    assert isinstance(invalid, Problem), invalid
    assert isinstance(unknown, Problem), unknown
    return {
        "invalid": {
            "type": invalid.type_,
            "status": invalid.status,
            "names": [param.name for param in invalid.invalid_params or []],
        },
        "unknown": {"type": unknown.type_, "status": unknown.status},
    }


# GET /v1/verification is not in the contract yet; when it is, its step goes here.
STEPS: dict[str, Step] = {
    "list_locations": step_list_locations,
    "stored_forecast": step_stored_forecast,
    "history_forecast": step_history_forecast,
    "batch": step_batch,
    "nowcast": step_nowcast,
    "errors": step_errors,
}


def main() -> None:
    args = json.loads(sys.argv[1])
    client = AuthenticatedClient(
        base_url=args["url"], token=args["key"], prefix="", auth_header_name="X-API-Key"
    )
    with client:
        print(json.dumps({name: step(client, args) for name, step in STEPS.items()}))


if __name__ == "__main__":
    main()
