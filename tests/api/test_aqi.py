"""The AQI in the API: forecast horizons' hourly-equivalent AQI, the NowCast route, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aircast.aqi import reading
from aircast_api.air_quality import NowCastUnavailableError, stored_nowcast

from .conftest import history_body
from .test_errors import assert_problem

NEWEST = datetime(2024, 3, 1, 12, tzinfo=UTC)
NEWEST_HOUR = int(NEWEST.timestamp()) // 3600


def _assert_hourly_aqi(rows: list[dict], parameter: str = "pm25") -> None:  # type: ignore[type-arg]
    for row in rows:
        assert row["aqi"]["basis"] == "hourly_equivalent"
        for key in ("point", "p10", "p90"):
            expected = reading(row[key], parameter)
            assert expected is not None
            assert row["aqi"][key] == {"aqi": expected.aqi, "category": expected.category.value}


def test_forecast_horizons_carry_their_hourly_equivalent_aqi(client: TestClient) -> None:
    response = client.post("/v1/forecast", json=history_body(horizons="1..24"))
    assert response.status_code == 200, response.text
    rows = response.json()["forecasts"]
    assert len(rows) == 24
    _assert_hourly_aqi(rows)


def test_batch_horizons_carry_their_aqi(client: TestClient) -> None:
    body = {"horizons": "1..3", "locations": [history_body(), history_body(location_id=2)]}
    response = client.post("/v1/forecast:batch", json=body)
    assert response.status_code == 200, response.text
    for item in response.json()["items"]:
        _assert_hourly_aqi(item["forecast"]["forecasts"])


def test_an_unknown_time_zone_is_named_in_a_batch(client: TestClient) -> None:
    body = {"locations": [history_body(), history_body(timezone="Europe/Atlantis")]}
    problem = assert_problem(client.post("/v1/forecast:batch", json=body), 422, "validation-error")
    (param,) = problem["invalid_params"]
    assert param["name"] == "body.locations.1.timezone"
    assert "IANA time zone" in param["reason"]


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+5", "Etc/GMT-14", "America/Argentina/Salta"])
def test_any_tz_database_zone_is_accepted(client: TestClient, zone: str) -> None:
    # the names that collided as enum members (GMT0, GMT+0, GMT-0, Etc/GMT±n) stay valid
    response = client.post("/v1/forecast", json=history_body(timezone=zone))
    assert response.status_code == 200, response.text


def test_a_time_zone_must_be_a_string(client: TestClient) -> None:
    problem = assert_problem(
        client.post("/v1/forecast", json=history_body(timezone=3600)), 422, "validation-error"
    )
    assert [param["name"] for param in problem["invalid_params"]] == ["body.timezone"]


# ---------------------------------------------------------------- NowCast route


def test_nowcast_without_the_database_is_503(client: TestClient) -> None:
    response = client.get("/v1/locations/1/nowcast")
    assert_problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"] == "5"


@pytest.mark.parametrize(
    ("query", "name"),
    [("parameter=no2", "query.parameter"), ("parameter=pm1", "query.parameter")],
)
def test_nowcast_is_for_particulate_matter_only(client: TestClient, query: str, name: str) -> None:
    response = client.get(f"/v1/locations/1/nowcast?{query}")
    problem = assert_problem(response, 422, "validation-error")
    assert [param["name"] for param in problem["invalid_params"]] == [name]


def test_nowcast_location_id_is_checked(client: TestClient) -> None:
    problem = assert_problem(client.get("/v1/locations/0/nowcast"), 422, "validation-error")
    assert [param["name"] for param in problem["invalid_params"]] == ["path.location_id"]


# ---------------------------------------------------------------- NowCast of stored hours


def _series(
    newest_first: list[float | None], without: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The reader's arrays (oldest first; NULL as NaN); hours ``without`` have no row at all."""
    rows = [(NEWEST_HOUR - ago, v) for ago, v in enumerate(newest_first) if ago not in without]
    rows.reverse()
    hours = np.asarray([hour for hour, _ in rows], dtype=np.int64)
    values = np.asarray([np.nan if v is None else v for _, v in rows], dtype=np.float64)
    return hours, values


def test_stored_nowcast_is_the_epa_nowcast_at_the_newest_hour() -> None:
    # AirNow's worked example, newest first: NowCast 17.4 µg/m³, AQI 66 (2024 table)
    newest_first = [13.0, 16.0, 10.0, 21.0, 74.0, 64.0, 53.0, 82.0, 90.0, 75.0, 80.0, 50.0]
    got = stored_nowcast(7, "pm25", NEWEST, *_series(newest_first))
    assert got.model_dump() == {
        "location_id": 7,
        "parameter": "pm25",
        "unit": "µg/m³",
        "time": NEWEST,
        "hours": 12,
        "concentration": 17.4,
        "aqi": 66,
        "category": "Moderate",
    }


def test_stored_nowcast_counts_and_skips_missing_hours() -> None:
    # NULL values and hours without a row are both missing; the 2-of-3 rule still holds
    got = stored_nowcast(7, "pm25", NEWEST, *_series([20.0, None, 10.0, 0.0, 5.0], without=(3,)))
    assert got.hours == 3
    # w = 5 / 20 -> 0.5; weights 1, 0.25, 0.0625
    assert got.concentration == int((20 + 0.25 * 10 + 0.0625 * 5) / 1.3125 * 10) / 10


def test_stored_nowcast_ignores_hours_outside_the_window() -> None:
    hours, values = _series([10.0] * 12)
    hours = np.concatenate([[NEWEST_HOUR - 12, NEWEST_HOUR - 30], hours])
    values = np.concatenate([[900.0, 900.0], values])
    assert stored_nowcast(7, "pm25", NEWEST, hours, values).concentration == 10.0


@pytest.mark.parametrize(
    "newest_first",
    [
        [30.0, None, None, 30.0, 30.0],
        [30.0],
        [30.0, None, None] + [30.0] * 9,
    ],
)
def test_stored_nowcast_needs_two_of_the_three_newest_hours(
    newest_first: list[float | None],
) -> None:
    with pytest.raises(NowCastUnavailableError, match="2 of the 3 hours") as error:
        stored_nowcast(7, "pm25", NEWEST, *_series(newest_first))
    assert "2024-03-01T12:00:00Z" in str(error.value)
    assert "1 of them" in str(error.value)


def test_stored_nowcast_pm10_and_beyond_the_aqi() -> None:
    pm10 = stored_nowcast(7, "pm10", NEWEST, *_series([154.9, 154.9, 154.9]))
    assert (pm10.parameter, pm10.concentration, pm10.aqi, pm10.category) == (
        "pm10",
        154.0,
        100,
        "Moderate",
    )
    smoke = stored_nowcast(7, "pm25", NEWEST, *_series([400.0, 400.0, 400.0]))
    assert (smoke.aqi, smoke.category, smoke.concentration) == (None, "Beyond the AQI", 400.0)
