"""A background task that deletes what has expired (one-time secrets, interaction tokens, stale leases) on a
timer, each feature adding its own step."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ora.core.cancellation import stop_task

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 60.0
Purge = Callable[[], Awaitable[int]]


class Housekeeping:
    """Runs every step now and every `interval` seconds until closed; a failing step is logged, not fatal."""

    def __init__(self, interval: float = PURGE_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._steps: list[tuple[str, Purge]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, what: str, purge: Purge) -> None:
        """`purge` deletes expired `what` and returns how many rows it removed."""
        self._steps.append((what, purge))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ora-housekeeping")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)

    async def run_once(self) -> int:
        removed = 0
        for what, purge in self._steps:
            try:
                count = await purge()
            except Exception as error:  # a full disk or a lost database: the next run may succeed
                log.warning("purging expired %s failed: %s", what, error)
                continue
            if count:
                log.debug("purged %d expired %s", count, what)
            removed += count
        return removed

    async def _run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)
