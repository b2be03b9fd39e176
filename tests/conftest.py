"""Shared fixtures: the local service stack, started once per test session.

The stack (PostgreSQL, an S3 endpoint, the real MLflow server) comes from ``aircast.stack``,
the same module the demo uses. It starts on first use and stops when the session ends, even
when tests fail or the run is interrupted; a failing test that used it gets the services' log
tails attached to its report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aircast.stack import Stack, running_stack

_STACK: Stack | None = None


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The running local stack; its variables are exported for the duration of the session."""
    global _STACK  # noqa: PLW0603 - the report hook below needs the running stack
    with running_stack() as running:
        _STACK = running
        saved = {key: os.environ.get(key) for key in running.env()}
        os.environ.update(running.env())
        try:
            yield running
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _STACK = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the services' log tails to the report of a failing test that used the stack."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _STACK is not None and "stack" in getattr(item, "fixturenames", ()):
        for name, tail in _STACK.log_tails().items():
            report.sections.append((f"service log: {name}", tail))
