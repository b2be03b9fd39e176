"""JSON rendering for the hot paths.

Forecast routes build plain dicts and serialise them with orjson directly: re-validating
24,000 horizon rows of a batch through pydantic would cost more than the prediction. The
response models still document the shape, and the contract tests check every response
against them.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


def json_response(content: Any, status_code: int = 200) -> Response:
    """An ``application/json`` response rendered by orjson."""
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
