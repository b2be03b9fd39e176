"""The apply tests start with the session and report their timings at its end.

tests/infra/test_terraform_apply.py mostly waits on the AWS provider's polling delays: started
at collection, it waits while the tests before it (test_infra.py's terraform tests, and in
`hatch run test` the rest of the suite) use the CPU.
"""

from __future__ import annotations

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the environments' apply runs when a selected test needs them."""
    if session.config.option.collectonly:
        return
    if any("runs" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.infra import test_terraform_apply as test_apply

        test_apply.start_runs()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The step timings recorded by tests/infra/test_terraform_apply.py, if it ran."""
    from tests.infra import test_terraform_apply as test_apply

    if test_apply.TIMINGS:
        terminalreporter.section("terraform apply against the emulator")
        for line in test_apply.TIMINGS:
            terminalreporter.write_line(line)
