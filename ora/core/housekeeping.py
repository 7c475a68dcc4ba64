"""A background task that deletes expired one-time secrets on a timer, not only when someone runs /login."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 60.0


class Purgeable(Protocol):
    async def purge_expired(self) -> int: ...


class ExpiredRowsPurger:
    """Runs `purge_expired` now and every `interval` seconds until closed; a failure is logged, not fatal."""

    def __init__(self, store: Purgeable, interval: float = PURGE_INTERVAL_SECONDS) -> None:
        self._store = store
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ora-purge-expired")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                removed = await self._store.purge_expired()
            except Exception as error:  # a full disk or a locked file: the next run may succeed
                log.warning("purging expired login rows failed: %s", error)
            else:
                if removed:
                    log.debug("purged %d expired login row(s)", removed)
            await asyncio.sleep(self._interval)
