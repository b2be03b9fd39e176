"""The retraining trigger against a real Mage server: `mage start` on a copy of the project
(the server rewrites triggers.yaml, which must not flow back into the repository), its
metadata in a PostgreSQL database of the stack. Mage syncs train_forecaster's API trigger
from triggers.yaml and generates its token; ``aircast.alarms.trigger_retraining`` then starts
a train_forecaster run through it, as the verification step does on an alarm.

Costs ~800 MB and 15-60 s of start-up on this machine (MAGE_NOTES.md): one test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from aircast import store
from aircast.alarms import trigger_retraining
from aircast.settings import VerificationSettings
from aircast_dev.stack import Stack, free_port, hatch_env_executable

from ..conftest import MAGE_PROJECT

pytestmark = [pytest.mark.integration, pytest.mark.mage]

TRIGGER = "train_forecaster_on_alarm"


@dataclass(frozen=True)
class MageServer:
    """A running `mage start` and where its metadata lives."""

    url: str
    metadata: str  # libpq URL of Mage's metadata database
    started_seconds: float


def _wait_status(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mage start exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/status", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"Mage at {url} did not answer /api/status within {timeout:.0f} s")


@pytest.fixture
def mage_server(stack: Stack, tmp_path: Path) -> Iterator[MageServer]:
    project = tmp_path / MAGE_PROJECT.name
    shutil.copytree(MAGE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    metadata_db = f"mage_meta_{uuid.uuid4().hex[:8]}"
    aircast_db = f"mage_trigger_{uuid.uuid4().hex[:8]}"
    metadata = stack.create_database(metadata_db)
    aircast = stack.create_database(aircast_db)
    store.upgrade(aircast)  # the triggered training finds an empty store and stops there
    port = free_port()
    env = {
        **os.environ,
        **stack.env(),
        "AIRCAST_DATABASE_URL": aircast,
        "MAGE_DATA_DIR": str(tmp_path / "mage-data"),
        "MAGE_DATABASE_CONNECTION_URL": stack.endpoints.db_url(metadata_db, driver="psycopg2"),
    }
    mage = hatch_env_executable("mage", "mage")
    log = (tmp_path / "mage.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [str(mage), "start", str(project), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        process_group=0,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait_status(url, process, timeout=240)
        except RuntimeError:
            log.flush()
            tail = (tmp_path / "mage.log").read_text(errors="replace")[-4000:]
            raise RuntimeError(f"Mage did not start:\n{tail}") from None
        yield MageServer(url, metadata, time.monotonic() - started)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        stack.drop_database(metadata_db)
        stack.drop_database(aircast_db)


def _schedule(metadata: str, timeout: float = 120) -> tuple[int, str]:
    """Id and token of the API trigger, once Mage has synced triggers.yaml into its DB."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(metadata) as conn:
            exists = conn.execute("SELECT to_regclass('pipeline_schedule')").fetchone()
            if exists and exists[0]:
                row = conn.execute(
                    "SELECT id, token FROM pipeline_schedule WHERE name = %s AND "
                    "pipeline_uuid = 'train_forecaster'",
                    (TRIGGER,),
                ).fetchone()
                if row and row[1]:
                    return int(row[0]), str(row[1])
        time.sleep(1)
    raise AssertionError(f"Mage never synced the {TRIGGER} trigger from triggers.yaml")


def test_an_alarm_starts_train_forecaster_through_mages_api_trigger(
    mage_server: MageServer,
) -> None:
    schedule_id, token = _schedule(mage_server.metadata)
    base = f"{mage_server.url}/api/pipeline_schedules/{schedule_id}/pipeline_runs"

    wrong = VerificationSettings(
        retrain_trigger_url=base,
        retrain_trigger_token="not_the_token",  # type: ignore[arg-type]
    )
    assert trigger_retraining(wrong, {"parameter": "pm25"}).startswith("failed")

    settings = VerificationSettings(
        retrain_trigger_url=base,
        retrain_trigger_token=token,  # type: ignore[arg-type]
    )
    outcome = trigger_retraining(settings, {"parameter": "pm25"})
    assert outcome.startswith("started: run "), outcome
    run_id = int(outcome.rsplit(" ", 1)[1])
    with psycopg.connect(mage_server.metadata) as conn:
        row = conn.execute(
            "SELECT pipeline_uuid, pipeline_schedule_id, variables FROM pipeline_run WHERE id = %s",
            (run_id,),
        ).fetchone()
    assert row is not None
    assert row[0] == "train_forecaster"
    assert row[1] == schedule_id
    assert "pm25" in str(row[2])
    print(f"mage start answered /api/status after {mage_server.started_seconds:.1f} s")
