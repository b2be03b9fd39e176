"""Fixtures of the reproducible-build checks: the repository, the lock tooling as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_COMPONENTS = ("api", "mage", "mlflow")


@pytest.fixture(scope="session")
def lock_tool() -> ModuleType:
    """build/lock.py imported as a module (it is a script, not part of an installed package)."""
    spec = importlib.util.spec_from_file_location("aircast_build_lock", REPO / "build" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module through sys.modules while the class body runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
