"""Per-horizon metrics vs persistence/seasonal naive, the champion on the same window, plots."""

from pathlib import Path

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.training import settings_from_variables, stage_evaluate


@custom
def evaluate(fitted, *args, **kwargs):
    return stage_evaluate(Path(fitted["workdir"]), settings_from_variables(kwargs), progress=print)


@test
def test_scored(output, *args) -> None:
    assert output["candidate_mae"] >= 0, output
    assert output["gate_cells"] > 0, output
