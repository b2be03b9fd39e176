"""The Mage pipeline train_forecaster, run headless with `mage run` in the Mage env (which has
mlflow-skinny, not full mlflow): ingest_openaq first loads the local OpenAQ server's synthetic
data into an isolated database, then training registers a new version in the real MLflow
server with the gate's decision."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest

from aircast import store
from aircast.registry import CHALLENGER, CHAMPION, model_name
from aircast_dev.openaq_server import DEFAULT_API_KEY, LocalOpenAQServer
from aircast_dev.stack import Stack
from aircast_dev.synthetic import synthetic_dataset

pytestmark = [pytest.mark.integration, pytest.mark.mage]

END = pd.Timestamp("2025-03-01T00:00:00Z")
SINCE = END - pd.Timedelta(days=35)


@pytest.fixture
def database(stack: Stack) -> Iterator[str]:
    name = f"mage_train_{uuid.uuid4().hex[:8]}"
    url = stack.create_database(name)
    yield url
    stack.drop_database(name)


def test_train_forecaster_registers_a_gated_version(database: str, mage_run) -> None:  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    dataset = synthetic_dataset(seed=11, n_locations=2, end=END, months=2, bad_values=0)
    env = {"AIRCAST_DATABASE_URL": database, "OPENAQ_API_KEY": DEFAULT_API_KEY}
    with LocalOpenAQServer(dataset) as server:
        mage_run(
            "ingest_openaq",
            runtime_vars={
                "location_ids": ",".join(str(loc.location_id) for loc in dataset.locations),
                "parameters": "pm25,temperature",
                "since": SINCE.isoformat(),
                "until": END.isoformat(),
            },
            env={**env, "AIRCAST_OPENAQ_BASE_URL": server.url},
            with_tests=False,
        )
    loaded = store.load_measurements(database, ["pm25", "temperature"])
    assert len(loaded) > 1000

    name = model_name("pm25")
    client = MlflowClient()
    before = {int(v.version) for v in client.search_model_versions(f"name='{name}'")}
    done = mage_run(
        "train_forecaster",
        runtime_vars={
            "covariates": "temperature",
            "iterations": 40,
            "max_rows": 20000,
            "calibration_days": 4,
            "gate_folds": 2,
            "gate_horizon_tolerance": 0.1,
            "history_days": 60,
            "until": END.isoformat(),
            "experiment": "aircast-tests-mage",
        },
        env=env,
    )
    versions = client.search_model_versions(f"name='{name}'")
    new = [v for v in versions if int(v.version) not in before]
    assert len(new) == 1, done.stdout[-3000:]
    version = new[0]
    assert version.tags["gate.decision"] in {CHAMPION, CHALLENGER}
    aliases = client.get_model_version(name, version.version).aliases
    assert version.tags["gate.decision"] in aliases
    run = client.get_run(version.run_id)
    # the run saw exactly what ingest_openaq stored
    assert run.data.params["data.rows"] == str(len(loaded))
    assert run.data.params["data.parameters"] == "pm25,temperature"
    assert "mae_h24" in run.data.metrics
    # the pipeline variables reached the window and the gate
    assert pd.Timestamp(run.data.params["data.end"]) <= END
    assert run.data.params["gate_folds"] == "2"
    assert version.tags["gate.tolerance"] == "0.1"
    assert len(json.loads(version.tags["gate.folds"])["origins"]) == 2
    assert json.loads(version.tags["gate.by_horizon"])["h"] == list(range(1, 25))
    steps = client.get_metric_history(version.run_id, "gate_mae_persistence")
    assert sorted(m.step for m in steps) == list(range(1, 25))
    assert f"v{version.version} -> {version.tags['gate.decision']}" in done.stdout
