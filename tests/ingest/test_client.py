"""The OpenAQ client against the local OpenAQ-compatible server (no database needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from aircast.openaq.client import OpenAQAuthError, OpenAQClient, OpenAQError, OpenAQNotFoundError
from aircast.settings import OpenAQSettings
from aircast_dev.openaq_server import DEFAULT_API_KEY, Fault, LocalOpenAQServer
from aircast_dev.synthetic import MeasurementSet

from .conftest import END, client_settings


def _hours(client: OpenAQClient, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    sensor = client.location(900_001).sensors[0]
    return pd.concat(list(client.hours(sensor, since, until)), ignore_index=True)


def test_discovery_by_ids_coordinates_bbox_and_country(
    server: LocalOpenAQServer, settings: OpenAQSettings
) -> None:
    with OpenAQClient(settings) as client:
        by_ids = client.locations(ids=[900_002])
        near = client.locations(coordinates=(47.52, 8.5), radius=1_000)
        # Longitude first finds nothing: OpenAQ reads coordinates as latitude,longitude.
        swapped = client.get("locations", {"coordinates": "8.5,47.52", "radius": 1000})
        box = client.locations(bbox=(8.4, 47.4, 8.6, 47.6), parameter_ids=[2])
        country = client.locations(iso="xs", monitor=True)
        sensors = client.sensors(900_002)
    assert [loc.location_id for loc in by_ids] == [900_002]
    assert [loc.location_id for loc in near] == [900_001]
    assert swapped["results"] == []
    assert [loc.location_id for loc in box] == [900_001, 900_002]
    assert len(country) == 2
    loc = by_ids[0]
    assert loc.is_synthetic
    assert "Synthetic" in (loc.attribution or "")
    assert loc.provider
    assert loc.owner
    assert loc.license
    assert {s.parameter for s in loc.sensors} == {"pm25", "temperature", "relativehumidity"}
    assert sensors == list(loc.sensors)  # /locations/{id}/sensors agrees with the location


def test_hours_pages_until_a_short_page_with_openaq_window_semantics(
    server: LocalOpenAQServer,
) -> None:
    since, until = END - pd.Timedelta(hours=250), END
    with OpenAQClient(client_settings(server, openaq_page_limit=100)) as client:
        frame = _hours(client, since, until)
    hours_requests = [r for r in server.requests if r.path.endswith("/hours")]
    # 250 hours minus gaps: three pages, the last one short; never a fourth request.
    assert [r.query["page"] for r in hours_requests] == ["1", "2", "3"]
    assert frame["datetime"].min() > since  # datetime_from is exclusive
    assert frame["datetime"].max() <= until  # datetime_to is inclusive
    assert frame["datetime"].is_monotonic_increasing
    assert frame["source"].eq("openaq-api").all()
    assert frame["coverage_count"].eq(1).all()


def test_errors_name_the_cause(server: LocalOpenAQServer) -> None:
    with (
        OpenAQClient(client_settings(server, openaq_api_key=None)) as anonymous,
        pytest.raises(OpenAQAuthError, match="OPENAQ_API_KEY") as missing,
    ):
        anonymous.location(900_001)
    assert missing.value.status == 401
    with OpenAQClient(client_settings(server)) as client:
        with pytest.raises(OpenAQNotFoundError, match="404"):
            client.location(123)
        with pytest.raises(OpenAQError, match="422") as invalid:
            client.get("locations", {"bbox": "1,2,3,4", "coordinates": "1,2", "radius": 5})
        assert "bbox" in str(invalid.value)
    v2 = server.url.replace("/v3", "/v2")
    with (
        OpenAQClient(client_settings(server, openaq_base_url=v2)) as old,
        pytest.raises(OpenAQError, match="410"),
    ):
        old.get("locations")


@pytest.mark.parametrize("kind", ["status", "malformed", "truncate", "drop", "slow"])
def test_transient_faults_are_retried_and_lose_nothing(dataset: MeasurementSet, kind: str) -> None:
    since, until = END - pd.Timedelta(hours=300), END
    with (
        LocalOpenAQServer(dataset) as clean_server,
        OpenAQClient(client_settings(clean_server, openaq_page_limit=100)) as client,
    ):
        expected = _hours(client, since, until)
    with LocalOpenAQServer(dataset) as server:
        server.inject(Fault(kind, path="/hours$", page=2, times=2, delay=1.0))
        settings = client_settings(server, openaq_page_limit=100, openaq_timeout=0.5)
        with OpenAQClient(settings) as client:
            got = _hours(client, since, until)
            retries = client.stats.retries
    pd.testing.assert_frame_equal(got, expected)
    assert retries == 2
    assert sum(1 for r in server.requests if r.query.get("page") == "2") == 3


def test_a_persistent_fault_fails_after_the_retry_budget(server: LocalOpenAQServer) -> None:
    server.inject(Fault("status", status=502, path="/hours$", times=None))
    with (
        OpenAQClient(client_settings(server, openaq_max_retries=3)) as client,
        pytest.raises(OpenAQError, match="after 4 attempts"),
    ):
        _hours(client, END - pd.Timedelta(hours=10), END)


def test_a_429_waits_for_the_reset_and_succeeds(dataset: MeasurementSet) -> None:
    # Another client spends the key's budget; ours gets a 429, sleeps x-ratelimit-reset, and
    # the request succeeds in the next window.
    with LocalOpenAQServer(dataset, rate_limit=3, window_seconds=1.0) as server:
        settings = client_settings(server)
        with OpenAQClient(settings) as other, OpenAQClient(settings) as ours:
            while True:  # start at the beginning of a window so the test cannot straddle two
                other.get("locations/900001")
                if server.requests[-1].status == 200 and len(server.requests_per_window()) > 1:
                    break
            window = server.requests[-1].window
            while server.requests_per_window().get(window, 0) < 3:
                other.get("locations/900001")
            loc = ours.location(900_001)
            assert ours.stats.rate_limited >= 1
            assert ours.stats.waited_seconds > 0
    assert loc.location_id == 900_001
    statuses = [r.status for r in server.requests]
    assert 429 in statuses
    assert statuses[-1] == 200


def test_api_key_is_sent_and_an_unknown_key_is_refused(server: LocalOpenAQServer) -> None:
    with (
        OpenAQClient(client_settings(server, openaq_api_key="f" * 64)) as wrong,
        pytest.raises(OpenAQAuthError, match="not accepted"),
    ):
        wrong.location(900_001)
    with OpenAQClient(client_settings(server, openaq_api_key=DEFAULT_API_KEY)) as right:
        assert right.location(900_001).location_id == 900_001
