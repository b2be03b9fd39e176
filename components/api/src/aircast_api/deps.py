"""Request dependencies as ``Annotated`` aliases, so routes read as what they need."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from aircast_api.coalesce import ForecastCoalescer
from aircast_api.forecast_cache import ForecastCache
from aircast_api.history import HistoryReader
from aircast_api.lifecycle import ModelLifecycle
from aircast_api.problems import ProblemError
from aircast_api.service import ForecastService, served_model
from aircast_api.settings import ApiSettings

__all__ = [
    "CacheDep",
    "CoalescerDep",
    "LifecycleDep",
    "ReaderDep",
    "ServiceDep",
    "SettingsDep",
    "require_api_key",
    "require_api_key_unless_open",
    "served_model",
]

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key; required whenever the service has keys configured (always in AWS).",
)


async def get_settings(request: Request) -> ApiSettings:
    """The settings the app was built with."""
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_lifecycle(request: Request) -> ModelLifecycle:
    """The model lifecycle (served models per parameter)."""
    lifecycle: ModelLifecycle = request.app.state.lifecycle
    return lifecycle


async def get_reader(request: Request) -> HistoryReader:
    """The read-only database access."""
    reader: HistoryReader = request.app.state.reader
    return reader


async def get_forecast_cache(request: Request) -> ForecastCache:
    """The cache of rendered stored-location forecasts."""
    cache: ForecastCache = request.app.state.forecast_cache
    return cache


async def get_coalescer(request: Request) -> ForecastCoalescer:
    """The micro-batcher of concurrent forecasts."""
    coalescer: ForecastCoalescer = request.app.state.coalescer
    return coalescer


async def get_service(request: Request) -> ForecastService:
    """The forecast service (every forecast route's one call)."""
    service: ForecastService = request.app.state.service
    return service


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
ServiceDep = Annotated[ForecastService, Depends(get_service)]
CoalescerDep = Annotated[ForecastCoalescer, Depends(get_coalescer)]
CacheDep = Annotated[ForecastCache, Depends(get_forecast_cache)]
LifecycleDep = Annotated[ModelLifecycle, Depends(get_lifecycle)]
ReaderDep = Annotated[HistoryReader, Depends(get_reader)]


def key_accepted(presented: str | None, digests: tuple[bytes, ...]) -> bool:
    """Whether ``presented`` hashes to one of ``digests``, compared in constant time.

    Every digest is compared (no early exit), so the timing does not reveal which one matched.
    """
    if presented is None:
        return False
    digest = hashlib.sha256(presented.encode()).hexdigest().encode()
    matched = False
    for expected in digests:
        matched |= hmac.compare_digest(digest, expected)
    return matched


def _unauthorized() -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Unauthorized",
        "A valid X-API-Key header is required.",
        headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
    )


def _check_key(settings: ApiSettings, key: str | None) -> None:
    digests = settings.key_digests()
    if digests and not key_accepted(key, digests):
        raise _unauthorized()


# The dependencies are coroutines although nothing in them awaits: FastAPI runs a plain
# ``def`` dependency in its thread pool, and those hand-offs cost more than the forecast.
async def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Security(api_key_header)]
) -> None:
    """Refuse the request unless keys are unset or ``X-API-Key`` is one of them."""
    _check_key(settings, key)


async def require_api_key_unless_open(
    settings: SettingsDep, key: Annotated[str | None, Security(api_key_header)]
) -> None:
    """Like :func:`require_api_key`, but waived when health routes are configured open."""
    if not settings.api_open_health:
        _check_key(settings, key)
