"""Rolling-origin backtest: refit at each origin; the last origin's model is the candidate."""

from pathlib import Path

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom

from aircast.training import settings_from_variables, stage_fit


@custom
def fit(built, *args, **kwargs):
    return stage_fit(Path(built["workdir"]), settings_from_variables(kwargs), progress=print)
