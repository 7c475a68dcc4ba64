"""Suite-wide: every test is held to Discord's API contract as the emulator checks it.

The Discord emulator (ora.testing.discord) checks every REST request, its own answers and every
INTERACTION_CREATE against Discord's OpenAPI document, counting them in ``contract.LOG``. A test that leaves
a violation behind fails (at teardown, listing it); a test that provokes one on purpose takes it with
``emulator.take_violations()``. The closing summary prints the counts, and the session fails if any
violation is left.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ora.testing.discord.contract import LOG
from ora.testing.discord.openapi import SPEC_COMMIT, document


@pytest.fixture(autouse=True)
def _discord_contract() -> Iterator[None]:
    before = {id(v) for v in LOG.violations}
    yield
    left = [v for v in LOG.violations if id(v) not in before]
    if left:
        listed = "\n".join(v.describe() for v in left)
        pytest.fail(f"{len(left)} Discord API contract violation(s) left by this test:\n{listed}", pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not (LOG.requests or LOG.responses or LOG.dispatches):
        return
    mean_us = LOG.request_seconds / LOG.requests * 1e6 if LOG.requests else 0.0
    compiled_ms = document().compile_seconds * 1e3
    terminalreporter.write_line(
        f"Discord API contract (discord-api-spec {SPEC_COMMIT[:10]}): {LOG.requests} requests "
        f"(mean {mean_us:.0f} µs to check, plus {compiled_ms:.0f} ms compiling schemas once), "
        f"{LOG.responses} responses, {LOG.dispatches} interaction payloads checked; "
        f"{len(LOG.violations)} violation(s) left"
    )
    for violation in LOG.violations:
        terminalreporter.write_line(violation.describe())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if LOG.violations and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
