"""One pure-ASGI middleware for every request: request id, body limit, metrics, access log.

Pure ASGI (not ``BaseHTTPMiddleware``) because it wraps every request of a latency-sensitive
service; it adds a few microseconds, not a task per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aircast_api import metrics
from aircast_api.logs import REQUEST_ID
from aircast_api.problems import problem_response

_log = logging.getLogger("aircast_api.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HEADER = b"x-request-id"


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            text = str(value.decode("latin-1"))
            # Echo a caller's id only when it is harmless in logs and headers.
            if _SAFE_REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestMiddleware:
    """Request id in and out, 413 for oversized bodies, per-route metrics and access log."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        header_value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER, header_value)]
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI re-raises HTTPException from body reading; the problem handler
                    # renders it. Covers chunked bodies that carry no Content-Length.
                    raise HTTPException(413, self._too_large())
            return message

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body_bytes:
                response = problem_response(
                    scope["path"],
                    request_id,
                    413,
                    "payload-too-large",
                    "Payload too large",
                    self._too_large(),
                )
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, limited_receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            metrics.REQUESTS.labels(route=template, method=method, status=str(status)).inc()
            metrics.LATENCY.labels(route=template, method=method).observe(elapsed)
            _log.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            REQUEST_ID.reset(token)

    def _too_large(self) -> str:
        return f"The request body exceeds {self.max_body_bytes} bytes."
