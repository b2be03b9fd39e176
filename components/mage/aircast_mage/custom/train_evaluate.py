"""The gate: per-horizon MAE of the candidate, persistence and the champion on the same folds,
the decision (aircast.gate), and the plots."""

from pathlib import Path

if "custom" not in globals():
    from mage_ai.data_preparation.decorators import custom
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test

from aircast.training import gate_settings_from_variables, settings_from_variables, stage_evaluate


@custom
def evaluate(fitted, *args, **kwargs):
    return stage_evaluate(
        Path(fitted["workdir"]),
        settings_from_variables(kwargs),
        gate_settings_from_variables(kwargs),
        progress=print,
    )


@test
def test_scored(output, *args) -> None:
    assert output["candidate_mae"] >= 0, output
    assert output["gate_cells"] > 0, output
    assert output["decision"] in {"champion", "challenger"}, output
