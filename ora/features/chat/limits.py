"""How many /chat answers may run at once: per user and overall. Over the limit, say "busy" at once.

A queue would outlive Discord's 15-minute interaction token and hide the problem from the user, so a
request that does not fit is refused immediately instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Refusal = Literal["user_busy", "server_busy"]


class ChatSlot:
    """One held slot; :meth:`release` is idempotent, so an answer can free its slot before its last edit."""

    def __init__(self, limiter: ChatLimiter, user_id: int) -> None:
        self._limiter = limiter
        self._user_id = user_id
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter._release(self._user_id)


class ChatLimiter:
    def __init__(self, *, max_total: int, max_per_user: int) -> None:
        self.max_total = max_total
        self.max_per_user = max_per_user
        self._per_user: Counter[int] = Counter()
        self._total = 0

    def refusal(self, user_id: int) -> Refusal | None:
        if self._per_user[user_id] >= self.max_per_user:
            return "user_busy"
        if self._total >= self.max_total:
            return "server_busy"
        return None

    def acquire(self, user_id: int) -> ChatSlot:
        """Take one slot for `user_id`; check `refusal()` first (single-threaded asyncio: no race between)."""
        if self.refusal(user_id) is not None:
            raise RuntimeError("no free chat slot; call refusal() first")
        self._per_user[user_id] += 1
        self._total += 1
        return ChatSlot(self, user_id)

    @contextmanager
    def slot(self, user_id: int) -> Iterator[ChatSlot]:
        """Hold one slot for the block (or until the slot is released earlier)."""
        held = self.acquire(user_id)
        try:
            yield held
        finally:
            held.release()

    def _release(self, user_id: int) -> None:
        self._total -= 1
        self._per_user[user_id] -= 1
        if self._per_user[user_id] <= 0:
            del self._per_user[user_id]
