"""Process-wide runtime facts shared by the app, /health and /healthz: uptime, readiness, probes, work in flight."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import attrs

log = logging.getLogger(__name__)


@attrs.frozen
class ProbeResult:
    """What a probe found: `ok`, and the state to show (a string key and its values; by default OK or
    unreachable)."""

    ok: bool
    key: str | None = None
    values: Mapping[str, object] = attrs.field(factory=dict)

    @property
    def state_key(self) -> str:
        return self.key or ("health.ok" if self.ok else "health.down")


Probe = Callable[[], Awaitable["bool | ProbeResult"]]


@attrs.define
class DependencyProbe:
    """One outside dependency as /health shows it: `probe` is None when it is not configured."""

    name_key: str
    probe: Probe | None

    async def run(self, timeout: float) -> ProbeResult | None:
        """The dependency's state within `timeout` (a failure or a timeout is "down"); None: not configured."""
        if self.probe is None:
            return None
        try:
            async with asyncio.timeout(timeout):
                found = await self.probe()
        except Exception:
            return ProbeResult(ok=False)
        return found if isinstance(found, ProbeResult) else ProbeResult(ok=found)


@attrs.define
class Runtime:
    started_monotonic: float = attrs.field(factory=time.monotonic)
    gateway_ready: bool = False
    commands_synced: bool = False
    accepting: bool = True
    probes: list[DependencyProbe] = attrs.field(factory=list)
    probe_timeout: float = 2.0
    #: Set once the transport is up and commands are synced (work that answers users may begin).
    ready: asyncio.Event = attrs.field(factory=asyncio.Event)
    _in_flight: set[asyncio.Task[object]] = attrs.field(factory=set)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic

    def track_current_task(self) -> None:
        """Remember the running command's task so shutdown can let it finish."""
        task = asyncio.current_task()
        if task is not None and task not in self._in_flight:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` for commands in flight; cancel the rest. Returns how many were cancelled."""
        pending = {task for task in self._in_flight if task is not asyncio.current_task()}
        if not pending:
            return 0
        log.info("waiting up to %.1f s for %d command(s) in flight", timeout, len(pending))
        _, still_running = await asyncio.wait(pending, timeout=timeout)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running, timeout=1.0)
        return len(still_running)
