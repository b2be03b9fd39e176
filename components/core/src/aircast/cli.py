"""The ``aircast`` command. Thin: every command parses options and calls the library.

Errors a user can fix are printed as one line naming the problem and the fix (exit 2);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
import time
from typing import NoReturn

import click
from rich.console import Console

console = Console(stderr=True)


class UserError(click.ClickException):
    """A problem the user can fix: printed as one line, exit code 2."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        console.print(f"[bold red]error:[/] {self.format_message()}", highlight=False)


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error naming the problem and the fix."""
    raise UserError(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aircast-core")
def main() -> None:
    """aircast: air-quality forecasts from OpenAQ, trained in Mage, served over HTTP."""


# ---------------------------------------------------------------------------------- stack


@main.group()
def stack() -> None:
    """The local services (PostgreSQL, S3 endpoint, MLflow server) for development."""


@stack.command("up")
def stack_up() -> None:
    """Start the local stack, print how to reach it, and run until Ctrl-C."""
    from aircast.stack import StackError, running_stack

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
    from aircast.stack import stop_recorded_stacks

    lines = stop_recorded_stacks()
    for line in lines:
        console.print(line)
    if not lines:
        console.print("no running stack recorded")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
