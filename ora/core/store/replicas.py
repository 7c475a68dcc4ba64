"""The processes sharing the database (`replicas`), each with a heartbeat.

Everything a process holds in the database (a lease, a running job, an answer being written) names it as
`owner`. An owner is alive while its row is there and its heartbeat recent; otherwise what it held is taken over.
"""

from __future__ import annotations

import time

import attrs

from ora.core.store import Store

#: The SQL condition "the row's `owner` column names a live replica"; `$cutoff` is the oldest live heartbeat.
LIVE_OWNER = "EXISTS (SELECT 1 FROM replicas r WHERE r.owner = {table}.{column} AND r.heartbeat_at > {cutoff})"


def live_owner(table: str, column: str, cutoff: str) -> str:
    return LIVE_OWNER.format(table=table, column=column, cutoff=cutoff)


@attrs.frozen
class ReplicaRow:
    owner: str
    name: str
    host: str
    pid: int
    heartbeat_at: float


class ReplicaRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def register(self, owner: str, name: str, host: str, pid: int) -> None:
        stamp = time.time()
        await self._store.execute(
            "INSERT INTO replicas (owner, name, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $5)"
            " ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            (owner, name, host, pid, stamp),
        )

    async def beat(self, owner: str) -> bool:
        """Record a heartbeat; False when the row is gone (another process took this one for dead)."""
        return (
            await self._store.execute("UPDATE replicas SET heartbeat_at = $1 WHERE owner = $2", (time.time(), owner))
            > 0
        )

    async def on_host(self, host: str) -> list[ReplicaRow]:
        rows = await self._store.fetch_all(
            "SELECT owner, name, host, pid, heartbeat_at FROM replicas WHERE host = $1", (host,)
        )
        return [
            ReplicaRow(row["owner"], row["name"], row["host"], int(row["pid"]), row["heartbeat_at"]) for row in rows
        ]

    async def live(self, cutoff: float) -> list[ReplicaRow]:
        rows = await self._store.fetch_all(
            "SELECT owner, name, host, pid, heartbeat_at FROM replicas WHERE heartbeat_at > $1 ORDER BY started_at",
            (cutoff,),
        )
        return [
            ReplicaRow(row["owner"], row["name"], row["host"], int(row["pid"]), row["heartbeat_at"]) for row in rows
        ]

    async def remove(self, owners: list[str]) -> int:
        removed = 0
        for owner in owners:
            removed += await self._store.execute("DELETE FROM replicas WHERE owner = $1", (owner,))
        return removed

    async def remove_silent(self, cutoff: float) -> int:
        """Forget replicas whose last heartbeat is older than `cutoff`."""
        return await self._store.execute("DELETE FROM replicas WHERE heartbeat_at <= $1", (cutoff,))
