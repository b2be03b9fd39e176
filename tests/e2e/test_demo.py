"""`aircast demo` end to end, as a user runs it: a subprocess, its printed URLs, HTTP calls,
a second training that moves the champion, hot swap in the API, then Ctrl-C and nothing left."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from aircast.registry import champion_version, model_name
from aircast_dev.stack import free_port

pytestmark = pytest.mark.e2e

# Both trainings face the same gate; the persistence margin is 0 so that the deliberately small
# first model (3 boosting rounds, close to persistence) still becomes the champion.
GATE = {"AIRCAST_GATE_MARGIN_OVER_PERSISTENCE": "0", "AIRCAST_GATE_MARGIN_OVER_CHAMPION": "0"}


def _descendants(root: int) -> set[int]:
    """Every live process below ``root`` (by parent pid), whatever its process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0] if value else ""
    return env


def _wait_for_version(api: str, version: int, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{api}/v1/model", timeout=10).json()
        if body.get("version") == version:
            return body
        time.sleep(1)
    pytest.fail(f"the API still serves {body.get('version')} after {timeout} s, not {version}")


def test_demo_serves_forecasts_and_swaps_in_a_better_model(tmp_path: Path) -> None:
    port = free_port()
    stderr_log = tmp_path / "demo-stderr.log"
    with stderr_log.open("wb") as err:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aircast.cli",
                "demo",
                "--port",
                str(port),
                "--lookback-days",
                "60",
                # A deliberately small first model, so a full second training can beat it.
                "--train-iterations",
                "3",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, **GATE, "OPENAQ_API_KEY": "", "AIRCAST_STACK": "local"},
            process_group=0,
        )
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in demo.stdout], daemon=True).start()
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 900
        while not any("Ctrl-C stops everything" in x for x in printed):
            if demo.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"demo did not come up:\n{stderr_log.read_text()[-4000:]}")
            try:
                printed.append(lines.get(timeout=1))
            except queue.Empty:
                continue
        text = "".join(printed)
        api = f"http://127.0.0.1:{port}"
        assert f"{api}/docs" in text
        assert "SYNTHETIC" in text, "synthetic data must be announced as such"
        logs = Path(re.search(r"logs\s+(\S+)", text).group(1))  # type: ignore[union-attr]
        curls = [line.strip() for line in printed if line.strip().startswith("curl ")]
        assert len(curls) == 3
        for curl in curls:  # the printed examples work as printed
            done = subprocess.run(
                [*shlex.split(curl), "-f"], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, (curl, done.stdout, done.stderr)

        model = _wait_for_version(api, 1, timeout=30)
        assert model["alias"] == "champion"
        forecast_url = re.search(r"curl -s '(\S+/forecast\S*)'", text).group(1)  # type: ignore[union-attr]
        first = httpx.get(forecast_url, timeout=30).json()
        assert first["model_version"] == 1
        assert [h["horizon"] for h in first["forecasts"]] == list(range(1, 25))

        # A second, stronger training through the same code path as the pipeline.
        env = {**os.environ, **_read_env(logs / "env.sh"), **GATE}
        trained = subprocess.run(
            [sys.executable, "-m", "aircast.cli", "train", "--iterations", "300"],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        report = trained.stdout[-3000:] + trained.stderr[-3000:]
        assert trained.returncode == 0, report
        champion = champion_version(model_name("pm25"), tracking_uri=env["MLFLOW_TRACKING_URI"])
        assert champion == 2, f"the gate kept version {champion} as champion:\n{report}"
        _wait_for_version(api, 2, timeout=120)
        second = httpx.get(forecast_url, timeout=30).json()
        assert second["model_version"] == 2

        spawned = _descendants(demo.pid)
        assert spawned, "the demo started no processes?"
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            raise
    assert code == 0, stderr_log.read_text()[-3000:]
    time.sleep(1)
    left = [pid for pid in spawned if _alive(pid)]
    assert left == [], f"processes left behind: {left}"
