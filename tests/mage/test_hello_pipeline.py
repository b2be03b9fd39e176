"""The pattern for every Mage pipeline test: run it headless with `mage run` in the `mage`
environment against the local stack, then assert on what it wrote, not on its exit code."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from aircast_dev.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.mage]


def test_hello_pipeline_records_a_heartbeat_from_the_mage_env(stack: Stack, mage_run) -> None:  # type: ignore[no-untyped-def]
    note = uuid.uuid4().hex
    mage_run("hello_aircast", runtime_vars={"note": note})
    with psycopg.connect(stack.endpoints.db_url("aircast")) as conn:
        rows = conn.execute(
            "SELECT detail FROM pipeline_heartbeats WHERE pipeline = 'hello_aircast' "
            "AND detail->>'note' = %s",
            (note,),
        ).fetchall()
    assert len(rows) == 1, "the exporter block did not run (check downstream_blocks)"
    detail = rows[0][0]
    # The blocks ran in the Mage env: its pins (numpy < 2) show the env is not the test env's.
    assert detail["numpy"].startswith("1.26"), detail
    assert detail["aircast_version"]
