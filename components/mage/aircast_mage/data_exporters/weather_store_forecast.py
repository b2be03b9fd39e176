"""Upsert the fetched forecast rows (idempotent: a re-run of the same fetch writes nothing)."""

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter

from aircast.ingest import database_url
from aircast.weather.ingest import store_forecasts


@data_exporter
def store(frame, *args, **kwargs):
    summary = store_forecasts(database_url(), frame, source="forecast")
    print(f"ingest_weather store: {summary.as_dict()}")
