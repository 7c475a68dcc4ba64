"""Headless Chromium for tests: Debian's build, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import BrowserContext, async_playwright

CHROMIUM = Path(os.environ.get("ORA_CHROMIUM", "/usr/bin/chromium"))
# Runs as root in a container: no sandbox; no network besides the pages under test.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def browser_required() -> bool:
    """CI sets ORA_REQUIRE_BROWSER=1: there a missing browser fails the tests instead of skipping them."""
    return bool(os.environ.get("ORA_REQUIRE_BROWSER"))


def skip_reason() -> str | None:
    """Why browser tests cannot run here, or None."""
    if CHROMIUM.exists() or browser_required():
        return None
    return f"{CHROMIUM} is missing (apt-get install -y chromium)"


@asynccontextmanager
async def chromium_context(profile: Path, *, locale: str = "en-US") -> AsyncIterator[BrowserContext]:
    """A fresh persistent profile in `profile`, closed on exit."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=list(CHROMIUM_ARGS),
            headless=True,
            locale=locale,
            timeout=30_000,
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            await context.close()
