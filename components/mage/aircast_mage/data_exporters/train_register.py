"""Log the MLflow run, register a version, and let the gate pick champion or challenger."""

from pathlib import Path

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter

from aircast.training import (
    gate_settings_from_variables,
    remove_workdir,
    settings_from_variables,
    stage_register,
)


@data_exporter
def register(evaluated, *args, **kwargs):
    workdir = Path(evaluated["workdir"])
    try:
        report = stage_register(
            workdir,
            settings_from_variables(kwargs),
            gate_settings_from_variables(kwargs),
            progress=print,
        )
    finally:
        remove_workdir(workdir)
    print(
        f"train_forecaster: {report.name} v{report.version} -> {report.alias} "
        f"({report.reason}); run {report.run_id}"
    )
