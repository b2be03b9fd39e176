"""The local service stack: real PostgreSQL, S3 endpoint and MLflow server, no mocks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import boto3
import numpy as np
import psycopg
import pytest

from aircast_dev.settings import StackSettings
from aircast_dev.stack import READER_ROLE, Stack, choose_backend, running_stack

pytestmark = pytest.mark.integration


def _s3(stack: Stack):  # type: ignore[no-untyped-def]
    ep = stack.endpoints
    return boto3.client(
        "s3",
        endpoint_url=ep.s3_endpoint_url,
        aws_access_key_id=ep.s3_access_key,
        aws_secret_access_key=ep.s3_secret_key,
        region_name=ep.region,
    )


def test_postgres_table_round_trip(stack: Stack) -> None:
    rows = [(1, "Wanliu", 35.5), (2, "Dongsi", None)]
    with psycopg.connect(stack.endpoints.db_url("aircast")) as conn:
        conn.execute(
            "CREATE TABLE round_trip (id int PRIMARY KEY, name text, value double precision)"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO round_trip VALUES (%s, %s, %s)", rows)
        assert conn.execute("SELECT id, name, value FROM round_trip ORDER BY id").fetchall() == rows
        conn.execute("DROP TABLE round_trip")


def test_databases_and_reader_role_exist(stack: Stack) -> None:
    with psycopg.connect(stack.endpoints.db_url("postgres")) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
        assert {"aircast", "mlflow", "mage"} <= names
    # The read-only role can log in to the aircast DB but cannot create anything there.
    with psycopg.connect(stack.endpoints.reader_url("aircast")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (READER_ROLE,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.not_allowed (id int)")


def test_mlflow_run_artifact_lands_in_the_bucket(stack: Stack, tmp_path: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(stack.endpoints.mlflow_tracking_uri)
    experiment = f"stack-test-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment(experiment)
    note = tmp_path / "note.txt"
    note.write_text("hello from the stack test")
    with mlflow.start_run() as run:
        mlflow.log_param("answer", 42)
        mlflow.log_artifact(str(note))
    keys = [
        obj["Key"]
        for obj in _s3(stack).list_objects_v2(Bucket=stack.endpoints.bucket).get("Contents", [])
    ]
    matching = [k for k in keys if run.info.run_id in k and k.endswith("note.txt")]
    assert matching, f"no note.txt of run {run.info.run_id} among {keys}"
    body = _s3(stack).get_object(Bucket=stack.endpoints.bucket, Key=matching[0])["Body"].read()
    assert body == b"hello from the stack test"


def test_model_registered_as_champion_loads_in_another_process(stack: Stack) -> None:
    import catboost
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(stack.endpoints.mlflow_tracking_uri)
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 3))
    target = features @ np.array([2.0, -1.0, 0.5]) + rng.normal(scale=0.1, size=200)
    model = catboost.CatBoostRegressor(iterations=30, depth=3, random_seed=7, verbose=False)
    model.fit(features, target)
    name = f"stack-test-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run():
        info = mlflow.catboost.log_model(model, name="model", registered_model_name=name)
    client = MlflowClient()
    version = client.get_model_version(name, str(info.registered_model_version))
    client.set_registered_model_alias(name, "champion", version.version)

    probe = features[:5]
    expected = model.predict(probe).tolist()
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        import mlflow.catboost
        model = mlflow.catboost.load_model("models:/{name}@champion")
        print(json.dumps(model.predict(np.array({probe.tolist()!r})).tolist()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **stack.env()},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == pytest.approx(expected)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_teardown_leaves_nothing_behind() -> None:
    """A second, independent stack: after it stops, no process, port or folder remains."""
    if choose_backend(StackSettings()) != "local":
        pytest.skip(
            "process-level teardown is checked on the local backend; containers "
            "are removed by testcontainers' own reaper"
        )
    with running_stack() as own:
        pids = own.pids()
        ep = own.endpoints
        ports = [
            ep.pg_port,
            int(ep.s3_endpoint_url.rsplit(":", 1)[1]),
            int(ep.mlflow_tracking_uri.rsplit(":", 1)[1]),
        ]
        workdir = own.workdir
        assert all(_port_open(p) for p in ports)
        assert len(_processes_alive(pids)) == 3
        assert set(own.log_tails()) >= {"postgres", "s3", "mlflow"}
    assert _processes_alive(pids) == []
    assert not any(_port_open(p) for p in ports)
    assert not workdir.exists()
    # No process of any group it started survives (uvicorn workers, postgres children).
    leftovers = subprocess.run(
        ["ps", "-eo", "pgid="], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not set(map(str, pids)) & set(leftovers)
