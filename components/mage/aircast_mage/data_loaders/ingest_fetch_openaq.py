"""Register the selected OpenAQ locations and fetch their new hourly values (raw frame).

A sensor's first ingest reads its history from OpenAQ's S3 archive, then the API tail."""

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.ingest import PrintProgress, database_url, fetch_api_raw, selection_from_variables
from aircast.schemas import RAW_COLUMNS


@data_loader
def fetch(*args, **kwargs):
    raw = fetch_api_raw(
        database_url(),
        selection_from_variables(kwargs),
        since=kwargs.get("since") or None,
        until=kwargs.get("until") or None,
        observer=PrintProgress(),
    )
    print(f"ingest_openaq fetch: {raw.attrs.get('fetch')}")
    return raw


@test
def test_raw_columns(output, *args) -> None:
    assert list(output.columns) == list(RAW_COLUMNS), list(output.columns)
