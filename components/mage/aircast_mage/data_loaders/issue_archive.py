"""Archive the champion's forecast of every active location (one summary per parameter)."""

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.ingest import database_url
from aircast.live import issue, parameters


@data_loader
def archive(*args, **kwargs):
    until = kwargs.get("until") or None
    summaries = [
        issue(database_url(), parameter, until=until)
        for parameter in parameters(kwargs.get("parameters"))
    ]
    for summary in summaries:
        print(f"issue_forecasts archive: {summary}")
    return {"until": until, "summaries": summaries}


@test
def test_every_parameter_issued(output, *args) -> None:
    assert output["summaries"], output
