"""Publish a growing text at most once per interval: the first update at once, the last one always.

`EditPacer` knows nothing about Discord: it calls `publish(text)` and is told about new text with
`update(text)`. The chat command feeds it from the LLM stream and publishes by editing messages.

Intermediate publications go through `in_progress` (the chat command adds a cursor), so the final text,
published by `finish`, is the first publication that shows exactly it: whoever sees it knows the answer
is complete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ora.core.cancellation import stop_task
from ora.features.chat.splitting import fence_language

log = logging.getLogger(__name__)

Publish = Callable[[str], Awaitable[None]]
STREAMING_CURSOR = "▌"


def with_cursor(text: str) -> str:
    """``text`` with a cursor that says more is coming.

    The cursor is glued to the last word (a no-break space), so splitting never puts it in a message of its
    own: while a publication edits message after message, no moment shows exactly the final messages.
    After a code fence line it goes on a line of its own (a fence line must stay one).
    """
    text = text.rstrip()
    if fence_language(text.rsplit("\n", 1)[-1]) is not None:
        return f"{text}\n{STREAMING_CURSOR}"
    return f"{text}\u00a0{STREAMING_CURSOR}"


def _unchanged(text: str) -> str:
    return text


class EditPacer:
    def __init__(
        self, publish: Publish, *, interval: float = 1.0, in_progress: Callable[[str], str] = _unchanged
    ) -> None:
        self._publish = publish
        self._interval = interval
        self._in_progress = in_progress
        self._latest = ""
        self._published = ""  # as shown, decoration included
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Held while a publication runs: stopping waits for it rather than cancel it halfway, where a message
        # Discord has created would be lost to us (and posted again by the next publication).
        self._publishing = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chat edit pacer")

    def update(self, text: str) -> None:
        self._latest = text
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
        shown = self._in_progress(text) if text else ""
        if not shown or shown == self._published:
            return
        async with self._publishing:
            try:
                await self._publish(shown)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failed intermediate edit is not fatal: the next one (or the final one) carries all the text.
                log.warning("an intermediate /chat edit failed", exc_info=True)
                return
            self._published = shown

    async def finish(self, final_text: str) -> None:
        """Stop pacing and publish `final_text` (errors of this last publish propagate)."""
        async with self._publishing:
            await self._stop()
            if final_text and final_text != self._published:
                await self._publish(final_text)
                self._published = final_text

    async def cancel(self) -> None:
        """Stop pacing (after the publication in progress, if any)."""
        async with self._publishing:
            await self._stop()

    async def _stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
