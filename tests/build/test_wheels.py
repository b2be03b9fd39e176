"""`hatch build` of aircast-core and aircast-api is byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.build.conftest import REPO

pytestmark = pytest.mark.build


def commit_epoch() -> str:
    """SOURCE_DATE_EPOCH for this checkout: the time of the commit being built."""
    return subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def build_wheel(project: Path, out: Path, epoch: str) -> Path:
    subprocess.run(
        ["hatch", "build", "--target", "wheel", str(out)],
        cwd=project,
        env={**os.environ, "SOURCE_DATE_EPOCH": epoch},
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.parametrize("component", ["core", "api"])
def test_two_builds_of_one_commit_are_identical(component: str, tmp_path: Path) -> None:
    """The second build runs from a copy with fresh file times and another path; bytes agree."""
    epoch = commit_epoch()
    project = REPO / "components" / component
    first = build_wheel(project, tmp_path / "first", epoch)

    copy = tmp_path / "copy" / component
    # shutil.copy (not copy2) gives every file a new mtime: the build must not read them.
    shutil.copytree(
        project,
        copy,
        copy_function=shutil.copy,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist"),
    )
    second = build_wheel(copy, tmp_path / "second", epoch)

    digests = [hashlib.sha256(w.read_bytes()).hexdigest() for w in (first, second)]
    print(f"\n{first.name}: build 1 sha256 {digests[0]}")
    print(f"{second.name}: build 2 sha256 {digests[1]}")
    assert first.name == second.name
    assert digests[0] == digests[1]

    # The timestamps inside come from the commit, not from the clock or the files.
    # (ZIP stores seconds in 2 s steps, rounded down.)
    expected = time.gmtime(int(epoch) - int(epoch) % 2)[:6]
    with zipfile.ZipFile(first) as wheel:
        stamps = {info.date_time for info in wheel.infolist()}
        names = wheel.namelist()
    assert stamps == {expected}
    package = "aircast" if component == "core" else "aircast_api"
    assert f"{package}/__init__.py" in names
    assert f"{package}/py.typed" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_core_wheel_ships_no_dev_tooling(tmp_path: Path) -> None:
    """The wheel the images install holds the domain library only: no stack, demo or fake server."""
    wheel = build_wheel(REPO / "components" / "core", tmp_path, commit_epoch())
    with zipfile.ZipFile(wheel) as archive:
        modules = sorted(n for n in archive.namelist() if n.endswith(".py"))
    print("\n" + "\n".join(modules))
    assert "aircast/forecaster.py" in modules
    assert "aircast/openaq/client.py" in modules
    dev_tooling = ("stack", "demo", "server", "synthetic", "config_table", "aircast_dev")
    assert [m for m in modules if any(word in m for word in dev_tooling)] == []
