"""Describe the runtime that Mage gives aircast (versions, which database it will reach)."""

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.heartbeat import describe_runtime


@data_loader
def describe(*args, **kwargs):
    return describe_runtime(note=str(kwargs.get("note") or ""))


@test
def test_describes_aircast(output, *args) -> None:
    assert output["aircast_version"], "aircast did not report its version"
