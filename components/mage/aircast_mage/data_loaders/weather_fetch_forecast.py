"""Fetch the live weather forecast of every active location, stamped with its issue time."""

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.ingest import database_url
from aircast.weather.client import OpenMeteoClient
from aircast.weather.ingest import fetch_forecasts


def _ids(value):
    return [int(v) for v in str(value).split(",") if v.strip()] if value else None


@data_loader
def fetch(*args, **kwargs):
    with OpenMeteoClient() as client:
        frame = fetch_forecasts(
            database_url(),
            client,
            # empty: now (the fetch time is the issue time); a replay may pass one
            now=kwargs.get("now") or None,
            hours=int(kwargs["hours"]) if kwargs.get("hours") else None,
            location_ids=_ids(kwargs.get("location_ids")),
        )
    print(f"ingest_weather fetch: {frame.attrs.get('summary')}")
    return frame


@test
def test_issue_time_on_every_row(output, *args) -> None:
    assert "issued_at" in output.columns, list(output.columns)
    assert output["issued_at"].notna().all()
