"""Prints how long the apply tests took at the end of the run (their budget is in the docs)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The per-environment step timings recorded by tests/infra/test_apply.py, if it ran."""
    from tests.infra import test_apply

    if test_apply.TIMINGS:
        terminalreporter.section("terraform apply against the emulator")
        for line in test_apply.TIMINGS:
            terminalreporter.write_line(line)
