"""Steps that must run to their end even when the task awaiting them is cancelled (a COMMIT, a file's row)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


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
