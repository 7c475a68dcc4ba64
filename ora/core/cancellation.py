"""Cancellation done right: steps that must run to their end (a COMMIT, a file's row, returning a pooled
connection), and stopping a background task without swallowing the caller's own cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

_T = TypeVar("_T")
log = logging.getLogger(__name__)


async def run_to_end(step: Awaitable[_T]) -> tuple[_T, bool]:
    """Await `step` to its end whatever happens to the caller meanwhile.

    Returns the step's result and whether the caller was cancelled while it ran; the caller decides whether to
    raise that cancellation afterwards. The step's own exception (or its own cancellation) propagates.
    """
    task = asyncio.ensure_future(step)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    return task.result(), cancelled


async def finish_then_cancel(step: Awaitable[_T]) -> _T:
    """Await `step` to its end; if the caller was cancelled meanwhile, raise that cancellation afterwards."""
    result, cancelled = await run_to_end(step)
    if cancelled:
        raise asyncio.CancelledError
    return result


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended. Unlike awaiting it under `suppress(CancelledError)`, a
    cancellation of the caller itself is not swallowed (it propagates as usual)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.warning("task %s ended with an error while stopping", task.get_name(), exc_info=task.exception())
