"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Routes raise :class:`ProblemError`; the handlers registered by :func:`install` turn it, and
FastAPI's and Starlette's own errors, into the same document shape. The ``type`` URIs are
stable identifiers documented in docs/api.md (Errors); clients switch on them, not
on ``title``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://aircast.dev/problems/"
_log = logging.getLogger("aircast_api")


class InvalidParam(BaseModel):
    """One offending input: where it is and what is wrong with it."""

    name: str = Field(description="Location of the input, e.g. `body.history.0.value`.")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    type: str = Field(description="URI identifying the problem type.")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = Field(default=None, description="Echo of X-Request-ID.")
    invalid_params: list[InvalidParam] | None = Field(
        default=None, description="Present on 422: every offending field."
    )
    newest_observation: datetime | None = Field(
        default=None,
        description="Present on stale-data: hour-ending UTC time of the location's newest "
        "stored measurement.",
    )
    data_age_hours: float | None = Field(
        default=None, description="Present on stale-data: hours since `newest_observation`."
    )
    max_data_age_hours: float | None = Field(
        default=None,
        description="Present on stale-data: the configured limit "
        "(`AIRCAST_API_MAX_DATA_AGE_HOURS`).",
    )


class ProblemError(Exception):
    """Raised by routes and dependencies; rendered as problem+json."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        invalid_params: list[InvalidParam] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.invalid_params = invalid_params
        self.headers = headers
        self.extensions = extensions


def problem_response(
    request_path: str,
    request_id: str | None,
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    invalid_params: list[InvalidParam] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    """A problem+json response (also used by the ASGI middleware, which has no Request).

    ``extensions`` are RFC 9457 extension members (documented on :class:`Problem`).
    """
    body: dict[str, Any] = {
        "type": _TYPE_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request_path,
        "request_id": request_id,
    }
    if invalid_params is not None:
        body["invalid_params"] = [param.model_dump() for param in invalid_params]
    if extensions:
        body.update(extensions)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _render(request: Request, error: ProblemError) -> Response:
    return problem_response(
        request.url.path,
        getattr(request.state, "request_id", None),
        error.status,
        error.kind,
        error.title,
        error.detail,
        invalid_params=error.invalid_params,
        headers=error.headers,
        extensions=error.extensions,
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)  # noqa: S101 - registered for this type only
    return _render(request, exc)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return _render(
            request,
            ProblemError(400, "malformed-json", "Malformed JSON", "The body is not valid JSON."),
        )
    params = [
        InvalidParam(name=_location(error.get("loc", ())), reason=str(error.get("msg", "")))
        for error in errors
    ]
    first = params[0].name if params else "request"
    return _render(
        request,
        ProblemError(
            422,
            "validation-error",
            "Invalid request",
            f"{len(params)} invalid input(s), first: {first}",
            invalid_params=params,
        ),
    )


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    kinds = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}
    kind = kinds.get(exc.status_code, f"http-{exc.status_code}")
    return _render(
        request,
        ProblemError(
            exc.status_code,
            kind,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        ),
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (with the request id), never to the client.
    _log.error("unhandled error", exc_info=exc)
    return _render(
        request,
        ProblemError(500, "internal-error", "Internal error", "The server failed; see its logs."),
    )


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json for ``statuses``."""
    descriptions = {
        400: "Malformed JSON body.",
        401: "Missing or unknown X-API-Key.",
        404: "Unknown resource.",
        409: "History too short (or otherwise unusable) to forecast.",
        413: "Request body larger than the configured limit.",
        422: "Invalid input; `invalid_params` names every offending field.",
        503: "No model loaded yet (or the database is unreachable).",
    }
    return {
        status: {
            "description": descriptions[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
