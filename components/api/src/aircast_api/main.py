"""The aircast inference API: ``app`` for uvicorn, ``run()`` for the ``aircast-api`` command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from aircast.settings import DatabaseSettings
from aircast_api import __version__, bodies, examples, logs, problems, runtime
from aircast_api.coalesce import ForecastCoalescer
from aircast_api.forecast_cache import ForecastCache
from aircast_api.history import HistoryReader
from aircast_api.lifecycle import ModelLifecycle
from aircast_api.middleware import RequestMiddleware
from aircast_api.routes import forecast, health, locations, model, nowcast
from aircast_api.routes import metrics as metrics_route
from aircast_api.settings import ApiSettings

ALIAS = "champion"

DESCRIPTION = """\
Hourly air-quality forecasts (1-24 h, point value with a p10-p90 interval) from the
`aircast-<parameter>@champion` CatBoost model in the MLflow registry.

Errors are RFC 9457 `application/problem+json`. Send `X-API-Key` when the service has keys
configured (always in AWS). Every response carries `X-Request-ID` (yours, when you send one).
"""


def operation_id(route: APIRoute) -> str:
    """Stable operationIds: the route function's name (the contract's clients depend on it)."""
    return route.name


def _default_lifecycle(settings: ApiSettings) -> ModelLifecycle:
    # The MLflow REST API through httpx, not the MLflow client: importing the client took
    # most of the start-up time (see aircast_api.model_store).
    from aircast.registry import model_name
    from aircast_api.model_store import ModelStore

    models = ModelStore()
    return ModelLifecycle(
        settings.parameters,
        ALIAS,
        load_model=models.load_model,
        champion_version=models.champion_version,
        model_name=model_name,
        poll_seconds=settings.model_poll_seconds,
    )


def create_app(
    settings: ApiSettings | None = None,
    *,
    lifecycle: ModelLifecycle | None = None,
    reader: HistoryReader | None = None,
) -> FastAPI:
    """Build the app. Tests pass their own lifecycle/reader; production builds them here."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.api_log_level)
        app.state.lifecycle = lifecycle or _default_lifecycle(settings)
        app.state.reader = reader or HistoryReader(
            DatabaseSettings().reader_url(),
            pool_size=settings.api_db_pool_size,
            timeout=settings.api_db_timeout_seconds,
        )
        await app.state.reader.open()
        app.state.lifecycle.start()
        runtime.tune_gc()
        try:
            yield
        finally:
            await app.state.lifecycle.stop()
            await app.state.reader.close()

    app = FastAPI(
        title="aircast API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.settings = settings
    app.state.forecast_cache = ForecastCache(settings.api_forecast_cache_seconds)
    app.state.coalescer = ForecastCoalescer(settings.api_coalesce_ms / 1000)
    problems.install(app)
    for router in (health.router, metrics_route.router, model.router, locations.router):
        app.include_router(router)
    app.include_router(forecast.router)
    app.include_router(nowcast.router)
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.api_max_body_bytes)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Add the schemas FastAPI does not see to the OpenAPI document: Problem (responses
    reference it) and the bodies read by :func:`aircast_api.bodies.json_body`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})

            def add(model: type[BaseModel]) -> None:
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(definition.pop("$defs", {}))
                schemas[model.__name__] = definition

            for model in bodies.BODY_MODELS:
                add(model)
            # FastAPI's own order (by name), then the problem schemas
            ordered = sorted(schemas.items())
            schemas.clear()
            schemas.update(ordered)
            add(problems.Problem)
            # Probes and metrics take a key only when configured closed: the key is optional.
            for path in ("/healthz", "/readyz", "/metrics"):
                schema["paths"][path]["get"]["security"] = [{}, {"ApiKey": []}]
            # RequestMiddleware stamps every response with the request id.
            schema["components"]["headers"] = {
                "X-Request-ID": {
                    "description": "The request's id: the caller's X-Request-ID when it is "
                    "1-128 characters of [A-Za-z0-9._:-], else a new one. Logged with the "
                    "request; quote it when reporting a problem.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                }
            }
            examples.add_examples(schema)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    for response in operation.get("responses", {}).values():
                        response.setdefault("headers", {})["X-Request-ID"] = {
                            "$ref": "#/components/headers/X-Request-ID"
                        }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app()


def run() -> None:
    """Serve with uvicorn on ``AIRCAST_API_HOST``:``AIRCAST_API_PORT``."""
    import uvicorn

    settings = ApiSettings()
    uvicorn.run(
        "aircast_api.main:app",
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        proxy_headers=True,
    )
