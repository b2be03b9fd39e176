"""Validate raw measurements: clean rows keep `reason` null, rejected rows say why."""

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.ingest import validate


@transformer
def transform(raw, *args, **kwargs):
    return validate(raw)


@test
def test_every_row_accounted_for(output, *args) -> None:
    assert "reason" in output.columns
