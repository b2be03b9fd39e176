"""Settings of the dev kit: the local service stack the tests and the demo start."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    """The local service stack used by the tests and the demo (``aircast_dev.stack``)."""

    model_config = SettingsConfigDict(env_prefix="AIRCAST_", extra="ignore", frozen=True)

    stack: Literal["auto", "containers", "local"] = Field(
        default="auto",
        description="Which backend starts the local services: containers (a Docker engine), "
        "local (PostgreSQL binaries, moto_server, the mlflow env), or auto (containers when "
        "Docker answers).",
    )
    stack_bucket: str = Field(
        default="aircast-artifacts", description="S3 bucket created for MLflow artifacts."
    )
    pg_bindir: str | None = Field(
        default=None,
        description="Folder holding initdb/pg_ctl/postgres; discovered when unset.",
    )
    stack_state_dir: str | None = Field(
        default=None,
        description="Where `aircast stack up` records what it started, for `aircast stack down`. "
        "Default: $XDG_RUNTIME_DIR/aircast or ~/.cache/aircast.",
    )
    mlflow_server_command: str | None = Field(
        default=None,
        description="Path of the `mlflow` executable that runs the tracking server; default: "
        "the one in the `mlflow` Hatch environment.",
    )
    stack_ready_timeout: float = Field(
        default=180.0, description="Seconds to wait for each service to become ready."
    )
