"""A live forecasting scenario on the real stack, shared by the verification tests.

The local OpenAQ server serves two months of synthetic data for three stations; the last four
days of PM2.5 are multiplied by ten (a change the model never saw). ``aircast.ingest`` loads
it into a fresh database, ``aircast.training.train`` fits and registers a small model on the
data up to T0 (recording its drift reference), and the test promotes it to champion. The
archive is then filled as the hourly pipeline would: one ``issue_forecasts`` per hour from T0
to END, each seeing only the observations up to its hour.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest

from aircast import registry
from aircast.forecast_archive import issue_forecasts
from aircast.ingest import LocationSelection, ingest_api
from aircast.settings import GateSettings, OpenAQSettings, TrainingSettings
from aircast.training import train
from aircast_dev.openaq_server import DEFAULT_API_KEY, LocalOpenAQServer
from aircast_dev.stack import Stack
from aircast_dev.synthetic import synthetic_dataset

END = pd.Timestamp("2025-03-01T00:00:00Z")
T0 = END - pd.Timedelta(days=4)
SHIFT = 10.0


@dataclass
class Scenario:
    """The database, the registered champion and what the archive was filled with."""

    conninfo: str
    tracking_uri: str
    name: str
    version: int
    location_ids: list[int]
    issue_hours: list[pd.Timestamp] = field(default_factory=list)


@pytest.fixture(scope="package")
def scenario(stack: Stack) -> Iterator[Scenario]:
    """The filled archive (scoring is left to the tests)."""
    database = f"verify_{uuid.uuid4().hex[:8]}"
    conninfo = stack.create_database(database)
    dataset = synthetic_dataset(seed=5, n_locations=3, end=END, months=2, bad_values=0)
    pm25 = {loc.sensors[0].sensor_id for loc in dataset.locations}
    frame = dataset.measurements
    shifted = frame["sensor_id"].isin(pm25) & (frame["datetime"] > T0)
    frame.loc[shifted, "value"] = (frame.loc[shifted, "value"] * SHIFT).round(1)
    ids = [loc.location_id for loc in dataset.locations]
    with LocalOpenAQServer(dataset, rate_limit=10_000) as server:
        ingest_api(
            conninfo,
            LocationSelection(location_ids=tuple(ids), parameters=("pm25", "temperature")),
            since=END - pd.Timedelta(days=58),
            until=END,
            settings=OpenAQSettings(
                openaq_base_url=server.url,
                openaq_api_key=DEFAULT_API_KEY,  # type: ignore[arg-type]
                openaq_requests_per_minute=10_000,
                openaq_backoff_seconds=0.01,
            ),
        )
    tracking_uri = stack.endpoints.mlflow_tracking_uri
    report = train(
        conninfo,
        TrainingSettings(
            train_parameter="pm25",
            train_covariates="temperature",
            train_iterations=40,
            train_max_rows=20_000,
            train_backtest_days=3,
            train_calibration_days=3,
            train_cross_fit=False,
            train_history_days=50,
            train_threads=1,
            train_experiment="aircast-tests-verify",
        ),
        GateSettings(),
        until=T0,
    )
    registry.promote(report.name, report.version, reason="verification test")
    loaded = registry.load_model(report.name, version=report.version)
    hours = list(pd.date_range(T0 + pd.Timedelta(hours=1), END, freq="h"))
    for hour in hours:
        issue_forecasts(conninfo, "pm25", loaded.forecaster, loaded.version, until=hour)
    try:
        yield Scenario(conninfo, tracking_uri, report.name, report.version, ids, hours)
    finally:
        stack.drop_database(database)


class MageTriggerStub:
    """Stands in for Mage's API-trigger endpoint (the HTTP boundary) and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                stub.calls.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
                body = json.dumps({"pipeline_run": {"id": 7, "status": "initial"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The trigger URL without the token."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/pipeline_schedules/3/pipeline_runs"

    def __enter__(self) -> MageTriggerStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
