"""`hatch run demo`: the whole system on one machine, through the production code paths.

Steps: start the local stack (:mod:`aircast_dev.stack`) → choose the data source (real OpenAQ when
``OPENAQ_API_KEY`` is set, otherwise the local OpenAQ-compatible server with its synthetic
dataset, or an OpenAQ CSV export) → run the Mage pipeline ``ingest_openaq`` → run the Mage
pipeline ``train_forecaster`` (the gate makes the first model ``champion``) → start the API →
print how to use it. Every step shows its duration; Ctrl-C stops everything that was started.

:class:`Demo` is a context manager so the end-to-end test drives exactly what the command runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from aircast_dev.stack import (
    Stack,
    StackError,
    hatch_env_executable,
    http_ok,
    project_root,
    running_stack,
    wait_until,
)
from aircast_dev.synthetic import MeasurementSet

# A few reference-grade PM2.5 monitors around Albuquerque, NM (AirNow via OpenAQ, e.g. Del Norte,
# location 2178): discovered by coordinates + radius with monitor=true, so the selection follows
# OpenAQ's current list instead of hard-coding ids that may retire.
DEFAULT_REAL_SELECTION = {"coordinates": "35.1353,-106.5847", "radius": "25000", "monitor": "true"}
MAGE_PROJECT = "components/mage/aircast_mage"
# The local copy of OpenAQ's archive keeps the real bucket's name, on the stack's S3 endpoint.
ARCHIVE_BUCKET = "openaq-data-archive"


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and where its log is."""


@dataclass
class DemoOptions:
    """What the demo runs. Defaults suit a laptop: four months of history, a quick model."""

    port: int = 8000
    from_csv: Path | None = None
    location_ids: str = ""
    lookback_days: int = 120
    train_iterations: int = 300
    model_poll_seconds: float = 5.0
    logs_dir: Path | None = None


@dataclass
class DemoRun:
    """What a started demo offers: URLs, the environment to reach it, and where logs are."""

    api_url: str
    mlflow_url: str
    logs_dir: Path
    env: dict[str, str]
    data_source: str
    location_id: int | None
    timings: dict[str, float] = field(default_factory=dict)


class Demo:
    """Start the whole system; stop all of it on exit (normal, error or Ctrl-C)."""

    def __init__(self, options: DemoOptions | None = None, console: Console | None = None) -> None:
        self.options = options or DemoOptions()
        self.console = console or Console(stderr=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logs_dir = self.options.logs_dir or project_root() / "demo-logs" / stamp
        self._exit = contextlib.ExitStack()
        self._api: subprocess.Popen[bytes] | None = None
        self.stack: Stack | None = None
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> DemoRun:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the API, the OpenAQ server and the stack (idempotent)."""
        if self._api is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._api.pid, signal.SIGTERM)
            try:
                self._api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._api.pid, signal.SIGKILL)
                self._api.wait(timeout=5)
            self._api = None
        self._exit.close()

    # ------------------------------------------------------------------ steps

    @contextlib.contextmanager
    def _step(self, name: str, timings: dict[str, float]) -> Iterator[None]:
        started = time.monotonic()
        with self.console.status(f"[bold]{name}[/] …"):
            try:
                yield
            except BaseException:
                self.console.print(f"[red]✗[/] {name} ({time.monotonic() - started:.1f} s)")
                raise
        timings[name] = time.monotonic() - started
        self.console.print(f"[green]✓[/] {name} [dim]({timings[name]:.1f} s)[/]")

    def _start(self) -> DemoRun:
        timings: dict[str, float] = {}
        opts = self.options
        with self._step("start PostgreSQL, S3 endpoint and MLflow server", timings):
            self.stack = self._exit.enter_context(running_stack())
            self.env = {
                **self.stack.env(),
                "AIRCAST_MODEL_POLL_SECONDS": str(opts.model_poll_seconds),
            }

        with self._step("prepare the data source", timings):
            source, pipeline_vars = self._data_source()
        self.console.print(f"  data: [bold]{source}[/]")

        with self._step("migrate the aircast database", timings):
            from aircast.store.migrate import upgrade

            upgrade(self.env["AIRCAST_DATABASE_URL"])

        if opts.from_csv is not None:
            with self._step(f"ingest the CSV export {opts.from_csv}", timings):
                self._run_logged(
                    "ingest-csv",
                    [
                        sys.executable,
                        "-m",
                        "aircast.cli",
                        "ingest",
                        "--from-csv",
                        str(opts.from_csv),
                    ],
                )
            self._serve_the_exports_age()
        else:
            with self._step("Mage pipeline ingest_openaq", timings):
                self.run_pipeline("ingest_openaq", pipeline_vars)

        with self._step("Mage pipeline train_forecaster (backtest + promotion gate)", timings):
            self.run_pipeline("train_forecaster", {})
        champion = self._champion()
        if champion is None:
            raise DemoError(
                "training finished but no model holds the alias `champion`: the gate rejected it "
                f"(see the version's tags in MLflow and {self.logs_dir / 'train_forecaster.log'})."
            )
        self.console.print(f"  model: aircast-pm25 version {champion} is [bold]champion[/]")

        with self._step(f"start the API on 127.0.0.1:{opts.port}", timings):
            api_url = self._start_api()

        (self.logs_dir / "env.sh").write_text(
            "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env.items())
        )
        return DemoRun(
            api_url=api_url,
            mlflow_url=self.env["MLFLOW_TRACKING_URI"],
            logs_dir=self.logs_dir,
            env=dict(self.env),
            data_source=source,
            location_id=self._first_location(),
            timings=timings,
        )

    def _data_source(self) -> tuple[str, dict[str, Any]]:
        opts = self.options
        self.env.update(
            {
                "AIRCAST_INGEST_INITIAL_LOOKBACK_HOURS": str(opts.lookback_days * 24),
                # A first ingest takes this much history from OpenAQ's S3 archive.
                "AIRCAST_INGEST_ARCHIVE_DAYS": str(opts.lookback_days),
            }
        )
        if opts.from_csv is not None:
            if opts.from_csv.is_dir():
                return f"OpenAQ CSV exports in the folder {opts.from_csv}", {}
            if not opts.from_csv.is_file():
                raise DemoError(
                    f"--from-csv: nothing at {opts.from_csv} (give an OpenAQ Explorer CSV export "
                    "or a folder of them)"
                )
            return f"OpenAQ CSV export {opts.from_csv}", {}
        if os.environ.get("OPENAQ_API_KEY"):
            selection: dict[str, Any] = (
                {"location_ids": opts.location_ids}
                if opts.location_ids
                else dict(DEFAULT_REAL_SELECTION)
            )
            selection["parameters"] = "pm25,temperature,relativehumidity"
            return "real OpenAQ data (api.openaq.org, OPENAQ_API_KEY)", selection

        from aircast_dev.openaq_server import DEFAULT_API_KEY, LocalOpenAQServer
        from aircast_dev.synthetic import synthetic_dataset

        dataset = synthetic_dataset(seed=0, months=max(2, opts.lookback_days // 30 + 1))
        server = self._exit.enter_context(LocalOpenAQServer(dataset))
        self.env.update(
            {
                "OPENAQ_API_KEY": DEFAULT_API_KEY,
                "AIRCAST_OPENAQ_BASE_URL": server.url,
                # The local server enforces the same 60/min budget; a 5 s window keeps the demo
                # quick while exercising the same pacing code.
                "AIRCAST_OPENAQ_RATE_WINDOW_SECONDS": "5",
            }
        )
        ids = ",".join(str(loc.location_id) for loc in dataset.locations)
        server.window_seconds = 5.0
        self._publish_archive(dataset)
        return (
            f"SYNTHETIC data: history from a local copy of the OpenAQ S3 archive, recent hours "
            f"from the local OpenAQ-compatible server at {server.url} "
            "(set OPENAQ_API_KEY for real OpenAQ data)",
            {"location_ids": opts.location_ids or ids},
        )

    def _publish_archive(self, dataset: MeasurementSet) -> None:
        """The synthetic history in the archive's layout on the stack's S3 endpoint (the last
        location reporting every 5 minutes, like a low-cost sensor); first ingests read it."""
        import boto3

        from aircast_dev.archive import archive_objects, publish_archive

        if self.stack is None:
            raise DemoError("the archive needs the stack's S3 endpoint: start the stack first")
        ep = self.stack.endpoints
        s3 = boto3.client(
            "s3",
            endpoint_url=ep.s3_endpoint_url,
            aws_access_key_id=ep.s3_access_key,
            aws_secret_access_key=ep.s3_secret_key,
            region_name=ep.region,
        )
        low_cost = {dataset.locations[-1].location_id: 12}
        publish_archive(s3, ARCHIVE_BUCKET, archive_objects(dataset, readings_per_hour=low_cost))
        self.env.update(
            {
                "AIRCAST_OPENAQ_ARCHIVE_BUCKET": ARCHIVE_BUCKET,
                "AIRCAST_OPENAQ_ARCHIVE_ENDPOINT_URL": ep.s3_endpoint_url,
            }
        )

    def run_pipeline(self, pipeline: str, variables: dict[str, Any]) -> None:
        """``mage run`` a pipeline of the aircast Mage project in the ``mage`` environment."""
        mage = hatch_env_executable("mage", "mage")
        argv = [str(mage), "run", str(project_root() / MAGE_PROJECT), pipeline]
        if variables:
            argv += ["--runtime-vars", json.dumps(variables)]
        self._run_logged(
            pipeline,
            argv,
            extra_env={
                "MAGE_DATA_DIR": str(self.logs_dir / "mage-data"),
                "AIRCAST_TRAIN_ITERATIONS": str(self.options.train_iterations),
            },
        )

    def _run_logged(
        self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> None:
        log = self.logs_dir / f"{name}.log"
        with log.open("ab") as handle:
            done = subprocess.run(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, **(extra_env or {})},
                cwd=project_root(),
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise DemoError(f"{name} failed (exit {done.returncode}); log: {log}\n{tail}")

    def _serve_the_exports_age(self) -> None:
        """An export is history: let this demo's API serve its locations although their
        newest hour is older than the stale-data limit (unless the user set the limit)."""
        from aircast.store import newest_measurement
        from aircast_api.settings import ApiSettings

        if "AIRCAST_API_MAX_DATA_AGE_HOURS" in os.environ:
            return
        default = float(ApiSettings.model_fields["api_max_data_age_hours"].default)
        newest = newest_measurement(self.env["AIRCAST_DATABASE_URL"], "pm25")
        allowed = export_age_allowance(newest, datetime.now(UTC), default)
        if newest is None or allowed is None:
            return
        self.env["AIRCAST_API_MAX_DATA_AGE_HOURS"] = str(allowed)
        self.console.print(
            f"  the export ends at {newest:%Y-%m-%d %H:%M} UTC: this demo's API serves data up "
            f"to {allowed} h old (AIRCAST_API_MAX_DATA_AGE_HOURS; a deployment keeps "
            f"{default:g} h and answers 409 stale-data beyond it)"
        )

    def _champion(self) -> int | None:
        from aircast.registry import champion_version, model_name

        return champion_version(model_name("pm25"), tracking_uri=self.env["MLFLOW_TRACKING_URI"])

    def _first_location(self) -> int | None:
        import psycopg

        with psycopg.connect(self.env["AIRCAST_DATABASE_URL"]) as conn:
            row = conn.execute(
                "SELECT s.location_id FROM measurements m JOIN sensors s USING (sensor_id) "
                "WHERE m.parameter = 'pm25' GROUP BY s.location_id ORDER BY count(*) DESC, "
                "s.location_id LIMIT 1"
            ).fetchone()
        return int(row[0]) if row else None

    def _start_api(self) -> str:
        port = self.options.port
        log = (self.logs_dir / "api.log").open("ab")
        self._api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "aircast_api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={
                **os.environ,
                **self.env,
                "AIRCAST_DATABASE_URL": self.env["AIRCAST_DATABASE_URL"],
            },
            process_group=0,
        )
        log.close()
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if self._api is not None and self._api.poll() is not None:
                raise StackError(f"the API exited with code {self._api.returncode}")
            return http_ok(f"{url}/readyz")

        try:
            wait_until(
                ready,
                what="the API",
                timeout=120,
                on_fail=lambda: f"see {self.logs_dir / 'api.log'}",
            )
        except StackError as exc:
            tail = "\n".join(
                (self.logs_dir / "api.log").read_text(errors="replace").splitlines()[-25:]
            )
            raise DemoError(f"{exc}\n{tail}") from exc
        return url


def export_age_allowance(newest: datetime | None, now: datetime, limit_hours: float) -> int | None:
    """The stale-data limit (whole hours) under which an export ending at ``newest`` is
    served: its age plus a day, so a demo left running keeps serving; None when ``limit_hours``
    already covers it or there is no data."""
    if newest is None:
        return None
    age = (now - newest).total_seconds() / 3600
    if age <= limit_hours:
        return None
    return math.ceil(age) + 24


def usage_text(run: DemoRun) -> str:
    """What the demo prints once the API answers: URLs, curl examples, logs."""
    loc = run.location_id if run.location_id is not None else "<location_id>"
    return "\n".join(
        [
            "",
            f"API docs     {run.api_url}/docs",
            f"MLflow UI    {run.mlflow_url}",
            f"data         {run.data_source}",
            f"logs         {run.logs_dir}  (source {run.logs_dir / 'env.sh'} to use the CLI "
            "against this demo)",
            "",
            "Try:",
            f"  curl -s {run.api_url}/v1/model",
            f"  curl -s '{run.api_url}/v1/locations?parameter=pm25&limit=5'",
            f"  curl -s '{run.api_url}/v1/locations/{loc}/forecast?parameter=pm25&horizons=1..24'",
            "",
            "Ctrl-C stops everything.",
        ]
    )
