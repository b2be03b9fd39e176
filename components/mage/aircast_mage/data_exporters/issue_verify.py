"""Score the archive against new observations; live metrics; skill and drift alarms."""

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter

from aircast.ingest import database_url
from aircast.live import verify


@data_exporter
def verify_archive(archived, *args, **kwargs):
    for summary in archived["summaries"]:
        result = verify(database_url(), summary["parameter"], until=archived["until"])
        print(f"issue_forecasts verify: {result}")
