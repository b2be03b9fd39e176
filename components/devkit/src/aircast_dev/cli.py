"""The dev kit's ``aircast`` commands: ``stack`` (the local services) and ``demo``.

They reach the ``aircast`` command through the ``aircast.commands`` entry points declared in this
package's pyproject.toml; the core's CLI loads them by name and never imports this package.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

from aircast.cli import console, fail

# ---------------------------------------------------------------------------------- stack


@click.group()
def stack() -> None:
    """The local services (PostgreSQL, S3 endpoint, MLflow server) for development."""


@stack.command("up")
def stack_up() -> None:
    """Start the local stack, print how to reach it, and run until Ctrl-C."""
    from aircast_dev.stack import StackError, running_stack

    out = Console()
    try:
        with running_stack(progress=lambda msg: console.print(f"[dim]{msg}[/]")) as running:
            ep = running.endpoints
            out.print(
                f"[bold green]stack ready[/] in {running.started_seconds:.1f} s "
                f"([cyan]{ep.backend}[/] backend)"
            )
            out.print(f"  PostgreSQL   {ep.pg_host}:{ep.pg_port} (databases aircast, mlflow, mage)")
            out.print(f"  S3 endpoint  {ep.s3_endpoint_url} (bucket {ep.bucket})")
            out.print(f"  MLflow UI    {ep.mlflow_tracking_uri}")
            out.print(f"  logs         {running.workdir / 'logs'}")
            out.print("\n# export these to point aircast, MLflow and Mage at the stack:")
            for key, value in running.env().items():
                click.echo(f"export {key}='{value}'")
            out.print("\n[dim]Ctrl-C (or `aircast stack down`) stops everything.[/]")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stack stopped")
    except StackError as exc:
        fail(str(exc))


@stack.command("down")
def stack_down() -> None:
    """Stop every stack started by `aircast stack up` on this machine."""
    from aircast_dev.stack import stop_recorded_stacks

    lines = stop_recorded_stacks()
    for line in lines:
        console.print(line)
    if not lines:
        console.print("no running stack recorded")


# ---------------------------------------------------------------------------------- demo


@click.command()
@click.option("--port", type=int, default=8000, show_default=True, help="Port of the API.")
@click.option(
    "--from-csv",
    type=click.Path(path_type=Path),
    default=None,
    help="Ingest an OpenAQ Explorer CSV export, or a folder of them, instead of calling an API.",
)
@click.option(
    "--location-ids",
    default="",
    help="Comma-separated OpenAQ location ids (real OpenAQ; default: reference monitors in "
    "Albuquerque).",
)
@click.option(
    "--lookback-days", type=int, default=120, show_default=True, help="History to ingest."
)
@click.option(
    "--train-iterations", type=int, default=300, show_default=True, help="CatBoost rounds."
)
@click.option(
    "--exit-when-ready",
    is_flag=True,
    help="Stop everything once the first forecast works (for scripts).",
)
def demo(
    port: int,
    from_csv: Path | None,
    location_ids: str,
    lookback_days: int,
    train_iterations: int,
    exit_when_ready: bool,
) -> None:
    """Run the whole system locally: ingest → train → register → serve."""
    import httpx

    from aircast_dev.demo import Demo, DemoError, DemoOptions, usage_text
    from aircast_dev.stack import StackError

    options = DemoOptions(
        port=port,
        from_csv=from_csv,
        location_ids=location_ids,
        lookback_days=lookback_days,
        train_iterations=train_iterations,
    )
    started = time.monotonic()
    try:
        with Demo(options, console=console) as run:
            if run.location_id is not None:
                answer = httpx.get(
                    f"{run.api_url}/v1/locations/{run.location_id}/forecast",
                    params={"parameter": "pm25", "horizons": "1..24"},
                    timeout=30,
                )
                if answer.status_code != 200:
                    fail(f"the first forecast failed ({answer.status_code}): {answer.text[:300]}")
            console.print(
                f"[bold green]aircast is up[/]: first forecast served "
                f"{time.monotonic() - started:.0f} s after start"
            )
            click.echo(usage_text(run), err=False)
            sys.stdout.flush()
            if exit_when_ready:
                return
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        console.print("demo stopped; every process it started is gone")
    except (DemoError, StackError) as exc:
        fail(str(exc))
