"""Lists the screenshots the browser tests took in pytest's closing summary, so CI output shows where they are."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(path for path in ARTIFACTS.glob("*.png") if path.stat().st_mtime >= _STARTED)
    for path in shots:
        terminalreporter.write_line(f"browser screenshot: {path} ({path.stat().st_size} bytes)")
