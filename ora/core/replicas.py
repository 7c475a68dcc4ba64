"""This process among those sharing the database: its identity, its heartbeat, and the sweep for dead ones.

Every `HEARTBEAT_INTERVAL` seconds the process records a heartbeat and looks for processes that are gone: one
silent for `LIVENESS` seconds, or — on this same host — one whose process id no longer runs (or is this
process's own, left by an earlier run that died: a container restarts with the same pid). What a dead process
held (leases, running jobs, answers being written) is then taken over; the callbacks given to `on_sweep` do that.
The same-host rule makes a restart after a crash pick up at once instead of after `LIVENESS` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

import attrs

from ora.core.cancellation import stop_task
from ora.core.store import Store, StoreError
from ora.core.store.leases import Leases
from ora.core.store.replicas import ReplicaRows

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 5.0
#: A process silent this long is taken for dead.
LIVENESS = 20.0

Sweep = Callable[[], Awaitable[None]]


def host_name() -> str:
    return socket.gethostname() or "localhost"


def pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, under another user
        return True
    except OSError:
        return False
    return True


@attrs.frozen
class Replica:
    """This process run: `owner` is unique per run; `name` is ORA_REPLICA_NAME (the host name by default)."""

    name: str
    owner: str = attrs.field(factory=lambda: secrets.token_hex(8))
    host: str = attrs.field(factory=host_name)
    pid: int = attrs.field(factory=os.getpid)

    @property
    def folder_name(self) -> str:
        """A file name unique to this run (the owner id is hex)."""
        return self.owner


class Presence:
    """Keeps this process registered and alive in the database, and sweeps up after dead ones."""

    def __init__(
        self, store: Store, replica: Replica, *, interval: float = HEARTBEAT_INTERVAL, liveness: float = LIVENESS
    ) -> None:
        self.store = store
        self.replica = replica
        self.interval = interval
        self.liveness = liveness
        self._rows = ReplicaRows(store)
        self._sweeps: list[tuple[str, Sweep]] = []
        self._task: asyncio.Task[None] | None = None
        self.last_beat: float | None = None

    def on_sweep(self, name: str, sweep: Sweep) -> None:
        """Run `sweep` after each look for dead processes (at start too)."""
        self._sweeps.append((name, sweep))

    @property
    def healthy(self) -> bool:
        """Whether the last heartbeat is recent enough that others take this process for alive."""
        return self.last_beat is not None and time.time() - self.last_beat < self.liveness / 2

    async def start(self) -> None:
        """Register, forget what dead processes of this host left, and beat from now on."""
        await self._rows.register(self.replica.owner, self.replica.name, self.replica.host, self.replica.pid)
        self.last_beat = time.time()
        await self._sweep()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ora-replica-heartbeat")

    async def close(self) -> None:
        """Stop beating and leave: what this process still holds is free at once."""
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)
        try:
            await Leases(self.store, self.replica.owner, self.liveness).release_all_of(self.replica.owner)
            await self._rows.remove([self.replica.owner])
        except StoreError as error:
            log.warning("could not leave the replica list: %s", error)

    async def live_owners(self) -> set[str]:
        return {row.owner for row in await self._rows.live(time.time() - self.liveness)}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if not await self._rows.beat(self.replica.owner):
                    log.warning("this process was taken for dead by another one (no heartbeat); registering again")
                    await self._rows.register(
                        self.replica.owner, self.replica.name, self.replica.host, self.replica.pid
                    )
                self.last_beat = time.time()
                await self._sweep()
            except StoreError as error:
                log.warning("replica heartbeat failed: %s", error)
            except Exception:
                log.exception("replica heartbeat failed")

    async def _sweep(self) -> None:
        dead = [
            row.owner
            for row in await self._rows.on_host(self.replica.host)
            if row.owner != self.replica.owner and (row.pid == self.replica.pid or not pid_running(row.pid))
        ]
        removed = await self._rows.remove(dead)
        removed += await self._rows.remove_silent(time.time() - self.liveness)
        if removed:
            log.info("%d process(es) sharing the database stopped without leaving; taking over what they held", removed)
        for name, sweep in self._sweeps:
            try:
                await sweep()
            except Exception:
                log.exception("%s after the replica sweep failed", name)
