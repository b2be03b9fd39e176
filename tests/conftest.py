"""Shared fixtures: the local service stack, started once per test session.

The stack (PostgreSQL, an S3 endpoint, the real MLflow server) comes from ``aircast_dev.stack``,
the same module the demo uses. It starts on first use and stops when the session ends, even
when tests fail or the run is interrupted; a failing test that used it gets the services' log
tails attached to its report.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aircast_dev.stack import Stack, hatch_env_executable, project_root, running_stack

MAGE_PROJECT = project_root() / "components" / "mage" / "aircast_mage"

_STACK: Stack | None = None


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The running local stack; its variables are exported for the duration of the session."""
    global _STACK  # noqa: PLW0603 - the report hook below needs the running stack
    with running_stack() as running:
        _STACK = running
        saved = {key: os.environ.get(key) for key in running.env()}
        os.environ.update(running.env())
        try:
            yield running
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _STACK = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the services' log tails to the report of a failing test that used the stack."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _STACK is not None and "stack" in getattr(item, "fixturenames", ()):
        for name, tail in _STACK.log_tails().items():
            report.sections.append((f"service log: {name}", tail))


MageRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def mage_run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> MageRun:
    """Run a pipeline of the aircast Mage project with `mage run`, in the `mage` environment.

    ``mage_run("ingest_openaq", runtime_vars={...}, env={...})`` returns the finished process.
    A non-zero exit fails the test with Mage's output. Mage exits 0 even when blocks were skipped,
    so callers must assert on the pipeline's effect.
    """
    mage = hatch_env_executable("mage", "mage")
    data_dir = tmp_path_factory.mktemp("mage-data")

    def run(
        pipeline: str,
        *,
        runtime_vars: dict[str, object] | None = None,
        env: dict[str, str] | None = None,
        with_tests: bool = True,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(mage), "run", str(MAGE_PROJECT), pipeline]
        if runtime_vars:
            argv += ["--runtime-vars", json.dumps(runtime_vars)]
        if with_tests:
            argv.append("--test")
        done = subprocess.run(
            argv,
            cwd=MAGE_PROJECT.parent,
            env={**os.environ, **stack.env(), "MAGE_DATA_DIR": str(data_dir), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"mage run {pipeline} exited {done.returncode}\n--- stdout ---\n"
                f"{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}"
            )
        return done

    return run


def mage_project_path() -> Path:
    """Folder of the aircast Mage project."""
    return MAGE_PROJECT
