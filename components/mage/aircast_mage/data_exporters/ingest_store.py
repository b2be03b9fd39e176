"""Upsert clean rows, store rejections and advance watermarks, one transaction per sensor."""

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter

from aircast.ingest import database_url, store_validated


@data_exporter
def store(validated, *args, **kwargs):
    summary = store_validated(database_url(), validated, source="openaq-api")
    # the fetch counters (locations, requests, ...) were printed by the loader block
    print(f"ingest_openaq store: {summary.stored_dict()}")
