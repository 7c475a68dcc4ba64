"""`/ping` under two loads: one at a time (latency) and 25 users × 8 in a closed loop (throughput); then, on the
ORA bots only, `/privacy set` one at a time (a command that writes the database before it answers).

Latency is what the emulator saw: from the moment the INTERACTION_CREATE went out on the websocket
(`delivered_at`) to the moment the bot's interaction callback arrived (`responded_at`), both on the
emulator's event loop clock in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from bench import procstat
from bench.harness import RunningBot
from bench.stats import median, percentile
from ora.testing.discord import DiscordEmulator, InteractionRecord, User

ANSWER_TIMEOUT = 10.0
WARMUP = 10
FIRST_USER_ID = 700_000_000_000_000_000
#: The user whose privacy mode `/privacy set` flips (no other workload uses it, so /ping stays ephemeral).
PRIVACY_USER = User(id=FIRST_USER_ID - 1, username="bench-privacy")
PRIVACY_MODES = ("public", "private")


class PingFailed(AssertionError):
    """A /ping got no answer, or a wrong one."""


@dataclass
class CommandFigures:
    """One command sent one at a time: latency percentiles, and the bot's own CPU per interaction."""

    command: str
    sequential: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_ms_per_interaction: float


@dataclass
class PingFigures:
    sequential: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    burst: int
    bursts: int
    throughput: float
    cpu_ms_per_interaction: float
    rss_after: int
    peak_rss: int
    #: each burst's throughput (/s), in round order: round i of every bot ran within seconds of each other
    burst_rates: list[float] = field(default_factory=list)
    #: `/privacy set` one at a time (ORA bots only; None for the others or when skipped)
    privacy: CommandFigures | None = None


@dataclass
class _Tally:
    """What one bot accumulated over the interleaved blocks."""

    bot: RunningBot
    latencies: list[float] = field(default_factory=list)
    throughputs: list[float] = field(default_factory=list)
    interactions: int = 0
    cpu_seconds: float = 0.0
    privacy_latencies: list[float] = field(default_factory=list)
    privacy_cpu_seconds: float = 0.0

    async def measured(self, work: Awaitable[int]) -> None:
        count, cpu = await self._timed(work)
        self.interactions += count
        self.cpu_seconds += cpu

    async def measured_privacy(self, work: Awaitable[int]) -> None:
        _, cpu = await self._timed(work)
        self.privacy_cpu_seconds += cpu

    async def _timed(self, work: Awaitable[int]) -> tuple[int, float]:
        """What `work` returns (interactions) and the bot's CPU seconds meanwhile."""
        before = procstat.cpu_seconds(self.bot.pid)
        try:
            count = await work
        except* PingFailed as failures:
            raise PingFailed(f"the {self.bot.label} bot: {failures.exceptions[0]}") from failures
        return count, procstat.cpu_seconds(self.bot.pid) - before

    def privacy_figures(self) -> CommandFigures | None:
        if not self.privacy_latencies:
            return None
        return CommandFigures(
            command="privacy set",
            sequential=len(self.privacy_latencies),
            p50_ms=percentile(self.privacy_latencies, 50),
            p90_ms=percentile(self.privacy_latencies, 90),
            p99_ms=percentile(self.privacy_latencies, 99),
            cpu_ms_per_interaction=self.privacy_cpu_seconds * 1000.0 / len(self.privacy_latencies),
        )


async def ping_once(emulator: DiscordEmulator, user: User | None = None) -> InteractionRecord:
    """Send /ping and wait (bounded) for its answer; raise `PingFailed` unless it is one ephemeral Pong."""
    rec = await emulator.send_command("ping", user=user)
    try:
        body = await rec.wait_initial(timeout=ANSWER_TIMEOUT)
    except TimeoutError as error:
        raise PingFailed(str(error)) from error
    content = str((body.get("data") or {}).get("content") or "")
    if body.get("type") != 4 or not rec.ephemeral or not content.startswith("Pong!") or rec.errors:
        raise PingFailed(f"unexpected /ping answer {body!r} (errors: {rec.errors})")
    return rec


async def privacy_set_once(emulator: DiscordEmulator, mode: str) -> InteractionRecord:
    """Send `/privacy set mode:<mode>` as `PRIVACY_USER` and wait (bounded) for the ephemeral "Saved." answer."""
    rec = await emulator.send_command("privacy set", {"mode": mode}, user=PRIVACY_USER)
    try:
        body = await rec.wait_initial(timeout=ANSWER_TIMEOUT)
    except TimeoutError as error:
        raise PingFailed(f"/privacy set: {error}") from error
    content = str((body.get("data") or {}).get("content") or "")
    if body.get("type") != 4 or not rec.ephemeral or not content.startswith("Saved.") or rec.errors:
        raise PingFailed(f"unexpected /privacy set answer {body!r} (errors: {rec.errors})")
    return rec


def latency_ms(rec: InteractionRecord) -> float:
    assert rec.delivered_at is not None
    assert rec.responded_at is not None
    return (rec.responded_at - rec.delivered_at) * 1000.0


async def burst(emulator: DiscordEmulator, users: int, per_user: int) -> float:
    """`users` concurrent users each sending `per_user` pings back to back; returns the wall time in seconds."""
    loop = asyncio.get_running_loop()

    async def user_loop(index: int) -> None:
        user = User(id=FIRST_USER_ID + index, username=f"bench{index}")
        for _ in range(per_user):
            await ping_once(emulator, user)

    started = loop.time()
    async with asyncio.TaskGroup() as group:
        for index in range(users):
            group.create_task(user_loop(index))
    return loop.time() - started


async def warm_up(emulator: DiscordEmulator) -> None:
    # A heartbeat has been acknowledged, so /ping shows a latency (both bots format it the same way).
    await emulator.wait_until(lambda: emulator.heartbeat_count >= 1, timeout=10, what="a heartbeat")
    for _ in range(WARMUP):
        await ping_once(emulator)


async def measure_interleaved(
    bots: Sequence[RunningBot],
    *,
    sequential: int,
    block: int,
    users: int,
    per_user: int,
    bursts: int,
    privacy: int = 0,
) -> list[PingFigures]:
    """The same /ping workload on several bots, interleaved in small blocks so drifting background load on a
    shared machine hits them alike: `block` sequential pings per bot in turn until each had `sequential`,
    then `bursts` rounds of one burst per bot (every other round in reverse order). CPU is the bot's own, counted
    over its blocks only. Then, when `privacy` > 0, the same for `/privacy set` on the ORA bots (the minimal bots
    have no such command): `privacy` of them each, alternating public and private, in blocks, after 10 warm-up
    ones."""
    tallies = [_Tally(bot) for bot in bots]
    for tally in tallies:
        await warm_up(tally.bot.emulator)

    async def sequential_block(tally: _Tally, count: int) -> int:
        for _ in range(count):
            tally.latencies.append(latency_ms(await ping_once(tally.bot.emulator)))
        return count

    async def one_burst(tally: _Tally) -> int:
        seconds = await burst(tally.bot.emulator, users, per_user)
        tally.throughputs.append(users * per_user / seconds)
        return users * per_user

    def in_turn(round_index: int) -> list[_Tally]:
        # Every other round backwards, so no bot always follows the same one.
        return tallies if round_index % 2 == 0 else tallies[::-1]

    done = 0
    while done < sequential:
        count = min(block, sequential - done)
        for tally in in_turn(done // block):
            await tally.measured(sequential_block(tally, count))
        done += count
    for round_index in range(bursts):
        for tally in in_turn(round_index):
            await tally.measured(one_burst(tally))
    if privacy > 0:
        await _measure_privacy([tally for tally in tallies if tally.bot.kind == "full"], privacy, block)
    return [
        PingFigures(
            sequential=len(tally.latencies),
            p50_ms=percentile(tally.latencies, 50),
            p90_ms=percentile(tally.latencies, 90),
            p99_ms=percentile(tally.latencies, 99),
            burst=users * per_user,
            bursts=bursts,
            throughput=median(tally.throughputs),
            cpu_ms_per_interaction=tally.cpu_seconds * 1000.0 / max(1, tally.interactions),
            rss_after=procstat.rss_bytes(tally.bot.pid),
            peak_rss=procstat.peak_rss_bytes(tally.bot.pid),
            burst_rates=list(tally.throughputs),
            privacy=tally.privacy_figures(),
        )
        for tally in tallies
    ]


async def _measure_privacy(tallies: list[_Tally], count: int, block: int) -> None:
    sent = [0] * len(tallies)

    async def privacy_block(index: int, number: int, record: bool) -> int:
        tally = tallies[index]
        for _ in range(number):
            rec = await privacy_set_once(tally.bot.emulator, PRIVACY_MODES[sent[index] % 2])
            sent[index] += 1
            if record:
                tally.privacy_latencies.append(latency_ms(rec))
        return number

    for index in range(len(tallies)):
        await privacy_block(index, WARMUP, record=False)
    done = 0
    while done < count:
        number = min(block, count - done)
        order = range(len(tallies)) if (done // block) % 2 == 0 else range(len(tallies) - 1, -1, -1)
        for index in order:
            await tallies[index].measured_privacy(privacy_block(index, number, record=True))
        done += number
