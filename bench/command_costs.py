"""`python -m bench --costs`: what the ORA bot's own code costs per /ping, timed inside real invocations.

The real bot (`ora.core.assembly.Bot`) runs in this process against the Discord emulator; selected functions are wrapped
with timers for the duration of the measurement. Each figure is the median over the sequential pings of one
call's wall time, in microseconds. The timed code does not wait on I/O (the REST call inside `ctx.respond`
is subtracted from `Replies.say`), so wall time is its CPU time, save for preemption by other processes, which
the median discounts. The privacy lookup (`Replies.is_private`, not on /ping's path: /ping is always private)
and the cost of one more asyncio task (what hikari spends per extra INTERACTION_CREATE listener) are timed on
their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import hikari.impl.event_manager_base
import lightbulb
from linkd.solver import AutoInjecting

from ora import app
from ora.core.assembly import Bot
from ora.core.gateway import GatewayTransport
from ora.core.i18n import Catalog
from ora.core.replies import Replies
from ora.testing.discord import DiscordEmulator
from ora.testing.process import free_port

PINGS = 400
WARMUP = 20
LOOKUPS = 400
TASKS = 2000


class Timings:
    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.responding = 0.0  # time inside ctx.respond during the current Replies.say
        self.replies: Replies | None = None  # the bot's own, seen in Replies.say

    def add(self, name: str, seconds: float) -> None:
        self.calls[name].append(seconds)

    def median_us(self, name: str) -> float:
        values = self.calls.get(name, [])
        return statistics.median(values) * 1e6 if values else float("nan")


def _timed_async(timings: Timings, name: Callable[..., str | None], func: Callable[..., Awaitable[Any]]) -> Any:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        label = name(*args)
        started = time.perf_counter()
        try:
            return await func(*args, **kwargs)
        finally:
            if label is not None:
                timings.add(label, time.perf_counter() - started)

    return wrapper


@contextlib.contextmanager
def instrumented(timings: Timings) -> Iterator[None]:
    """Timers around the per-command functions; the originals are put back on exit."""
    manager = hikari.impl.event_manager_base.EventManagerBase
    say, respond, hook_call, prepare = (
        Replies.say,
        lightbulb.Context.respond,
        lightbulb.ExecutionHook.__call__,
        AutoInjecting._prepare_kwargs,
    )
    invoke_callback, translate = manager._invoke_callback, Catalog.t

    def listener_name(_: object, callback: Any, event: object) -> str | None:
        if not isinstance(event, hikari.InteractionCreateEvent):
            return None
        return f"listener {callback.__module__}.{callback.__qualname__}"

    async def timed_say(self: Replies, *args: Any, **kwargs: Any) -> None:
        timings.replies = self
        timings.responding = 0.0
        started = time.perf_counter()
        await say(self, *args, **kwargs)
        timings.add("Replies.say, without ctx.respond", time.perf_counter() - started - timings.responding)

    async def timed_respond(self: lightbulb.Context, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await respond(self, *args, **kwargs)
        finally:
            timings.responding += time.perf_counter() - started

    def timed_translate(self: Catalog, *args: Any, **kwargs: Any) -> str:
        started = time.perf_counter()
        try:
            return translate(self, *args, **kwargs)
        finally:
            timings.add("Catalog.t (each call)", time.perf_counter() - started)

    replacements: list[tuple[Any, str, Any]] = [
        (manager, "_invoke_callback", _timed_async(timings, listener_name, invoke_callback)),
        (Replies, "say", timed_say),
        (lightbulb.Context, "respond", timed_respond),
        (
            lightbulb.ExecutionHook,
            "__call__",
            _timed_async(timings, lambda hook, *_: f"hook {hook.name} (lightbulb + DI wrapper)", hook_call),
        ),
        (
            AutoInjecting,
            "_prepare_kwargs",
            _timed_async(timings, lambda injecting, *_: f"DI resolution for {injecting._func.__qualname__}", prepare),
        ),
        (Catalog, "t", timed_translate),
    ]
    originals = [(owner, attribute, owner.__dict__.get(attribute)) for owner, attribute, _ in replacements]
    try:
        for owner, attribute, replacement in replacements:
            setattr(owner, attribute, replacement)
        yield
    finally:
        for owner, attribute, original in originals:
            if original is None:  # inherited
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)


async def _extra_task_cost() -> float:
    """Median µs to create, run and finish one asyncio task for a coroutine that returns at once."""

    async def nothing() -> None:
        return None

    samples = []
    for _ in range(TASKS):
        started = time.perf_counter()
        await asyncio.create_task(nothing())
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


async def measure() -> str:
    timings = Timings()
    with tempfile.TemporaryDirectory(prefix="ora-bench-costs-") as tmp:
        async with DiscordEmulator(heartbeat_interval_ms=1000) as emulator:
            configuration, features = app.configure(
                {
                    "DISCORD_BOT_TOKEN": emulator.token,
                    "DISCORD_APP_ID": str(emulator.application_id),
                    "DISCORD_REST_URL": emulator.rest_url,
                    "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
                    "ORA_BOT_DB": str(Path(tmp) / "ora_bot.db"),
                    "WEB_PORT": str(free_port()),
                    "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
                }
            )
            bot = asyncio.create_task(Bot(configuration, features, GatewayTransport()).run())
            try:
                await emulator.wait_commands_synced(emulator.default_guild.id, timeout=30)
                for _ in range(WARMUP):
                    await (await emulator.send_command("ping")).wait_initial(timeout=10)
                with instrumented(timings):
                    for _ in range(PINGS):
                        await (await emulator.send_command("ping")).wait_initial(timeout=10)
                privacy = await _privacy_lookup_cost(timings.replies)
                task = await _extra_task_cost()
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the bot stops on SIGTERM, as in production
                async with asyncio.timeout(30):
                    await bot
    return report(timings, privacy, task)


async def _privacy_lookup_cost(replies: Replies | None) -> float:
    """Median µs of `Replies.is_private` (a SQLite query through aiosqlite's thread) for a user who never chose."""
    if replies is None:
        return float("nan")
    samples = []
    for index in range(LOOKUPS):
        started = time.perf_counter()
        await replies.is_private(900_000_000_000_000_000 + index)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def report(timings: Timings, privacy_us: float, task_us: float) -> str:
    lines = [
        f"The ORA bot's own code per /ping: median wall time of one call over {PINGS} sequential /ping, in µs",
        "(python -m bench --costs; the real bot, ora.core.assembly.Bot, in this process against the emulator).",
        "",
    ]
    for name in sorted(timings.calls, key=lambda key: -timings.median_us(key)):
        count = len(timings.calls[name])
        lines.append(f"  {timings.median_us(name):8.1f} µs  × {count / PINGS:4.2f} per /ping  {name}")
    lines += [
        "",
        f"  {privacy_us:8.1f} µs  privacy lookup (Replies.is_private: SQLite via aiosqlite), on every reply by the "
        "user's mode (not /ping)",
        f"  {task_us:8.1f} µs  one asyncio task (create, run, finish): hikari's cost per extra INTERACTION_CREATE "
        "listener, on top of the listener's own time",
    ]
    return "\n".join(lines)
