"""Waiting in tests for what cannot be awaited (another process's state in the database, a timer's effect)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

_T = TypeVar("_T")


async def eventually(check: Callable[[], Awaitable[_T]], *, timeout: float = 5.0, interval: float = 0.05) -> _T:
    """The first truthy result of `check()`, polled every `interval` seconds; TimeoutError after `timeout`."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)
