"""Load the training window of the target and its covariates from the aircast DB."""

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.ingest import database_url
from aircast.training import (
    new_workdir,
    settings_from_variables,
    stage_load,
    until_from_variables,
)


@data_loader
def load(*args, **kwargs):
    settings = settings_from_variables(kwargs)
    until = until_from_variables(kwargs)  # empty: the newest stored measurement
    return stage_load(new_workdir(), database_url(), settings, until=until, progress=print)


@test
def test_rows_loaded(output, *args) -> None:
    assert output["rows"] > 0, output
