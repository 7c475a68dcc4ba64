"""Publish a growing text at most once per interval: the first update at once, the last one always.

`EditPacer` knows nothing about Discord: it calls `publish(text)` and is told about new text with
`update(text)`. The chat command feeds it from the LLM stream and publishes by editing messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Publish = Callable[[str], Awaitable[None]]


class EditPacer:
    def __init__(self, publish: Publish, *, interval: float = 1.0) -> None:
        self._publish = publish
        self._interval = interval
        self._latest = ""
        self._published = ""
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chat edit pacer")

    def update(self, text: str) -> None:
        self._latest = text
        if text != self._published:
            self._dirty.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            text = self._latest
            started = loop.time()
            await self._publish_once(text)
            # Pacing, not waiting for an event: Discord allows about one edit per second per message.
            await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))

    async def _publish_once(self, text: str) -> None:
        if not text or text == self._published:
            return
        try:
            await self._publish(text)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A failed intermediate edit is not fatal: the next one (or the final one) carries all the text.
            log.warning("an intermediate /chat edit failed", exc_info=True)
            return
        self._published = text

    async def finish(self, final_text: str) -> None:
        """Stop pacing and publish `final_text` (errors of this last publish propagate)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if final_text and final_text != self._published:
            await self._publish(final_text)
            self._published = final_text

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
