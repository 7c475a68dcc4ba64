"""Counted leases shared by every process on the database: "at most N at a time", per subject and in all.

A lease names what it limits (`name`, e.g. "chat"), whom (`subject`, e.g. a user id), an optional `amount` (e.g.
bytes reserved against a quota), the process holding it, and an expiry. It counts while it has not expired and
its process is alive, so a crash frees what the dead process held without anyone releasing it. Acquiring runs
in a transaction that locks the lease name: two processes cannot both take the last free place.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

from ora.core.store import Store, Transaction
from ora.core.store.replicas import live_owner

_R = TypeVar("_R")


@attrs.frozen
class Held:
    """What the live leases of one name hold: in all, and for the subject being asked about."""

    total: int
    subject_count: int
    subject_amount: int


@attrs.frozen
class Grant:
    """One more lease fits; it holds `amount` (e.g. bytes reserved)."""

    amount: int = 0


@attrs.frozen
class Lease:
    name: str
    holder: str
    subject: str
    amount: int


#: Decides whether one more lease fits: a `Grant`, else the refusal to return.
Admission = Callable[[Held, Transaction], Awaitable["Grant | _R"]]


class Leases:
    def __init__(self, store: Store, owner: str, liveness: float) -> None:
        self._store = store
        self._owner = owner
        self._liveness = liveness  # seconds without a heartbeat after which a process counts as dead

    async def acquire(self, name: str, subject: str, *, ttl: float, admit: Admission[_R]) -> Lease | _R:
        """A new lease, or what `admit` refused it with."""
        now = time.time()
        async with self._store.transaction() as tx:
            await tx.lock(f"lease:{name}")
            row = await tx.fetch_one(
                "SELECT COUNT(*) AS total,"
                " COALESCE(SUM(CASE WHEN subject = $2 THEN 1 ELSE 0 END), 0) AS subject_count,"
                " COALESCE(SUM(CASE WHEN subject = $2 THEN amount ELSE 0 END), 0) AS subject_amount"
                f" FROM leases WHERE name = $1 AND expires_at > $3 AND {live_owner('leases', 'owner', '$4')}",
                (name, subject, now, now - self._liveness),
            )
            held = Held(
                total=int(row["total"]) if row else 0,
                subject_count=int(row["subject_count"]) if row else 0,
                subject_amount=int(row["subject_amount"]) if row else 0,
            )
            decision = await admit(held, tx)
            if not isinstance(decision, Grant):
                return decision
            lease = Lease(name=name, holder=secrets.token_hex(12), subject=subject, amount=decision.amount)
            await tx.execute(
                "INSERT INTO leases (name, holder, subject, amount, owner, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                (name, lease.holder, subject, lease.amount, self._owner, now + ttl),
            )
        return lease

    async def release(self, lease: Lease) -> None:
        await self._store.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", (lease.name, lease.holder))

    async def release_all_of(self, owner: str) -> int:
        return await self._store.execute("DELETE FROM leases WHERE owner = $1", (owner,))

    async def purge(self) -> int:
        """Delete leases that no longer count (expired, or held by a process that is gone)."""
        now = time.time()
        return await self._store.execute(
            f"DELETE FROM leases WHERE expires_at <= $1 OR NOT {live_owner('leases', 'owner', '$2')}",
            (now, now - self._liveness),
        )
