"""Features and targets on every location's hourly grid (aircast.features)."""

from pathlib import Path

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer

from aircast.training import settings_from_variables, stage_features


@transformer
def build(loaded, *args, **kwargs):
    return stage_features(Path(loaded["workdir"]), settings_from_variables(kwargs), progress=print)
