"""Request and response schemas of the v1 API (the contract's ``components/schemas``).

Numbers are strict: JSON booleans and strings are refused where a number is expected. An
integer field accepts ``3.0`` (JSON Schema counts it as an integer) but never ``3.5``.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)

from aircast.parameters import TARGETS
from aircast_api.air_quality import HourlyAqi

# The parameters aircast forecasts, from the core's catalogue (the contract's enum).
PARAMETERS = TARGETS
HORIZON_PATTERN = r"^([1-9]|1[0-9]|2[0-4])(\.\.([1-9]|1[0-9]|2[0-4]))?$"
MAX_HISTORY_VALUES = 24 * 31
# Physical measurements are far inside this range; the bound keeps arithmetic on them finite.
VALUE_LIMIT = 1.0e6


# The IANA zones of the pinned tzdata package (not the host's). The contract does not inline
# them as an enum: ~600 names collide once client generators turn them into identifiers
# (openapi-python-client makes GMT+0 and GMT0 both GMT0, and refuses the contract); it names
# the format, and the validator answers 422 naming the field for a zone the database lacks.
TIMEZONES = tuple(sorted(importlib.resources.files("tzdata").joinpath("zones").read_text().split()))
_TIMEZONE_SET = frozenset(TIMEZONES)
TIMEZONE_FORMAT = "iana-time-zone"
"""The contract's ``format`` of a time zone: a name of the IANA tz database."""


def _known_zone(value: str) -> str:
    if value not in _TIMEZONE_SET:
        raise ValueError("unknown IANA time zone, e.g. Europe/Paris")
    return value


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339_text(value: Any) -> Any:
    # FastAPI validates bodies in pydantic's Python mode, where a lax datetime also takes
    # numbers (epoch seconds): the contract says RFC 3339 string, so only that passes.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time string with an offset, e.g. 2024-03-01T12:00:00Z"
        )
    return value


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral), Strict()]
JsonFloat = Annotated[float, Strict()]
if TYPE_CHECKING:
    Parameter = str
else:
    # Literal of a tuple is the Literal of its items: the enum follows the catalogue.
    Parameter = Literal[PARAMETERS]
Horizons = Annotated[
    str,
    Field(
        pattern=HORIZON_PATTERN,
        description="Hours ahead: one hour (`6`) or an inclusive range (`1..24`), within 1..24.",
        examples=["1..24"],
    ),
]
TimeZone = Annotated[
    str,
    Strict(),
    AfterValidator(_known_zone),
    WithJsonSchema(
        {
            "type": "string",
            "format": TIMEZONE_FORMAT,
            "examples": ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"],
        }
    ),
]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
Measurement = Annotated[JsonFloat, Field(ge=-VALUE_LIMIT, le=VALUE_LIMIT)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- health


class Health(_Output):
    status: Literal["ok"] = "ok"


class DatabaseStatus(_Output):
    configured: bool
    reachable: bool


class ModelStatus(_Output):
    parameter: str
    loaded: bool
    version: int | None = None
    age_seconds: float | None = Field(
        default=None, description="Seconds since the served version was trained."
    )
    loaded_at: dt.datetime | None = None
    registry_reachable: bool = Field(
        description="False when the last alias check or load failed; the last good model is "
        "still served."
    )
    last_error: str | None = None


class Readiness(_Output):
    status: Literal["ready", "not_ready"]
    database: DatabaseStatus
    models: list[ModelStatus]


# ---------------------------------------------------------------- model


class ModelInfo(_Output):
    parameter: str
    name: str
    version: int
    alias: str
    kind: Literal["catboost", "baseline"] = Field(
        default="catboost",
        description="`catboost`: a trained model; `baseline`: the persistence / recent-mean "
        "combination served before there is history enough to train (no trees).",
    )
    run_id: str
    trained_at: dt.datetime | None
    loaded_at: dt.datetime
    unit: str
    feature_names: list[str]
    metrics: dict[str, float] = Field(
        description="Backtest metrics of the version, e.g. `mae_h1` … `mae_h24`."
    )
    registry_reachable: bool
    last_error: str | None = None


# ---------------------------------------------------------------- locations


class Latest(_Output):
    datetime: dt.datetime = Field(description="Hour-ending UTC time of the newest measurement.")
    value: float


class LocationOut(_Output):
    location_id: int
    name: str
    timezone: str
    latitude: float | None
    longitude: float | None
    country: str | None
    latest: Latest | None = Field(description="Newest measurement of `parameter`, if any.")
    newest_observation: dt.datetime | None = Field(
        description="Hour-ending UTC time of the newest stored `parameter` measurement (null: "
        "none yet). A forecast needs it within `AIRCAST_API_MAX_DATA_AGE_HOURS` of now.",
    )


class LocationPage(_Output):
    items: list[LocationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


# ---------------------------------------------------------------- forecasts


class HorizonForecast(_Output):
    horizon: int = Field(ge=1, le=24)
    target_time: dt.datetime = Field(description="Hour-ending UTC time the value is forecast for.")
    point: float
    p10: float
    p90: float
    aqi: HourlyAqi | None = Field(
        description="Hourly-equivalent US EPA AQI of `point`, `p10` and `p90` (not the "
        "official 24-hour AQI); null for parameters other than pm25 and pm10."
    )


class Forecast(_Output):
    location_id: int
    parameter: str
    unit: str
    model_version: int
    issue_time: dt.datetime = Field(
        description="Hour-ending UTC time of the newest observation the forecast uses."
    )
    forecasts: list[HorizonForecast]
    data_age_hours: float = Field(
        description="Hours from the newest observation the forecast uses to when it was "
        "served (negative if that observation is stamped after the server's clock). Stored "
        "locations older than `AIRCAST_API_MAX_DATA_AGE_HOURS` are refused (409 stale-data); "
        "caller-supplied histories are not, but report their age the same way."
    )


class Series(_Input):
    """Hourly values of one parameter, oldest first, ending at ``end``."""

    parameter: Parameter
    end: Timestamp = Field(
        description="Hour-ending time of the last value (truncated to the hour)."
    )
    values: list[Measurement | None] = Field(
        min_length=1,
        max_length=MAX_HISTORY_VALUES,
        description="One value per hour, oldest first; null for a missing hour.",
    )


WeatherValues = list[Measurement | None]


def _weather_list(description: str) -> Any:
    return Field(
        default=None, max_length=MAX_WEATHER_HOURS, description=f"{description}; null: unknown."
    )


MAX_WEATHER_HOURS = 24 * 7


class WeatherForecast(_Input):
    """The weather forecast the caller has at the issue time (Open-Meteo's hourly variables
    and units), one value per hour from ``start``. Every variable is optional: a model trained
    with weather uses what is given and answers by its fallback for the rest (docs/weather.md)."""

    start: Timestamp = Field(description="Hour-ending time of the first value of every list.")
    temperature_2m: WeatherValues | None = _weather_list("Air temperature at 2 m, °C")
    dew_point_2m: WeatherValues | None = _weather_list("Dew point at 2 m, °C")
    relative_humidity_2m: WeatherValues | None = _weather_list("Relative humidity at 2 m, %")
    surface_pressure: WeatherValues | None = _weather_list("Surface pressure, hPa")
    precipitation: WeatherValues | None = _weather_list("Precipitation over the hour, mm")
    wind_speed_10m: WeatherValues | None = _weather_list("Wind speed at 10 m, m/s")
    wind_direction_10m: WeatherValues | None = _weather_list(
        "Wind direction at 10 m (where it comes from), degrees"
    )
    boundary_layer_height: WeatherValues | None = _weather_list("Boundary-layer height, m")
    cloud_cover: WeatherValues | None = _weather_list("Cloud cover, %")


class LocationHistory(_Input):
    location_id: JsonInt = Field(
        default=0, ge=0, le=2**53, description="Echoed in the response; any id of yours."
    )
    timezone: TimeZone = Field(
        default="UTC",
        description="IANA time zone of the location (for local-time features), a name of the "
        "tz database such as `Europe/Paris`; a name it does not know is refused with 422 "
        "naming this field.",
    )
    latitude: JsonFloat | None = Field(default=None, ge=-90, le=90)
    longitude: JsonFloat | None = Field(default=None, ge=-180, le=180)
    history: list[Series] = Field(
        min_length=1,
        max_length=12,
        description="Series of the location's parameters. Series of one parameter may "
        "overlap: an hour takes the mean of their non-null values (the training rule). "
        "Parameters the model does not use are ignored.",
    )
    weather: WeatherForecast | None = Field(
        default=None,
        description="Optional weather forecast for the hours around and after the issue time "
        "(the newest target value's hour), as known then. Used by models trained with weather "
        "covariates; ignored by the others. Without it such a model answers by its no-weather "
        "fallback.",
    )


class ForecastRequest(LocationHistory):
    parameter: Parameter = "pm25"
    horizons: Horizons = "1..24"


class BatchRequest(_Input):
    parameter: Parameter = "pm25"
    horizons: Horizons = "1..24"
    locations: list[LocationHistory] = Field(min_length=1, max_length=1000)


class BatchItem(_Output):
    index: int = Field(description="Position of the location in the request.")
    location_id: int
    forecast: Forecast | None
    error: str | None = Field(description="Why this location has no forecast (e.g. too short).")


class BatchForecast(_Output):
    parameter: str
    model_version: int
    items: list[BatchItem]


# ---------------------------------------------------------------- archive and verification


class ArchivedForecast(_Output):
    """A forecast as the archive issued it (``issue_forecasts``, hourly)."""

    location_id: int
    parameter: str
    unit: str
    model_version: int = Field(description="The champion version that issued it.")
    issue_time: dt.datetime = Field(
        description="Hour-ending UTC time of the newest observation the forecast used."
    )
    forecasts: list[HorizonForecast]


class ArchivedForecastPage(_Output):
    """Archived forecasts of one location, oldest issue first."""

    items: list[ArchivedForecast]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


VerificationWindow = Literal["24h", "7d", "30d"]


class VerificationScore(_Output):
    """Live verification of one (location, parameter, model version, horizon, window)."""

    location_id: int
    parameter: str
    model_version: int
    horizon: int = Field(ge=1, le=168)
    window: VerificationWindow
    window_start: dt.datetime = Field(description="Scored target times are after this ...")
    window_end: dt.datetime = Field(description="... and at or before this.")
    pairs: int = Field(
        ge=1, description="Scored target times (the same for every horizon of a comparison)."
    )
    mae: float
    bias: float = Field(description="Mean of forecast minus observed.")
    rmse: float
    coverage: float = Field(ge=0, le=1, description="Share of observations inside p10..p90.")
    persistence_mae: float = Field(
        description="MAE of the persistence forecast available at each issue time."
    )
    skill: float | None = Field(
        description="1 - mae / persistence_mae (null when persistence made no error)."
    )


class VerificationPage(_Output):
    """Verification figures, by location, model version, window and horizon."""

    items: list[VerificationScore]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page of locations; null on the last."
    )
