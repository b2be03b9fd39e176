"""The Open-Meteo client against the local compatible server: shapes, retries, faults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aircast.settings import WeatherSettings
from aircast.weather.client import HOURLY, OpenMeteoClient, OpenMeteoError, Point
from aircast_dev.openmeteo_server import LocalOpenMeteoServer, WeatherFault, truth
from tests.weather.conftest import NOW, client_settings

POINTS = [Point(1, 39.93, 116.42), Point(2, 48.85, 2.35)]


def test_forecast_has_every_variable_for_each_location_from_the_current_hour(
    settings: WeatherSettings, server: LocalOpenMeteoServer
) -> None:
    with OpenMeteoClient(settings) as client:
        frame = client.forecast(POINTS, hours=48)
    assert list(frame.columns) == ["location_id", "target_time", *HOURLY]
    assert frame.groupby("location_id").size().to_dict() == {1: 48, 2: 48}
    first = frame.groupby("location_id")["target_time"].min()
    assert (first == NOW.floor("h")).all()
    assert frame[list(HOURLY)].notna().all().all()
    # the two locations are asked in one request and get different weather
    assert len(server.requests) == 1
    a, b = (frame[frame["location_id"] == i]["temperature_2m"].to_numpy() for i in (1, 2))
    assert not np.allclose(a, b)


def test_reanalysis_is_the_servers_truth_and_previous_runs_differ_from_it(
    settings: WeatherSettings,
) -> None:
    with OpenMeteoClient(settings) as client:
        observed = client.reanalysis(POINTS[:1], "2025-02-01", "2025-02-02")
        previous = client.previous_runs(POINTS[:1], "2025-02-01", "2025-02-02", days=(1, 2))
    times = pd.DatetimeIndex(observed["target_time"])
    expected = truth(POINTS[0].latitude, POINTS[0].longitude, times)["temperature_2m"]
    assert len(observed) == 48
    np.testing.assert_allclose(observed["temperature_2m"], expected, atol=0.01)
    assert sorted(previous["previous_day"].unique()) == [1, 2]
    day1 = previous[previous["previous_day"] == 1]["temperature_2m"].to_numpy()
    day2 = previous[previous["previous_day"] == 2]["temperature_2m"].to_numpy()
    err1 = np.abs(day1 - expected).mean()
    err2 = np.abs(day2 - expected).mean()
    # forecast error grows with lead time in the server's error model
    assert 0 < err1 < err2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limit_and_server_errors_are_retried(
    settings: WeatherSettings, server: LocalOpenMeteoServer, status: int
) -> None:
    server.inject(WeatherFault("status", status=status, times=2))
    with OpenMeteoClient(settings) as client:
        frame = client.forecast(POINTS[:1], hours=6)
        stats = client.stats
    assert len(frame) == 6
    assert [r.status for r in server.requests] == [status, status, 200]
    if status == 429:
        assert stats.rate_limited == 2
    else:
        assert stats.retries == 2


def test_a_timeout_is_retried(server: LocalOpenMeteoServer) -> None:
    settings = client_settings(server, weather_timeout=0.3)
    server.inject(WeatherFault("slow", delay=1.0, times=1))
    with OpenMeteoClient(settings) as client:
        frame = client.forecast(POINTS[:1], hours=3)
        assert client.stats.retries == 1
    assert len(frame) == 3


def test_a_dropped_connection_is_retried(
    settings: WeatherSettings, server: LocalOpenMeteoServer
) -> None:
    server.inject(WeatherFault("drop", times=1))
    with OpenMeteoClient(settings) as client:
        frame = client.forecast(POINTS[:1], hours=3)
    assert len(frame) == 3


def test_a_variable_the_model_lacks_is_missing_not_fatal(
    settings: WeatherSettings, server: LocalOpenMeteoServer
) -> None:
    server.inject(WeatherFault("missing", variable="boundary_layer_height", times=1))
    with OpenMeteoClient(settings) as client:
        frame = client.forecast(POINTS, hours=4)
        missing = client.stats.missing_variables
    assert missing == {"boundary_layer_height"}
    assert frame["boundary_layer_height"].isna().all()
    assert frame["temperature_2m"].notna().all()


def test_retries_give_up_with_a_clear_error(server: LocalOpenMeteoServer) -> None:
    settings = client_settings(server, weather_max_retries=2)
    server.inject(WeatherFault("status", status=502, times=None))
    with OpenMeteoClient(settings) as client, pytest.raises(OpenMeteoError, match="3 attempts"):
        client.forecast(POINTS[:1], hours=3)
    assert len(server.requests) == 3


def test_a_bad_request_names_the_servers_reason(settings: WeatherSettings) -> None:
    with (
        OpenMeteoClient(settings) as client,
        pytest.raises(OpenMeteoError, match="invalid String value not_a_variable") as info,
    ):
        client.forecast(POINTS[:1], hours=3, hourly=("temperature_2m", "not_a_variable"))
    assert info.value.status == 400


def test_client_paces_itself_within_the_budget(server: LocalOpenMeteoServer) -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    settings = client_settings(server, weather_requests_per_minute=2, weather_batch_locations=1)
    with OpenMeteoClient(settings, sleep=sleep, clock=lambda: clock[0]) as client:
        client.forecast([*POINTS, Point(3, 10.0, 10.0)], hours=2)
    # the third request waited for the first to leave the 60 s window
    assert len(server.requests) == 3
    assert slept == [pytest.approx(60.0)]
