"""Every image component's lock is complete, hashed, and regenerated whenever a manifest changes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.build.conftest import IMAGE_COMPONENTS, REPO

pytestmark = pytest.mark.build

ARCHES = ("x86_64", "aarch64")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(lock: Path) -> dict[str, str]:
    """Normalised name -> pinned version, checking that every pin carries a sha256 hash."""
    found: dict[str, str] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
    for entry in entries:
        match = _PIN.match(entry)
        if match is None:
            continue
        assert "--hash=sha256:" in entry, f"{lock.name}: {match.group(1)} has no hash"
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_lock_check_reports_every_lock_current() -> None:
    """`hatch run lock --check` passes: no pyproject.toml changed since its lock was generated."""
    result = subprocess.run(
        [sys.executable, "build/lock.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("component", IMAGE_COMPONENTS)
def test_lock_pins_every_requirement_with_hashes(
    lock_tool: ModuleType, component: str, arch: str
) -> None:
    lock = lock_tool.lock_path(component, arch)
    inputs = lock_tool.component_inputs(component, arch)
    pinned = pins(lock)
    names = [lock_tool._NAME.match(req).group(1) for req in inputs.requirements]
    wanted = {lock_tool.normalize(name) for name in names}
    assert wanted <= pinned.keys(), f"not pinned in {lock.name}: {sorted(wanted - pinned.keys())}"
    # Local packages are built from source, never resolved from an index.
    assert not {"aircast-core", "aircast-api"} & pinned.keys()
    header = lock.read_text().split("\n\n", 1)[0]
    assert f"platform: {arch}-manylinux_2_36" in header


def test_local_packages_follow_the_dependency_graph(lock_tool: ModuleType) -> None:
    local = {c: lock_tool.component_inputs(c, "x86_64").local_packages for c in IMAGE_COMPONENTS}
    assert local == {
        "api": ("components/core", "components/api"),
        "mage": ("components/core",),
        "mlflow": (),
    }
    # aircast-core's third-party requirements reach the API's lock through the workspace.
    api_requirements = lock_tool.component_inputs("api", "x86_64").requirements
    assert any(req.startswith("catboost") for req in api_requirements)
    assert any(req.startswith("fastapi") for req in api_requirements)


def test_pinned_versions_agree_across_architectures(lock_tool: ModuleType) -> None:
    """Both architectures ship the same versions; only platform-specific extras may differ."""
    for component in IMAGE_COMPONENTS:
        x86 = pins(lock_tool.lock_path(component, "x86_64"))
        arm = pins(lock_tool.lock_path(component, "aarch64"))
        common = x86.keys() & arm.keys()
        assert {n: x86[n] for n in common} == {n: arm[n] for n in common}
    # The versions the component manifests pin exactly.
    assert pins(lock_tool.lock_path("mage", "x86_64"))["mage-ai"] == "0.9.80"
    assert pins(lock_tool.lock_path("mlflow", "x86_64"))["mlflow"] == "3.17.2"


def test_changed_dependency_makes_its_locks_stale(lock_tool: ModuleType, tmp_path: Path) -> None:
    """Adding a requirement to aircast-core stales the api and mage locks, not mlflow's."""
    for path in [
        *REPO.glob("components/*/pyproject.toml"),
        *REPO.glob("components/*/*.lock"),
        *REPO.glob("build/build-tools*"),
    ]:
        target = tmp_path / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    assert lock_tool.stale_locks(tmp_path) == []

    core = tmp_path / "components/core/pyproject.toml"
    core.write_text(core.read_text().replace('"click>=8.1",', '"click>=8.1",\n  "attrs>=23",', 1))
    stale = {p.relative_to(tmp_path).as_posix() for p in lock_tool.stale_locks(tmp_path)}
    assert stale == {
        f"components/{c}/requirements-linux-{a}.lock" for c in ("api", "mage") for a in ARCHES
    }
