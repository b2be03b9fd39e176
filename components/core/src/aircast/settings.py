"""Configuration: one pydantic-settings class per concern, read from the environment.

Every variable is prefixed ``AIRCAST_`` except the names other tools already define
(``OPENAQ_API_KEY``, ``MLFLOW_TRACKING_URI``, ``AWS_*``). The README's configuration table is
generated from these classes by the dev kit (``hatch run config-table``) and a test keeps it
current.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIRCAST_", extra="ignore", frozen=True)


class DatabaseSettings(_Settings):
    """The ``aircast`` PostgreSQL database (measurements, locations, watermarks)."""

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://aircast@127.0.0.1:5432/aircast"),
        description="libpq URL of the aircast DB for writers (ingest, train).",
    )
    database_reader_url: SecretStr | None = Field(
        default=None,
        description="libpq URL of the aircast DB as the read-only role (the API). "
        "Falls back to AIRCAST_DATABASE_URL when unset.",
    )
    database_reader_role: str = Field(
        default="aircast_reader",
        description="Role granted SELECT on the aircast tables by the migrations.",
    )

    @field_validator("database_url", "database_reader_url")
    @classmethod
    def _libpq_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a libpq URL starting with postgresql://")
        return value

    def reader_url(self) -> str:
        """The URL the read-only paths use."""
        url = self.database_reader_url or self.database_url
        return url.get_secret_value()


class MlflowSettings(BaseSettings):
    """Where the MLflow tracking server is. Names are MLflow's own."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    tracking_uri: str = Field(
        default="http://127.0.0.1:5000",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "AIRCAST_MLFLOW_TRACKING_URI"),
        description="MLflow tracking server URL (MLFLOW_TRACKING_URI).",
    )


class OpenAQSettings(_Settings):
    """The OpenAQ v3 API and its public S3 archive (``aircast.openaq``)."""

    openaq_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAQ_API_KEY", "AIRCAST_OPENAQ_API_KEY"),
        description="OpenAQ API key (OPENAQ_API_KEY), sent as X-API-Key. Without it the demo "
        "uses the local synthetic OpenAQ server.",
    )
    openaq_base_url: str = Field(
        default="https://api.openaq.org/v3",
        description="Base URL of the OpenAQ v3 API (point it at the local server in tests).",
    )
    openaq_requests_per_minute: int = Field(
        default=60, ge=1, description="Request budget per rate window (free tier: 60/min)."
    )
    openaq_rate_window_seconds: float = Field(
        default=60.0, gt=0, description="Length of the rate-limit window in seconds."
    )
    openaq_timeout: float = Field(default=30.0, gt=0, description="Per-request timeout (s).")
    openaq_max_retries: int = Field(
        default=5, ge=0, description="Retries of 5xx answers, timeouts and dropped connections."
    )
    openaq_backoff_seconds: float = Field(
        default=1.0, ge=0, description="First retry delay; doubles per attempt, with jitter."
    )
    openaq_page_limit: int = Field(
        default=1000, ge=1, le=1000, description="Page size for /sensors/{id}/hours."
    )
    openaq_archive_bucket: str = Field(
        default="openaq-data-archive", description="Bucket of OpenAQ's public S3 archive."
    )
    openaq_archive_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint of the archive; unset means AWS (unsigned requests to the "
        "public bucket). Tests and the demo point it at the local stack's S3.",
    )
    openaq_archive_workers: int = Field(
        default=8, ge=1, le=64, description="Archive day files fetched concurrently."
    )


class IngestSettings(_Settings):
    """What `aircast ingest` and the Mage pipeline `ingest_openaq` fetch by default."""

    ingest_location_ids: str = Field(
        default="", description="Comma-separated OpenAQ location ids to ingest."
    )
    ingest_parameters: str = Field(
        default="pm25,temperature,relativehumidity",
        description="Comma-separated OpenAQ parameter names to ingest.",
    )
    ingest_initial_lookback_hours: int = Field(
        default=24 * 30,
        ge=1,
        description="Hours fetched from the API for a sensor that has no watermark yet and "
        "no history in the archive.",
    )
    ingest_archive_days: int = Field(
        default=365,
        ge=0,
        description="Days of history a location's first ingest reads from OpenAQ's public S3 "
        "archive before taking the recent tail from the API; 0 = API only.",
    )


class TrainingSettings(_Settings):
    """What `aircast train` and the Mage pipeline `train_forecaster` fit and how."""

    train_parameter: str = Field(default="pm25", description="OpenAQ parameter to forecast.")
    train_covariates: str = Field(
        default="pm10,no2,temperature,relativehumidity",
        description="Comma-separated co-located parameters used as features when reported.",
    )
    train_horizons: int = Field(default=24, ge=1, le=168, description="Forecast hours 1..N.")
    train_history_days: int = Field(
        default=365, ge=7, description="Days of measurements loaded for a training."
    )
    train_iterations: int = Field(default=300, ge=1, description="CatBoost boosting rounds.")
    train_depth: int = Field(default=6, ge=1, le=16, description="CatBoost tree depth.")
    train_learning_rate: float = Field(default=0.08, gt=0, description="CatBoost learning rate.")
    train_threads: int = Field(default=2, ge=1, description="CatBoost thread count.")
    train_seed: int = Field(default=0, description="Seed for CatBoost and row sampling.")
    train_max_rows: int = Field(
        default=200_000, ge=1000, description="Cap on (issue time, horizon) training rows."
    )
    train_backtest_days: int = Field(
        default=14, ge=1, description="Length of each rolling-origin backtest window."
    )
    train_backtest_folds: int = Field(
        default=1, ge=1, description="Number of rolling origins (refits) in the backtest."
    )
    train_calibration_days: int = Field(
        default=14, ge=0, description="Days before each origin held out to calibrate p10/p90."
    )
    train_cross_fit: bool = Field(
        default=True,
        description="Refit on the calibration days too, keeping the interval calibrated on "
        "them by a first fit that did not see them (two fits).",
    )
    train_experiment: str = Field(
        default="aircast-training", description="MLflow experiment of the training runs."
    )

    def covariates(self) -> tuple[str, ...]:
        """The covariate list, without the target and blanks."""
        names = (p.strip() for p in self.train_covariates.split(","))
        return tuple(p for p in names if p and p != self.train_parameter)


class GateSettings(_Settings):
    """The promotion gate: relative MAE margins a new version must beat to become champion."""

    gate_margin_over_champion: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Required relative MAE improvement over the current champion (0.02 = 2 %).",
    )
    gate_margin_over_persistence: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="Required relative MAE improvement over the persistence baseline.",
    )


def core_settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the core library, in README order."""
    return [
        DatabaseSettings,
        MlflowSettings,
        OpenAQSettings,
        IngestSettings,
        TrainingSettings,
        GateSettings,
    ]
