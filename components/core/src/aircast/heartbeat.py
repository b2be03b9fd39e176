"""Heartbeats: a row a pipeline run writes, so operators and tests can see that a scheduler
(Mage) ran aircast with the intended settings and reached the aircast database."""

from __future__ import annotations

import json
import platform
from typing import Any

import psycopg

from aircast import __version__
from aircast.settings import DatabaseSettings

_DDL = """
CREATE TABLE IF NOT EXISTS pipeline_heartbeats (
    id bigserial PRIMARY KEY,
    pipeline text NOT NULL,
    detail jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)
"""


def describe_runtime(note: str = "") -> dict[str, Any]:
    """Versions of aircast and its main dependencies in the current process, plus ``note``."""
    import catboost
    import numpy
    import pandas

    return {
        "aircast_version": __version__,
        "python": platform.python_version(),
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "catboost": catboost.__version__,
        "note": note,
    }


def record_heartbeat(pipeline: str, detail: dict[str, Any], conninfo: str | None = None) -> int:
    """Insert a heartbeat for ``pipeline`` and return its id."""
    url = conninfo or DatabaseSettings().database_url.get_secret_value()
    with psycopg.connect(url) as conn:
        conn.execute(_DDL)
        row = conn.execute(
            "INSERT INTO pipeline_heartbeats (pipeline, detail) VALUES (%s, %s) RETURNING id",
            (pipeline, json.dumps(detail)),
        ).fetchone()
    if row is None:  # pragma: no cover - INSERT … RETURNING always yields a row
        raise RuntimeError("heartbeat insert returned no id")
    return int(row[0])
