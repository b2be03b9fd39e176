"""Record a heartbeat row in the aircast database."""

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter

from aircast.heartbeat import record_heartbeat


@data_exporter
def record(runtime, *args, **kwargs):
    record_heartbeat(pipeline="hello_aircast", detail=runtime)
