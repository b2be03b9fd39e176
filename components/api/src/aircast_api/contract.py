"""The committed API contract: render the app's OpenAPI document as ``contracts/openapi.yaml``.

``hatch run api:contract`` rewrites the file deliberately; ``tests/contract`` fails when the
app's generated schema differs from the committed one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HEADER = (
    "# The aircast API contract (OpenAPI 3.1), generated from the app by\n"
    "# `hatch run api:contract`. Clients use this file; a test fails when the app drifts.\n"
)


def openapi() -> dict[str, Any]:
    """The app's OpenAPI document, independent of the runtime settings."""
    from aircast_api.main import create_app
    from aircast_api.settings import ApiSettings

    schema: dict[str, Any] = create_app(ApiSettings(env="development", api_keys=None)).openapi()
    return schema


def render() -> str:
    """The contract file's text."""
    body = yaml.safe_dump(openapi(), sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    """Write the contract to the path given (default ``contracts/openapi.yaml``)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "contracts/openapi.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render()
    changed = not target.exists() or target.read_text(encoding="utf-8") != text
    target.write_text(text, encoding="utf-8")
    print(f"{target}: {'updated' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
