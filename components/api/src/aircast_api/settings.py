"""Settings of the inference API, read from ``AIRCAST_*`` environment variables.

The database and MLflow locations come from the core library's own settings classes
(:class:`aircast.settings.DatabaseSettings`, :class:`aircast.settings.MlflowSettings`); this
class holds only what is the API's own concern. Outside development it refuses to start
without API keys: an open forecast endpoint must be a deliberate, local choice.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_PARAMETER = re.compile(r"^[a-z0-9]+$")


class ApiSettings(BaseSettings):
    """The API's own configuration (``AIRCAST_`` prefix)."""

    model_config = SettingsConfigDict(
        env_prefix="AIRCAST_",
        extra="ignore",
        frozen=True,
        protected_namespaces=(),
        # Validation errors must not echo values: AIRCAST_API_KEYS may hold a plain key by mistake.
        hide_input_in_errors=True,
    )

    env: Literal["development", "test", "staging", "production"] = Field(
        default="development",
        description="Deployment environment. Outside development and test, API keys are required.",
    )
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated SHA-256 hex digests of the accepted X-API-Key values. "
        "Unset: no key is required (development and test only).",
    )
    api_open_health: bool = Field(
        default=True,
        description="Serve /healthz, /readyz and /metrics without an API key (load balancers, "
        "Prometheus).",
    )
    api_parameters: str = Field(
        default="pm25",
        description="Comma-separated OpenAQ parameters whose champion models the API serves.",
    )
    model_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the API checks whether the alias moved to a new model version.",
    )
    api_max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body; larger bodies get 413.",
    )
    api_max_batch: int = Field(
        default=1000, gt=0, description="Most locations in one POST /v1/forecast:batch."
    )
    api_min_recent_hours: int = Field(
        default=12,
        ge=1,
        le=24,
        description="Observed target hours, of the 24 up to the issue time, needed to forecast "
        "(fewer: 409).",
    )
    api_max_data_age_hours: float = Field(
        default=6.0,
        gt=0,
        description="Oldest newest-measurement a stored location is forecast from: older data "
        "answers 409 stale-data instead of a forecast issued hours or months in the past.",
    )
    api_forecast_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a stored location's forecast is reused for the same model "
        "version and newest measurement (0: never). Bounds how late backfilled older hours "
        "show up; a new measurement or model version is seen at once.",
    )
    api_coalesce_ms: float = Field(
        default=5.0,
        ge=0,
        le=100,
        description="Longest wait of a ready stored-location forecast for concurrent requests "
        "still reading the database, to share one predict with them (0: only those ready in "
        "the same event-loop turn). With nobody reading, a forecast never waits.",
    )
    api_db_pool_size: int = Field(
        default=4, gt=0, description="Connections in the read-only database pool."
    )
    api_db_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Longest wait for a pooled database connection."
    )
    api_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the API's JSON logs."
    )
    api_host: str = Field(default="127.0.0.1", description="Bind address of `aircast-api`.")
    api_port: int = Field(default=8000, gt=0, lt=65536, description="Port of `aircast-api`.")

    @field_validator("api_keys")
    @classmethod
    def _hashed_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        digests = [part.strip().lower() for part in value.get_secret_value().split(",")]
        if not digests or not all(_SHA256_HEX.match(digest) for digest in digests):
            # The message never echoes the value: it is a secret.
            raise ValueError(
                "must be comma-separated SHA-256 hex digests of the keys "
                '(e.g. `printf %s "$KEY" | sha256sum`), not the keys themselves'
            )
        return SecretStr(",".join(digests))

    @field_validator("api_parameters")
    @classmethod
    def _parameters(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",") if part.strip()]
        if not names or not all(_PARAMETER.match(name) for name in names):
            raise ValueError("must be comma-separated OpenAQ parameter names, e.g. pm25,no2")
        return ",".join(names)

    @model_validator(mode="after")
    def _keys_outside_development(self) -> ApiSettings:
        if self.env not in ("development", "test") and self.api_keys is None:
            raise ValueError(
                f"AIRCAST_API_KEYS is required when AIRCAST_ENV={self.env}: set it to the "
                "SHA-256 digests of the accepted keys"
            )
        return self

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameters served, in configuration order."""
        return tuple(self.api_parameters.split(","))

    def key_digests(self) -> tuple[bytes, ...]:
        """The accepted key digests as bytes, ready for constant-time comparison."""
        if self.api_keys is None:
            return ()
        return tuple(d.encode() for d in self.api_keys.get_secret_value().split(","))
