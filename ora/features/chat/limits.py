"""How many /chat answers may run at once: per user and overall, across every process on the database.

Each answer holds a lease (`ora.core.store.leases`): at most `max_per_user` per user and `max_total` in all
count at once, whichever process runs them; a process that dies frees its leases. Over a limit the user is told
"busy" at once: a queue would outlive Discord's 15-minute interaction token and hide the problem from the user.
"""

from __future__ import annotations

import logging
from typing import Literal

from ora.core.store import StoreError, Transaction
from ora.core.store.leases import Grant, Held, Lease, Leases

log = logging.getLogger(__name__)

Refusal = Literal["user_busy", "server_busy"]
LEASE_NAME = "chat"


class ChatSlot:
    """One held slot; `release` is idempotent, so an answer can free its slot before its last edit."""

    def __init__(self, leases: Leases, lease: Lease) -> None:
        self._leases = leases
        self._lease: Lease | None = lease

    @property
    def held(self) -> bool:
        return self._lease is not None

    async def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await self._leases.release(lease)
        except StoreError as error:  # it still expires, and it is freed when this process leaves
            log.warning("could not free a /chat slot at once: %s", error)


class ChatLimiter:
    def __init__(self, leases: Leases, *, max_total: int, max_per_user: int, lease_seconds: float) -> None:
        self._leases = leases
        self.max_total = max_total
        self.max_per_user = max_per_user
        self._lease_seconds = lease_seconds  # a safety net: a slot is released when its answer ends

    async def acquire(self, user_id: int) -> ChatSlot | Refusal:
        async def admit(held: Held, _: Transaction) -> Grant | Refusal:
            if held.subject_count >= self.max_per_user:
                return "user_busy"
            if held.total >= self.max_total:
                return "server_busy"
            return Grant()

        found: Lease | Refusal = await self._leases.acquire(
            LEASE_NAME, str(user_id), ttl=self._lease_seconds, admit=admit
        )
        return ChatSlot(self._leases, found) if isinstance(found, Lease) else found
