"""A client generated from the contract by openapi-python-client drives the live API.

The generator runs with its default settings (no config file) from ``contracts/openapi.yaml``,
in a scratch venv made with uv; the generated package is installed in a second scratch venv
with nothing of aircast in it, and ``generated_client_steps.py`` drives the API with it: list
locations, a stored forecast, a caller-history forecast, a batch, the NowCast and errors. The
answers are checked here against the database and :mod:`aircast.aqi`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aircast import aqi, store

from .conftest import END, SHORT_LOCATION, LiveApi

pytestmark = [pytest.mark.integration, pytest.mark.contract]

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "contracts" / "openapi.yaml"
STEPS = Path(__file__).with_name("generated_client_steps.py")
# The generator's output changes between minor versions; the contract is checked against this one.
GENERATOR = "openapi-python-client==0.29.*"
PACKAGE = "aircast_api_client"


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, **kwargs
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _venv(uv: str, path: Path, *requirements: str) -> Path:
    """A scratch venv at ``path`` with ``requirements`` installed; returns its bin folder."""
    # this interpreter's Python: uv never has to download one
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(path)])
    _run([uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), *requirements])
    return path / "bin"


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a scratch venv holding the generated client (and only it)."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to make the scratch venvs (pip install uv)"
    scratch = tmp_path_factory.mktemp("generated-client")
    generator = _venv(uv, scratch / "generator", GENERATOR)
    # The generator's default post-hooks format the code with the ruff it depends on.
    env = {**os.environ, "PATH": f"{generator}{os.pathsep}{os.environ['PATH']}"}
    output = scratch / "client"
    done = _run(
        [
            str(generator / "openapi-python-client"), "generate",
            "--path", str(CONTRACT), "--output-path", str(output),
        ],
        env=env,
    )  # fmt: skip
    # The generator skips what it cannot model with a warning, and still exits 0.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert (output / PACKAGE / "api" / "locations" / "nowcast_location.py").is_file()
    client_bin = _venv(uv, scratch / "client-venv", str(output))
    return client_bin / "python"


def _history_values() -> list[float | None]:
    values: list[float | None] = [12.0 + (i % 24) / 3 for i in range(48)]
    values[10] = None
    return values


def test_generated_client_drives_the_live_api(live_api: LiveApi, client_python: Path) -> None:
    location_id = sorted(i for i in live_api.location_ids if i != SHORT_LOCATION)[0]
    args = {
        "url": live_api.url,
        "key": live_api.key,
        "location_id": location_id,
        "unknown_location_id": 12345,
        "end": END.isoformat(),
        "values": _history_values(),
    }
    # the scratch venv's Python, run from the venv: nothing of aircast is importable
    done = _run([str(client_python), str(STEPS), json.dumps(args)], cwd=client_python.parents[1])
    steps = json.loads(done.stdout)

    assert steps["list_locations"]["ids"] == sorted(live_api.location_ids)
    assert steps["list_locations"]["pages"] == 2

    stored = steps["stored_forecast"]
    assert stored["location_id"] == location_id
    assert [row["horizon"] for row in stored["horizons"]] == [1, 2, 3, 4, 5, 6]
    _assert_hourly_aqi(stored["horizons"])

    history = steps["history_forecast"]
    assert history["location_id"] == 42
    assert pd.Timestamp(history["issue_time"]) == END
    assert [row["horizon"] for row in history["horizons"]] == [1, 2, 3]
    _assert_hourly_aqi(history["horizons"])

    batch = steps["batch"]["items"]
    assert [(item["index"], item["location_id"], item["forecast"]) for item in batch] == [
        (0, 1, True),
        (1, 2, False),
    ]
    assert "history too short" in batch[1]["error"]

    nowcast = steps["nowcast"]
    expected = _stored_nowcast(live_api, location_id)
    assert nowcast["location_id"] == location_id
    assert (nowcast["concentration"], nowcast["aqi"], nowcast["category"]) == expected
    assert pd.Timestamp(nowcast["time"]) == END

    errors = steps["errors"]
    assert errors["invalid"]["status"] == 422
    assert errors["invalid"]["type"].endswith("/validation-error")
    assert errors["invalid"]["names"] == ["body.timezone"]
    assert errors["unknown"]["status"] == 404
    assert errors["unknown"]["type"].endswith("/location-not-found")


def _assert_hourly_aqi(rows: list[dict[str, Any]]) -> None:
    """Each horizon's AQI is aircast.aqi's reading of its point and interval."""
    for row in rows:
        assert row["basis"] == "hourly_equivalent"
        for key in ("point", "p10", "p90"):
            expected = aqi.reading(row[key], "pm25")
            assert expected is not None
            assert row["aqi"][key] == {"aqi": expected.aqi, "category": expected.category.value}


def _stored_nowcast(live_api: LiveApi, location_id: int) -> tuple[float, int | None, str]:
    """The NowCast of the location's last 12 stored hours, computed here from the database."""
    frame = store.load_measurements(
        live_api.conninfo,
        ["pm25"],
        location_ids=[location_id],
        since=END - pd.Timedelta(hours=aqi.NOWCAST_HOURS),
        until=END,
    )
    by_hour = dict(zip(frame["datetime"], frame["value"], strict=True))
    newest_first = [by_hour.get(END - pd.Timedelta(hours=ago)) for ago in range(aqi.NOWCAST_HOURS)]
    value = aqi.nowcast(newest_first)
    assert value is not None
    reading = aqi.reading(value, "pm25")
    assert reading is not None
    return reading.concentration, reading.aqi, reading.category.value
