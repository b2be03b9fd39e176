"""The archive and verification routes of the live API (uvicorn, real PostgreSQL and MLflow),
against what the database holds; the stored-location route serves the archived forecast."""

from __future__ import annotations

import time

import pandas as pd
import psycopg
import pytest

from aircast import registry, verification
from aircast.forecast_archive import issue_forecasts

from .conftest import END, SHORT_LOCATION, LiveApi

pytestmark = [pytest.mark.integration, pytest.mark.contract]
HORIZON_FIELDS = ("horizon", "point", "p10", "p90")


def _location(live_api: LiveApi) -> int:
    return next(i for i in live_api.location_ids if i != SHORT_LOCATION)


def test_archived_forecasts_page_through_every_issue(live_api: LiveApi) -> None:
    location = _location(live_api)
    since = (END - pd.Timedelta(hours=10)).isoformat()
    items: list[dict] = []  # type: ignore[type-arg]
    cursor = None
    with live_api.client() as client:
        while True:
            params = {"issued_since": since, "limit": 4, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/v1/locations/{location}/forecasts", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 4
            items += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        path = f"/v1/locations/{location}/forecasts"
        until = (END - pd.Timedelta(hours=5)).isoformat()
        bounded = client.get(path, params={"issued_since": since, "issued_until": until})
        bad = client.get(path, params={"issued_since": "yesterday"})
    with psycopg.connect(live_api.conninfo) as conn:
        stored = conn.execute(
            "SELECT issue_time, model_version, horizon, point, p10, p90 FROM forecasts "
            "WHERE location_id = %s AND issue_time >= %s ORDER BY 1, 2, 3",
            (location, END - pd.Timedelta(hours=10)),
        ).fetchall()
    issues = sorted({(t, v) for t, v, *_ in stored})
    assert len(items) == len(issues) == 11
    assert [pd.Timestamp(i["issue_time"]) for i in items] == [pd.Timestamp(t) for t, _ in issues]
    flat = [
        (pd.Timestamp(i["issue_time"]), i["model_version"], *(f[k] for k in HORIZON_FIELDS))
        for i in items
        for f in i["forecasts"]
    ]
    assert flat == [(pd.Timestamp(t), v, h, p, lo, hi) for t, v, h, p, lo, hi in stored]
    assert len(bounded.json()["items"]) == 6
    assert bad.status_code == 422
    assert "issued_since" in bad.text


def test_the_stored_route_serves_the_archived_forecast_with_the_same_response(
    live_api: LiveApi,
) -> None:
    location = _location(live_api)
    with live_api.client() as client:
        served = client.get("/v1/model", params={"parameter": "pm25"}).json()["version"]
        # archive this hour for whichever version the API serves now (idempotent)
        loaded = registry.load_model(registry.model_name("pm25"), version=served)
        issue_forecasts(live_api.conninfo, "pm25", loaded.forecaster, served, until=END)
        before = client.get("/metrics").text
        archived_at = time.monotonic()
        archived = client.get(f"/v1/locations/{location}/forecast", params={"horizons": "1..24"})
        after = client.get("/metrics").text
        with psycopg.connect(live_api.conninfo) as conn:
            rows = conn.execute(
                "SELECT horizon, point, p10, p90 FROM forecasts WHERE location_id = %s "
                "AND issue_time = %s AND model_version = %s ORDER BY horizon",
                (location, END, served),
            ).fetchall()
            conn.execute(
                "DELETE FROM forecasts WHERE location_id = %s AND issue_time = %s",
                (location, END),
            )
            conn.execute(
                "DELETE FROM forecast_issues WHERE location_id = %s AND issue_time = %s",
                (location, END),
            )
        computed = client.get(f"/v1/locations/{location}/forecast", params={"horizons": "1..12"})
        elapsed_hours = (time.monotonic() - archived_at) / 3600
        issue_forecasts(live_api.conninfo, "pm25", loaded.forecaster, served, until=END)
    assert archived.status_code == computed.status_code == 200
    document = archived.json()
    assert document["model_version"] == served
    assert [(f["horizon"], f["point"], f["p10"], f["p90"]) for f in document["forecasts"]] == rows

    def count(text: str, source: str) -> float:
        prefix = f'aircast_api_stored_forecast_source_total{{parameter="pm25",source="{source}"}} '
        lines = text.splitlines()
        return sum(float(line[len(prefix) :]) for line in lines if line.startswith(prefix))

    assert count(after, "archive") == count(before, "archive") + 1
    # the computed forecast of the same issue is the archived one, horizon for horizon
    recomputed = computed.json()
    served_when = ("forecasts", "data_age_hours")
    assert {k: v for k, v in recomputed.items() if k not in served_when} == {
        k: v for k, v in document.items() if k not in served_when
    }
    # data_age_hours is the data's age when each answer was served (rounded to 0.001 h)
    grown = recomputed["data_age_hours"] - document["data_age_hours"]
    assert -0.001 <= grown <= elapsed_hours + 0.001
    assert recomputed["forecasts"] == document["forecasts"][:12]


def test_verification_route_filters_and_pages(live_api: LiveApi) -> None:
    location = _location(live_api)
    with live_api.client() as client:
        one = client.get("/v1/verification", params={"location_id": location}).json()
        filtered = client.get(
            "/v1/verification",
            params={"location_id": location, "horizon": 6, "window": "24h"},
        ).json()
        first = client.get("/v1/verification", params={"limit": 1}).json()
        second = client.get(
            "/v1/verification", params={"limit": 1, "cursor": first["next_cursor"]}
        ).json()
        metrics = client.get("/metrics").text
    expected = verification.verification(live_api.conninfo, "pm25", location_ids=[location])
    assert len(one["items"]) == len(expected) > 0
    by_key = {(s.model_version, s.window, s.horizon): s for s in expected}
    for item in one["items"]:
        s = by_key[(item["model_version"], item["window"], item["horizon"])]
        assert item["location_id"] == location
        assert item["pairs"] == s.pairs
        assert item["mae"] == pytest.approx(s.mae)
        assert item["skill"] == pytest.approx(s.skill)
    assert [(i["window"], i["horizon"]) for i in filtered["items"]] == [("24h", 6)]
    assert first["next_cursor"] is not None
    assert {i["location_id"] for i in first["items"]} != {i["location_id"] for i in second["items"]}
    assert 'aircast_verification_skill{horizon="24",model_version=' in metrics
    assert 'window="7d"' in metrics
