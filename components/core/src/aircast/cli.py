"""The ``aircast`` command. Thin: every command parses options and calls the library.

Errors a user can fix are printed as one line naming the problem and the fix (exit 2);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from aircast.ingest import BatchResult, IngestSummary, LocationSelection
    from aircast.openaq.archive import ArchiveRead

console = Console(stderr=True)


class UserError(click.ClickException):
    """A problem the user can fix: printed as one line, exit code 2."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        console.print(f"[bold red]error:[/] {self.format_message()}", highlight=False)


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error naming the problem and the fix."""
    raise UserError(message)


class _CommandsWithPlugins(click.Group):
    """The core's commands plus those other installed packages register.

    A package adds commands through the ``aircast.commands`` entry-point group (the dev kit
    adds ``stack`` and ``demo``); they are imported only when named, so the core never imports
    the dev kit and ``aircast --help`` stays fast.
    """

    @staticmethod
    def _plugins() -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group="aircast.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and (plugin := self._plugins().get(cmd_name)) is not None:
            loaded = plugin.load()
            if not isinstance(loaded, click.Command):
                raise TypeError(f"entry point {plugin.value} is not a click command")
            return loaded
        return command


@click.group(cls=_CommandsWithPlugins, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aircast-core")
def main() -> None:
    """aircast: air-quality forecasts from OpenAQ, trained in Mage, served over HTTP."""


# ---------------------------------------------------------------------------- db / ingest


@main.group()
def db() -> None:
    """The aircast database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target alembic revision.")
def db_upgrade(revision: str) -> None:
    """Apply the schema migrations to AIRCAST_DATABASE_URL."""
    from aircast import store
    from aircast.ingest import database_url

    url = database_url()
    with _ingest_errors():
        store.upgrade(url, revision)
        console.print(f"database at revision {store.current_revision(url)}")


def _selection_options(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--locations", help="Comma-separated OpenAQ location ids."),
        click.option("--bbox", help="min_lon,min_lat,max_lon,max_lat"),
        click.option("--coordinates", help="latitude,longitude (with --radius)"),
        click.option("--radius", type=int, help="Metres around --coordinates (1..25000)."),
        click.option("--iso", help="Country code, e.g. US."),
        click.option("--parameters", help="Comma-separated parameters (default: settings)."),
        click.option("--monitor/--any-grade", default=None, help="Reference monitors only."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _selection(**opts: object) -> LocationSelection:
    from aircast.ingest import selection_from_variables

    values = {**opts, "location_ids": opts.get("locations")}
    try:
        return selection_from_variables(values)
    except ValueError as exc:
        fail(f"{exc}.")


@contextlib.contextmanager
def _ingest_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one-line messages."""
    import psycopg

    from aircast.openaq.archive import ArchiveError
    from aircast.openaq.client import OpenAQError
    from aircast.openaq.csv_export import CSVExportError

    try:
        yield
    except (OpenAQError, CSVExportError, ArchiveError) as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot reach the aircast database ({reason}): check AIRCAST_DATABASE_URL.")


class _ProgressBar:
    """Draws ingest progress with rich: one tick per sensor, rows as the description."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("sensors", total=None)
        self.rows = 0

    def planned(self, sensors: int) -> None:
        self.progress.update(self.task, total=sensors)

    def stored(self, sensor: object, batch: BatchResult) -> None:
        self.rows += batch.fetched
        self.progress.update(self.task, description=f"{self.rows:,} rows")

    def finished(self, sensor: object) -> None:
        self.progress.advance(self.task)

    def archived(self, read: ArchiveRead, batch: BatchResult | None) -> None:
        from aircast.ingest import describe_archive_read

        self.progress.console.print(describe_archive_read(read, batch), highlight=False)


@contextlib.contextmanager
def _progress() -> Iterator[_ProgressBar]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:  # fmt: skip
        yield _ProgressBar(progress)


def _print_summary(summary: IngestSummary) -> None:
    from rich.table import Table

    table = Table(title=f"ingest summary ({summary.source})", show_header=False)
    rows = [
        ("locations / sensors", f"{summary.locations} / {summary.sensors}"),
        ("rows fetched", f"{summary.rows_fetched:,}"),
        ("inserted", f"{summary.inserted:,}"),
        ("updated", f"{summary.updated:,}"),
        ("rejected (new)", f"{summary.rejected:,}"),
        ("requests", f"{summary.requests:,} ({summary.retries} retried)"),
        ("429s waited", f"{summary.rate_limited} ({summary.waited_seconds:.1f} s waiting)"),
        ("time", f"{summary.seconds:.1f} s"),
    ]
    if summary.archive_locations:
        rows.insert(1, ("archive (first ingests)", (
            f"{summary.archive_locations} location(s), {summary.archive_files:,} day files, "
            f"{summary.archive_readings:,} readings, "
            f"{len(summary.archive_corrupt_files)} corrupt file(s) skipped")))  # fmt: skip
    if summary.csv_files:
        rows.insert(1, ("CSV exports", (
            f"{summary.csv_files} file(s), "
            f"{summary.duplicate_readings:,} repeated readings counted once")))  # fmt: skip
    for reason, count in sorted(summary.rejected_by_reason.items()):
        rows.append((f"  rejected: {reason}", f"{count:,}"))
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


@main.command()
@_selection_options
@click.option(
    "--from-csv",
    "from_csv",
    type=click.Path(path_type=Path),
    help="Load an OpenAQ Explorer CSV export, or a folder of them (*.csv, *.csv.gz), instead "
    "of calling the API.",
)
def ingest(from_csv: Path | None, **opts: object) -> None:
    """Fetch new hours from OpenAQ (after each sensor's watermark) into the aircast DB.

    A sensor's first ingest reads its history from OpenAQ's S3 archive
    (AIRCAST_INGEST_ARCHIVE_DAYS) and only the recent tail from the API.
    """
    from aircast import ingest as run
    from aircast.ingest import database_url

    if from_csv is not None and not from_csv.exists():
        fail(f"{from_csv} does not exist: pass an OpenAQ CSV export or a folder of them.")
    url = database_url()
    with _ingest_errors(), _progress() as bar:
        if from_csv is not None:
            summary = run.ingest_csv(url, from_csv, observer=bar)
        else:
            summary = run.ingest_api(url, _selection(**opts), observer=bar)
    _print_summary(summary)


@main.command()
@_selection_options
@click.option("--since", required=True, help="Start (exclusive), e.g. 2024-01-01T00:00Z.")
@click.option("--until", default=None, help="End (inclusive); default: the last full hour.")
@click.option(
    "--source",
    type=click.Choice(["api", "archive"]),
    default="api",
    show_default=True,
    help="OpenAQ API (key, rate-limited) or the public S3 archive (needs --locations).",
)
def backfill(since: str, until: str | None, source: str, **opts: object) -> None:
    """Fetch a whole window (since, until] for the selected locations."""
    import pandas as pd

    from aircast import ingest as run
    from aircast.ingest import database_url

    try:
        begin = pd.Timestamp(since)
        end = pd.Timestamp(until) if until else run.current_hour()
    except ValueError as exc:
        fail(f"cannot read --since/--until ({exc}): use ISO 8601, e.g. 2024-01-01T00:00Z.")
    selection = _selection(**opts)
    url = database_url()
    with _ingest_errors(), _progress() as bar:
        try:
            if source == "archive":
                if not selection.location_ids:
                    fail("--source archive needs --locations (the archive is by location id).")
                summary = run.ingest_archive(
                    url, selection.location_ids, since=begin, until=end,
                    parameters=selection.parameters, observer=bar,
                )  # fmt: skip
            else:
                summary = run.ingest_api(url, selection, since=begin, until=end, observer=bar)
        except ValueError as exc:
            fail(f"{exc}.")
    _print_summary(summary)


# ------------------------------------------------------------------------------ weather


@main.group()
def weather() -> None:
    """Weather forecasts (Open-Meteo): keep the next hours current, load history."""


@contextlib.contextmanager
def _weather_errors() -> Iterator[None]:
    from aircast.weather.client import OpenMeteoError

    with _ingest_errors():
        try:
            yield
        except OpenMeteoError as exc:
            fail(str(exc))


def _location_ids(locations: str | None) -> list[int] | None:
    if not locations:
        return None
    try:
        return [int(v) for v in locations.split(",") if v.strip()]
    except ValueError:
        fail(f"cannot read --locations {locations!r}: use comma-separated ids, e.g. 2178,2179.")


@weather.command("ingest")
@click.option("--locations", help="Comma-separated location ids (default: every active one).")
@click.option("--hours", type=int, help="Hours ahead (default AIRCAST_WEATHER_FORECAST_HOURS).")
def weather_ingest(locations: str | None, hours: int | None) -> None:
    """Fetch the live forecast of every active location and store it with its issue time."""
    from aircast.ingest import database_url
    from aircast.weather.client import OpenMeteoClient
    from aircast.weather.ingest import ingest_forecasts

    with _weather_errors(), OpenMeteoClient() as client:
        summary = ingest_forecasts(
            database_url(), client, hours=hours, location_ids=_location_ids(locations)
        )
    console.print(f"weather ingest: {summary.as_dict()}", highlight=False)


@weather.command("backfill")
@click.option("--since", required=True, help="First day, e.g. 2024-01-01.")
@click.option("--until", required=True, help="Last day (inclusive), e.g. 2024-03-31.")
@click.option(
    "--source",
    type=click.Choice(["previous_runs", "historical_forecast", "reanalysis"]),
    default="previous_runs",
    show_default=True,
    help="Previous Runs (forecasts 1-2 days ahead, since 2024), Historical Forecast (first "
    "hours of each run) or reanalysis (observed weather, stored apart, never a feature).",
)
@click.option("--locations", help="Comma-separated location ids (default: every stored one).")
def weather_backfill(since: str, until: str, source: str, locations: str | None) -> None:
    """Load weather history into the store, each row stamped with when it could be known."""
    from aircast.ingest import database_url
    from aircast.weather.client import OpenMeteoClient
    from aircast.weather.ingest import backfill_weather

    with _weather_errors(), OpenMeteoClient() as client:
        try:
            summary = backfill_weather(
                database_url(), client, since=since, until=until, source=source,
                location_ids=_location_ids(locations),
            )  # fmt: skip
        except ValueError as exc:
            fail(f"{exc}.")
    console.print(f"weather backfill: {summary.as_dict()}", highlight=False)


# ------------------------------------------------------------------------------ models


def _model_name(parameter: str | None) -> str:
    from aircast.registry import model_name
    from aircast.settings import TrainingSettings

    return model_name(parameter or TrainingSettings().train_parameter)


@contextlib.contextmanager
def _registry_errors() -> Iterator[None]:
    from aircast.registry import RegistryError

    try:
        yield
    except RegistryError as exc:
        fail(str(exc))
    except ConnectionError as exc:  # pragma: no cover - depends on the network
        fail(f"cannot reach the MLflow server ({exc}); check MLFLOW_TRACKING_URI.")


@main.command()
@click.option("--parameter", help="Parameter to forecast (default AIRCAST_TRAIN_PARAMETER).")
@click.option("--iterations", type=int, help="CatBoost rounds (default AIRCAST_TRAIN_ITERATIONS).")
@click.option(
    "--until",
    default=None,
    help="End of the training window (ISO 8601); default: the newest stored measurement "
    "of the parameter.",
)
def train(parameter: str | None, iterations: int | None, until: str | None) -> None:
    """Train, backtest and register a forecaster; the gate decides champion or challenger."""
    import pandas as pd
    from rich.table import Table

    from aircast.ingest import database_url
    from aircast.settings import GateSettings, TrainingSettings
    from aircast.training import TrainingError
    from aircast.training import train as run_training

    overrides: dict[str, object] = {}
    if parameter:
        overrides["train_parameter"] = parameter
    if iterations:
        overrides["train_iterations"] = iterations
    settings = TrainingSettings().model_copy(update=overrides)
    end: pd.Timestamp | None = None
    if until:
        try:
            end = pd.Timestamp(until)
        except ValueError as exc:
            fail(f"cannot read --until ({exc}): use ISO 8601, e.g. 2024-01-01T00:00Z.")
    started = time.perf_counter()
    with _registry_errors(), console.status("training") as status:

        def progress(message: str) -> None:
            status.update(message)
            console.print(f"[dim]{time.perf_counter() - started:6.1f}s[/] {message}")

        try:
            report = run_training(
                database_url(), settings, GateSettings(), until=end, progress=progress
            )
        except TrainingError as exc:
            fail(str(exc))
    if report.decision is None:  # too little history: the baseline was registered
        Console().print(
            f"[bold yellow]{report.name} v{report.version} (baseline) → {report.alias}[/]: "
            f"{report.reason} (run {report.run_id})"
        )
        return
    folds = report.decision.plan
    table = Table(
        title=f"{report.name} v{report.version}: backtest MAE by horizon "
        f"({len(folds.origins)} folds of {int(folds.length / pd.Timedelta(hours=1))} h)"
    )
    champion = report.decision.scores["champion"]
    columns = ["h", "aircast", "persistence", "seasonal naive", "skill", "coverage"]
    if champion.notna().any():
        columns.insert(3, f"champion v{report.decision.champion_version}")
    for column in columns:
        table.add_column(column, justify="right")
    for h, row in report.by_horizon.iterrows():
        cells = [
            str(h),
            f"{row['mae_aircast']:.2f}",
            f"{row['mae_persistence']:.2f}",
            f"{row['mae_seasonal_naive']:.2f}",
            f"{row['skill']:.1%}",
            f"{row['coverage']:.2f}",
        ]
        if champion.notna().any():
            cells.insert(3, f"{champion.get(h, float('nan')):.2f}")
        table.add_row(*cells)
    Console().print(table)
    colour = "green" if report.decision.promote else "yellow"
    Console().print(
        f"[bold {colour}]{report.name} v{report.version} → {report.decision.alias}[/]: "
        f"{report.decision.reason} (run {report.run_id})"
    )


@main.command()
@click.option("--parameter", help="Parameter to forecast (default AIRCAST_TRAIN_PARAMETER).")
def baseline(parameter: str | None) -> None:
    """Register the baseline (persistence / recent mean, no trees) from the stored history:
    it is served until a trained model passes the gate."""
    import pandas as pd

    from aircast.baseline import register_baseline
    from aircast.ingest import database_url
    from aircast.settings import TrainingSettings
    from aircast.store import load_locations, load_measurements
    from aircast.training import feature_spec, fingerprint

    overrides: dict[str, object] = {"train_parameter": parameter} if parameter else {}
    settings = TrainingSettings().model_copy(update=overrides)
    spec = feature_spec(settings)
    conninfo = database_url()
    since = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(days=settings.train_history_days)
    with _ingest_errors():
        measurements = load_measurements(conninfo, list(spec.parameters), since=since)
        locations = load_locations(conninfo)
    with _registry_errors():
        version = register_baseline(
            measurements,
            locations,
            spec,
            experiment=settings.train_experiment,
            fingerprint=fingerprint(measurements),
        )
    Console().print(f"{version.name} v{version.version} (baseline): {version.reason}")


@main.command()
@click.option("--version", "version", type=int, required=True, help="Version to serve.")
@click.option("--parameter", help="Parameter of the model (default AIRCAST_TRAIN_PARAMETER).")
def promote(version: int, parameter: str | None) -> None:
    """Make a registered version the champion (operator override of the gate)."""
    from aircast.registry import promote as promote_version

    name = _model_name(parameter)
    with _registry_errors():
        previous = promote_version(name, version, reason="manual: aircast promote")
    Console().print(
        f"{name}: champion is now v{version}"
        + (f" (was v{previous})" if previous is not None else "")
    )


@main.command()
@click.option("--parameter", help="Parameter of the model (default AIRCAST_TRAIN_PARAMETER).")
def rollback(parameter: str | None) -> None:
    """Move the champion back to the previous champion."""
    from aircast.registry import rollback as rollback_champion

    name = _model_name(parameter)
    with _registry_errors():
        current, target = rollback_champion(name)
    Console().print(f"{name}: champion rolled back from v{current} to v{target}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
