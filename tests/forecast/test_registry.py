"""Training, registry and the promotion gate against the real MLflow server, Postgres and S3.

The registered model uses a test-only target name so this module owns its version numbers
even when other tests register `aircast-pm25` on the same server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from aircast import registry
from aircast.cli import main as cli
from aircast.features import build_features
from aircast.forecaster import Forecaster
from aircast.registry import CHALLENGER, CHAMPION
from aircast.settings import GateSettings, TrainingSettings
from aircast.training import TrainingReport, train
from aircast_dev.stack import Stack
from tests.forecast import synthetic

TARGET = "pm25fc"
NAME = f"aircast-{TARGET}"


def _frames(seed: int = 0, days: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = synthetic.measurements(3, days=days, seed=seed)
    m["parameter"] = m["parameter"].replace({"pm25": TARGET})
    return m, synthetic.locations(3)


def _settings(**overrides: object) -> TrainingSettings:
    base = {
        "train_parameter": TARGET,
        "train_covariates": "no2,temperature",
        "train_iterations": 30,
        "train_depth": 4,
        "train_max_rows": 15_000,
        "train_calibration_days": 5,
        "train_experiment": "aircast-tests-forecast",
    }
    return TrainingSettings(**{**base, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(stack: Stack) -> tuple[TrainingReport, TrainingReport]:
    frames = _frames()
    first = train(frames=frames, settings=_settings(), gate=GateSettings())
    # deliberately worse: two boosting rounds barely move off the anchor
    worse = train(
        frames=frames,
        settings=_settings(train_iterations=2, train_learning_rate=0.01),
        gate=GateSettings(),
    )
    return first, worse


@pytest.mark.integration
def test_first_is_champion_worse_second_stays_challenger(
    trained: tuple[TrainingReport, TrainingReport],
) -> None:
    from mlflow.tracking import MlflowClient

    first, worse = trained
    assert (first.version, first.decision.promote) == (1, True)
    assert (worse.version, worse.decision.promote) == (2, False)
    assert worse.decision.champion_version == 1
    assert worse.decision.candidate_mae > worse.decision.champion_mae  # type: ignore[operator]
    assert registry.champion_version(NAME) == 1
    client = MlflowClient()
    assert client.get_model_version_by_alias(NAME, CHALLENGER).version == "2"
    tags = client.get_model_version(NAME, "2").tags
    assert tags["gate.decision"] == CHALLENGER
    assert float(tags["gate.champion_mae"]) == pytest.approx(worse.decision.champion_mae)
    # the champion was trained on these very data: scored on every fold cell (in sample)
    assert tags["gate.champion_basis"] == "all_cells"
    by_horizon = json.loads(tags["gate.by_horizon"])
    assert by_horizon["h"] == list(range(1, 25))
    np.testing.assert_allclose(by_horizon["champion"], worse.decision.scores["champion"], rtol=1e-3)
    first_tags = client.get_model_version(NAME, "1").tags
    assert first_tags["gate.decision"] == CHAMPION
    assert first_tags["gate.champion_basis"] == "none"
    assert json.loads(first_tags["gate.by_horizon"])["champion"] is None
    # per-horizon gate numbers in the run, step = horizon
    history = client.get_metric_history(worse.run_id, "gate_mae_champion")
    assert sorted(m.step for m in history) == list(range(1, 25))
    assert len(json.loads(first_tags["gate.folds"])["origins"]) == len(first.decision.plan.origins)
    run = client.get_run(first.run_id)
    assert run.data.metrics["mae_h01"] > 0
    assert "mae_h24" in run.data.metrics
    assert "coverage_h12" in run.data.metrics
    assert run.data.params["data.rows"] == str(len(_frames()[0]))
    assert len(run.data.params["data.sha256"]) == 64
    assert run.data.tags.get("mlflow.source.git.commit")


@pytest.mark.integration
def test_artifacts_are_in_the_bucket(
    stack: Stack, trained: tuple[TrainingReport, TrainingReport]
) -> None:
    ep = stack.endpoints
    s3 = boto3.client(
        "s3",
        endpoint_url=ep.s3_endpoint_url,
        aws_access_key_id=ep.s3_access_key,
        aws_secret_access_key=ep.s3_secret_key,
        region_name=ep.region,
    )
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ep.bucket)
        for obj in page.get("Contents", [])
    ]
    run_keys = [k for k in keys if trained[0].run_id in k]
    names = {Path(k).name for k in run_keys}
    assert {"error_by_horizon.png", "feature_importance.png", "predicted_vs_observed.png"} <= names
    assert {"features.json", "dataset_fingerprint.json"} <= names
    assert any(k.endswith("model.cb") for k in keys)  # logged models live beside the run


@pytest.mark.integration
def test_champion_loads_in_a_fresh_process_and_predicts_identically(
    stack: Stack, trained: tuple[TrainingReport, TrainingReport], tmp_path: Path
) -> None:
    loaded = registry.load_model(NAME)
    assert (loaded.version, loaded.alias, loaded.unit) == (1, CHAMPION, "")
    assert loaded.feature_names == loaded.forecaster.model_feature_names
    assert loaded.metrics["mae_h01"] == trained[0].metrics["mae_h01"]
    m, locs = _frames()
    features = build_features(m, locs, loaded.forecaster.spec).tail(7)
    features.to_pickle(tmp_path / "features.pkl")
    expected = loaded.forecaster.predict(features)
    script = textwrap.dedent(
        f"""
        import sys, pandas as pd
        from aircast.registry import load_model
        model = load_model({NAME!r}, "champion")
        features = pd.read_pickle(sys.argv[1])
        model.forecaster.predict(features).to_pickle(sys.argv[2])
        print(model.version)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "features.pkl"), str(tmp_path / "out.pkl")],
        env={**os.environ, **stack.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "1"
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out.pkl"), expected)  # noqa: S301
    assert np.isfinite(expected["point"]).all()


@pytest.mark.integration
def test_promote_and_rollback_commands(
    stack: Stack, trained: tuple[TrainingReport, TrainingReport]
) -> None:
    from mlflow.tracking import MlflowClient

    runner = CliRunner()
    done = runner.invoke(cli, ["promote", "--version", "2", "--parameter", TARGET])
    assert done.exit_code == 0, done.output
    assert registry.champion_version(NAME) == 2
    tags = MlflowClient().get_model_version(NAME, "2").tags
    assert tags["promoted.previous_champion"] == "1"

    done = runner.invoke(cli, ["rollback", "--parameter", TARGET])
    assert done.exit_code == 0, done.output
    assert "from v2 to v1" in done.output
    assert registry.champion_version(NAME) == 1
    assert MlflowClient().get_model_version(NAME, "2").tags["rolled_back.to"] == "1"

    # v1 was the first champion: nothing to roll back to
    done = runner.invoke(cli, ["rollback", "--parameter", TARGET])
    assert done.exit_code == 2
    assert "no previous champion" in done.output
    done = runner.invoke(cli, ["promote", "--version", "99", "--parameter", TARGET])
    assert done.exit_code == 2
    assert "no version 99" in done.output
    assert registry.champion_version(NAME) == 1


@pytest.mark.integration
def test_unknown_model_is_a_clear_error(stack: Stack) -> None:
    assert registry.champion_version("aircast-nothing-here") is None
    with pytest.raises(registry.ModelNotFoundError, match="aircast train"):
        registry.load_model("aircast-nothing-here")


def test_saved_model_metadata_matches_spec(tmp_path: Path) -> None:
    settings = _settings(train_iterations=5)
    from aircast.training import feature_spec, forecaster_params

    spec = feature_spec(settings)
    assert spec.covariates == ("no2", "temperature")
    model = Forecaster(spec, forecaster_params(settings))
    assert json.loads(json.dumps(spec.to_dict()))["target"] == TARGET
    assert model.params.iterations == 5


@pytest.mark.integration
def test_the_apis_rest_loader_matches_the_mlflow_client(
    stack: Stack, trained: tuple[TrainingReport, TrainingReport]
) -> None:
    """aircast_api.model_store (httpx, no MLflow import) loads what registry.load_model does."""
    from aircast_api.model_store import ModelStore

    store = ModelStore(stack.env()["MLFLOW_TRACKING_URI"])
    try:
        assert store.champion_version(NAME) == registry.champion_version(NAME)
        assert store.champion_version(NAME, "no-such-alias") is None
        rest = store.load_model(NAME)
        client = registry.load_model(NAME)
        assert (rest.version, rest.run_id, rest.trained_at, rest.metrics) == (
            client.version,
            client.run_id,
            client.trained_at,
            client.metrics,
        )
        m, locs = _frames()
        features = build_features(m, locs, rest.forecaster.spec).tail(5)
        pd.testing.assert_frame_equal(
            rest.forecaster.predict(features), client.forecaster.predict(features)
        )
        with pytest.raises(registry.ModelNotFoundError, match="aircast train"):
            store.load_model("aircast-never-trained")
    finally:
        store.close()


@pytest.mark.integration
def test_a_model_on_newer_data_faces_the_champion_out_of_sample(
    stack: Stack, trained: tuple[TrainingReport, TrainingReport]
) -> None:
    """v1 saw 40 days; a training on 50 days compares with it on the cells issued after them."""
    from mlflow.tracking import MlflowClient

    champion = registry.champion_version(NAME)
    seen_until = registry.training_data_end(NAME, champion)  # type: ignore[arg-type]
    assert seen_until == _frames()[0]["datetime"].max()
    newer = train(frames=_frames(days=50), settings=_settings(), gate=GateSettings())
    decision = newer.decision
    assert decision.champion_version == champion
    assert decision.champion_basis == "out_of_sample"
    scores = decision.scores
    assert (scores["n_champion"] < scores["n"]).all()
    # the decision follows the rule on the numbers it recorded
    tol = decision.tolerance
    expected = bool(
        (scores["candidate"] <= scores["persistence"] * (1 + tol)).all()
        and scores["candidate"].mean() < scores["persistence"].mean()
        and (scores["candidate_vs_champion"] <= scores["champion"] * (1 + tol)).all()
        and scores["candidate_vs_champion"].mean() < scores["champion"].mean()
    )
    assert decision.promote is expected, decision.reason
    tags = MlflowClient().get_model_version(NAME, str(newer.version)).tags
    assert tags["gate.champion_basis"] == "out_of_sample"
    assert tags["gate.decision"] == decision.alias
    assert (registry.champion_version(NAME) == newer.version) is expected
