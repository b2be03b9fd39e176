"""Rolling-origin backtest on folds planned from the data; then the candidate, fitted on all."""

from pathlib import Path

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom

from aircast.training import gate_settings_from_variables, settings_from_variables, stage_fit


@custom
def fit(built, *args, **kwargs):
    return stage_fit(
        Path(built["workdir"]),
        settings_from_variables(kwargs),
        gate_settings_from_variables(kwargs),
        progress=print,
    )
