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


class WeatherSettings(_Settings):
    """Open-Meteo weather forecasts (``aircast.weather``) and the ``ingest_weather`` pipeline."""

    weather_forecast_url: str = Field(
        default="https://api.open-meteo.com/v1/forecast",
        description="Open-Meteo Forecast API (live forecasts, for serving).",
    )
    weather_previous_runs_url: str = Field(
        default="https://previous-runs-api.open-meteo.com/v1/forecast",
        description="Open-Meteo Previous Runs API (forecasts made 1-7 days earlier, training).",
    )
    weather_historical_forecast_url: str = Field(
        default="https://historical-forecast-api.open-meteo.com/v1/forecast",
        description="Open-Meteo Historical Forecast API (archived first hours of model runs).",
    )
    weather_archive_url: str = Field(
        default="https://archive-api.open-meteo.com/v1/archive",
        description="Open-Meteo Historical Weather API (ERA5 reanalysis: observed, not forecast).",
    )
    weather_api_key: SecretStr | None = Field(
        default=None,
        description="Open-Meteo commercial API key (sent as apikey); unset for the free tier.",
    )
    weather_model: str = Field(
        default="best_match", description="Open-Meteo model (models=); best_match lets it pick."
    )
    weather_forecast_hours: int = Field(
        default=48, ge=1, le=384, description="Hours ahead ingest_weather keeps current."
    )
    weather_requests_per_minute: int = Field(
        default=300, ge=1, description="Request budget per minute (free tier: 600/min)."
    )
    weather_timeout: float = Field(default=30.0, gt=0, description="Per-request timeout (s).")
    weather_max_retries: int = Field(
        default=5, ge=0, description="Retries of 429/5xx answers, timeouts and dropped connections."
    )
    weather_backoff_seconds: float = Field(
        default=1.0, ge=0, description="First retry delay; doubles per attempt, with jitter."
    )
    weather_batch_locations: int = Field(
        default=50, ge=1, le=1000, description="Coordinates asked in one Open-Meteo request."
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
    train_weather: str = Field(
        default="",
        description="Weather-forecast covariates (docs/weather.md): `default` for wind u/v and "
        "speed, temperature, dew point, pressure, precipitation and boundary-layer height, or a "
        "comma list; empty: none. Needs `aircast weather backfill` history to be useful.",
    )
    train_horizons: int = Field(default=24, ge=1, le=168, description="Forecast hours 1..N.")
    train_history_days: int = Field(
        default=365,
        ge=7,
        description="Days of measurements loaded for a training, ending at the newest stored "
        "measurement of the target parameter (or at `aircast train --until`).",
    )
    train_iterations: int = Field(default=300, ge=1, description="CatBoost boosting rounds.")
    train_depth: int = Field(default=6, ge=1, le=16, description="CatBoost tree depth.")
    train_learning_rate: float = Field(default=0.08, gt=0, description="CatBoost learning rate.")
    train_threads: int = Field(default=2, ge=1, description="CatBoost thread count.")
    train_seed: int = Field(default=0, description="Seed for CatBoost and row sampling.")
    train_max_rows: int = Field(
        default=200_000, ge=1000, description="Cap on (issue time, horizon) training rows."
    )
    train_calibration_days: int = Field(
        default=365,
        ge=0,
        description="Most days held out of the trees at the end of each backtest fold's "
        "history (a third of it, at least 2) to fit its combination weights and calibrate "
        "p10/p90; 0 holds nothing out, for the candidate too (the trees alone).",
    )
    train_cross_fit: bool = Field(
        default=True,
        description="Fit the candidate's trees on every row and its combination weights and "
        "p10/p90 calibration on cross-fitted forecasts of the whole window "
        "(AIRCAST_TRAIN_CROSS_BLOCKS + 1 fits); off: one fit on all but a held-out tail.",
    )
    train_cross_blocks: int = Field(
        default=3,
        ge=2,
        le=12,
        description="Contiguous blocks the window is cut into for the cross-fitting, each "
        "forecast by trees fitted on the others.",
    )
    train_experiment: str = Field(
        default="aircast-training", description="MLflow experiment of the training runs."
    )

    def covariates(self) -> tuple[str, ...]:
        """The covariate list, without the target and blanks."""
        names = (p.strip() for p in self.train_covariates.split(","))
        return tuple(p for p in names if p and p != self.train_parameter)

    def weather(self) -> tuple[str, ...]:
        """The weather covariates (``default`` expands to the features' default set)."""
        from aircast.features import DEFAULT_WEATHER

        names = [p.strip() for p in self.train_weather.split(",") if p.strip()]
        if names == ["default"]:
            return DEFAULT_WEATHER
        return tuple(names)


class GateSettings(_Settings):
    """The promotion gate: the rolling-origin folds it scores on and the rule it applies
    (docs/training-and-gate.md)."""

    gate_folds: int = Field(
        default=4,
        ge=1,
        le=12,
        description="Backtest folds (refits) spread over the history; fewer when the history "
        "is too short for that many folds of gate_min_fold_hours.",
    )
    gate_min_train_days: int = Field(
        default=7,
        ge=1,
        description="Days the first fold's model fits on, after holding out its share "
        "(the warm-up before the first fold: these days plus up to twice as many held out).",
    )
    gate_min_fold_hours: int = Field(
        default=24, ge=1, description="Shortest fold; with less history than one fold, no gate."
    )
    gate_max_fold_days: int = Field(
        default=14,
        ge=1,
        description="Longest fold; longer histories spread the folds apart instead.",
    )
    gate_horizon_tolerance: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="Per-horizon relative tolerance: a candidate may be at most this much "
        "worse than persistence (and than the champion) at any one horizon (0.05 = 5 %).",
    )
    gate_margin_over_champion: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Required relative improvement of the horizon-averaged MAE over the "
        "champion's on the same cells (0 = strictly better).",
    )
    gate_margin_over_persistence: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Required relative improvement of the horizon-averaged MAE over "
        "persistence's (0 = strictly better).",
    )


class ArchiveSettings(_Settings):
    """The forecast archive: what the Mage pipeline ``issue_forecasts`` issues and keeps."""

    archive_parameters: str = Field(
        default="pm25",
        description="Comma-separated parameters whose champion issues archived forecasts.",
    )
    archive_active_hours: int = Field(
        default=6,
        ge=1,
        description="A location is active when its newest observation is at most this many "
        "hours old; only active locations are issued a forecast.",
    )
    archive_min_recent_hours: int = Field(
        default=12,
        ge=1,
        le=24,
        description="Observed hours (of the 24 up to the issue time) a location needs to be "
        "issued a forecast: the API's AIRCAST_API_MIN_RECENT_HOURS rule.",
    )
    archive_chunk_locations: int = Field(
        default=1000,
        ge=1,
        description="Locations per committed write: a killed run keeps its finished chunks.",
    )
    archive_retention_days: int = Field(
        default=400,
        ge=31,
        description="Forecasts issued longer ago are deleted (whole monthly partitions are "
        "dropped; the rest of the oldest month is deleted row by row).",
    )


class VerificationSettings(_Settings):
    """Live verification of archived forecasts, the drift alarms and the retraining trigger."""

    verify_lookback_hours: int = Field(
        default=48,
        ge=1,
        description="Target hours re-examined per run, so late observations are still scored.",
    )
    verify_skill_floor: float = Field(
        default=0.0,
        description="Alarm when a parameter's live 24 h skill over 7 days (1 - MAE / "
        "persistence MAE, all locations) falls below this.",
    )
    verify_skill_horizon: int = Field(
        default=24, ge=1, le=168, description="Horizon whose 7-day skill the floor applies to."
    )
    verify_min_pairs: int = Field(
        default=48,
        ge=1,
        description="Scored target times the 7-day skill needs before it can raise an alarm.",
    )
    verify_psi_threshold: float = Field(
        default=0.25,
        gt=0,
        description="Alarm when a key feature's population stability index (recent "
        "observations vs the training data) exceeds this.",
    )
    verify_drift_hours: int = Field(
        default=168, ge=1, description="Hours of recent observations compared for drift."
    )
    verify_alarm_cooldown_hours: int = Field(
        default=24,
        ge=0,
        description="An alarm of the same kind and parameter is not raised (nor retraining "
        "started) again within this many hours.",
    )
    retrain_trigger_url: str | None = Field(
        default=None,
        description="Mage API trigger of train_forecaster, without the token: "
        "http://HOST:6789/api/pipeline_schedules/ID/pipeline_runs. Unset: alarms only.",
    )
    retrain_trigger_token: SecretStr | None = Field(
        default=None, description="Token of that Mage API trigger (appended to the URL)."
    )
    verify_mlflow: bool = Field(
        default=True,
        description="Log live metrics to the MLflow run of each scored model version.",
    )


def core_settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the core library, in README order."""
    return [
        DatabaseSettings,
        MlflowSettings,
        OpenAQSettings,
        WeatherSettings,
        IngestSettings,
        TrainingSettings,
        GateSettings,
        ArchiveSettings,
        VerificationSettings,
    ]
