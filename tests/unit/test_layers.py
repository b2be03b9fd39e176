"""The layering rule: the core library knows no HTTP service, no orchestrator and no dev tooling.

Walks the import statements of every module (top level and inside functions), so a lazy import
counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "components" / "core" / "src" / "aircast"
API = REPO / "components" / "api" / "src" / "aircast_api"

# What each layer must never import (top-level package names).
FORBIDDEN = {
    CORE: {"aircast_api", "aircast_dev", "aircast_mage", "mage_ai", "fastapi", "uvicorn"},
    API: {"aircast_dev", "aircast_mage", "mage_ai"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every absolute import in ``path``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_walker_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from aircast_dev.stack import Stack\n")
    assert imported_packages(module) == {"os", "aircast_dev"}


@pytest.mark.parametrize("layer", list(FORBIDDEN), ids=lambda p: p.name)
def test_layer_imports_nothing_above_it(layer: Path) -> None:
    modules = sorted(layer.rglob("*.py"))
    assert len(modules) > 10
    offending = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) & FORBIDDEN[layer])
        for path in modules
    }
    assert {path: names for path, names in offending.items() if names} == {}
