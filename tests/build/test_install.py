"""build/install-component.sh (the images' install step) into fresh venvs, from the locks only.

Each component is installed once per module into its own venv with `--require-hashes`; the
tests then start its entry point and compare what got installed with the lock's pins.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from aircast_dev.stack import Stack, free_port
from tests.build.conftest import REPO
from tests.build.test_locks import pins

pytestmark = pytest.mark.build

SCRIPT = REPO / "build" / "install-component.sh"


def install(component: str, venv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), component, str(venv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def installed(venv: Path) -> dict[str, str]:
    """Normalised name -> version of every distribution in the venv."""
    out = subprocess.run(
        ["uv", "pip", "list", "--format", "json", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"] for d in json.loads(out)}


def lock_of(component: str) -> Path:
    arch = "aarch64" if platform.machine() in {"aarch64", "arm64"} else "x86_64"
    return REPO / "components" / component / f"requirements-linux-{arch}.lock"


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """api, mage and mlflow installed by the script, once for this module."""
    root = tmp_path_factory.mktemp("component-venvs")
    result = {}
    for component in ("api", "mage", "mlflow"):
        venv = root / component
        done = install(component, venv)
        assert done.returncode == 0, f"install {component} failed:\n{done.stderr}"
        result[component] = venv
    return result


def run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=venv,
        timeout=300,
    )


@pytest.mark.parametrize("component", ["api", "mage", "mlflow"])
def test_venv_holds_exactly_the_lock(venvs: dict[str, Path], component: str) -> None:
    """Every pin at its locked version, plus only the local packages the lock names."""
    want = pins(lock_of(component))
    have = installed(venvs[component])
    local = {"api": {"aircast-core", "aircast-api"}, "mage": {"aircast-core"}, "mlflow": set()}
    assert {n: have.get(n) for n in want} == want
    assert have.keys() - want.keys() == local[component]


def test_venvs_ship_compiled_bytecode(venvs: dict[str, Path]) -> None:
    """The images run with PYTHONDONTWRITEBYTECODE=1: the .pyc files must come with the venv."""
    site = next((venvs["api"] / "lib").glob("python3*/site-packages"))
    for module in ("aircast_api/main", "aircast/features", "pandas/core/frame"):
        package, name = module.rsplit("/", 1)
        assert list((site / package / "__pycache__").glob(f"{name}.cpython-*.pyc")), module


def test_api_venv_serves_the_app(venvs: dict[str, Path]) -> None:
    assert "Usage: aircast" in run(venvs["api"], "aircast", "--help").stdout
    # What the image's CMD does first: uvicorn resolving aircast_api.main:app.
    probe = run(
        venvs["api"],
        "python",
        "-c",
        "from uvicorn.importer import import_from_string as f; "
        "app = f('aircast_api.main:app'); print(type(app).__name__)",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "FastAPI"


def test_mlflow_venv_reports_its_pinned_version(venvs: dict[str, Path]) -> None:
    result = run(venvs["mlflow"], "mlflow", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("3.17.2")


def test_mage_venv_starts_the_mage_cli(venvs: dict[str, Path]) -> None:
    result = run(venvs["mage"], "mage", "--help")
    assert result.returncode == 0, result.stderr
    assert "start" in result.stdout
    assert "Usage: aircast" in run(venvs["mage"], "aircast", "--help").stdout


def test_unknown_component_is_refused_with_the_fix(tmp_path: Path) -> None:
    result = install("scheduler", tmp_path / "venv")
    assert result.returncode == 2
    assert "one of: api mage mlflow" in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.integration
def test_mlflow_entrypoint_migrates_and_serves(
    venvs: dict[str, Path], stack: Stack, tmp_path: Path
) -> None:
    """The image's entrypoint on a fresh database: schema upgraded, server up, S3 artifacts."""
    db_url = stack.create_database("mlflow_image_entrypoint")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{venvs['mlflow'] / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_BACKEND_STORE_URI": db_url.replace("postgresql://", "postgresql+psycopg://", 1),
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{stack.endpoints.bucket}/entrypoint-test",
        "MLFLOW_WORKERS": "1",
        "MLFLOW_PORT": str(port),
    }
    log = tmp_path / "mlflow.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            ["sh", str(REPO / "components/mlflow/entrypoint.sh")],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 600
            while True:
                assert server.poll() is None, f"entrypoint exited:\n{log.read_text()[-3000:]}"
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:  # refused, reset or timed out while the server starts
                    pass
                assert time.monotonic() < deadline, f"no /health:\n{log.read_text()[-3000:]}"
                time.sleep(1)
            request = urllib.request.Request(
                f"{base}/api/2.0/mlflow/experiments/create",
                data=json.dumps({"name": "entrypoint-check"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                experiment_id = json.load(response)["experiment_id"]
            with urllib.request.urlopen(
                f"{base}/api/2.0/mlflow/experiments/get?experiment_id={experiment_id}", timeout=120
            ) as response:
                location = json.load(response)["experiment"]["artifact_location"]
            # --serve-artifacts proxies the S3 destination behind mlflow-artifacts:.
            assert location.startswith("mlflow-artifacts:")
        finally:
            # mlflow server runs uvicorn as a child: stop the whole process group.
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    assert row[0]
    stack.drop_database("mlflow_image_entrypoint")


def test_mlflow_entrypoint_names_a_missing_setting(venvs: dict[str, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{venvs['mlflow'] / 'bin'}{os.pathsep}{os.environ['PATH']}"
    env["MLFLOW_ARTIFACTS_DESTINATION"] = "s3://bucket/mlartifacts"
    result = subprocess.run(
        ["sh", str(REPO / "components/mlflow/entrypoint.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "MLFLOW_BACKEND_STORE_URI" in result.stderr
    assert "postgresql+psycopg://" in result.stderr
