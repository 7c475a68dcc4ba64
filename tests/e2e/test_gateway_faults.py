"""Gateway faults: `python -m ora` survives 100 injected faults without losing or doubling an interaction.

Faults (dropped TCP, server closes 1000/1001/4000/4008/4009, op 7 RECONNECT, op 9 INVALID SESSION resumable
and not, heartbeat ACKs withheld) come in an order shuffled from a fixed seed. Around each one a /ping is
sent before (answered on the healthy connection), during (right after the fault, while the bot has not
noticed yet or the connection is already gone), while disconnected (queued by the emulator, delivered on
RESUME or after the next IDENTIFY) and after the bot is back. Every one must get exactly one answer.

Time: hikari sleeps 1-2 s (1.85^n s for consecutive drops) before every reconnect that follows another
connect within 30 s, whatever the fault, plus 0.25 s after closing a socket. So one bot needs ~2 s per fault
and 4009 twice that (RESUME refused, then IDENTIFY). The 100 faults are therefore dealt to `LANES` bots, each
with its own emulator, running side by side; the counts per kind are chosen so the suite takes about a minute.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ora.testing.discord import DiscordEmulator, InteractionRecord, User
from ora.testing.process import BotProcess, free_port

SEED = 20261125
#: How many faults of each kind (100 in all). 4009 costs two reconnects, so there are fewer of those.
FAULT_COUNTS: dict[str, int] = {
    "drop_tcp": 12,
    "close_1000": 9,
    "close_1001": 9,
    "close_4000": 11,
    "close_4008": 9,
    "close_4009": 6,
    "op7_reconnect": 12,
    "op9_resumable": 11,
    "op9_not_resumable": 10,
    "heartbeat_ack_missing": 11,
}
#: Faults after which the session is gone, so the bot must IDENTIFY anew; after the others it RESUMEs.
NEW_SESSION = frozenset({"close_4009", "op9_not_resumable"})
LANES = 4
HEARTBEAT_MS = 500
ANSWER_TIMEOUT = 15.0
RECONNECT_TIMEOUT = 30.0

# Discord's side only (the gateway): no database takes part, so SQLite alone.
pytestmark = [pytest.mark.timeout(300), pytest.mark.one_backend]


def fault_plan(seed: int = SEED, lanes: int = LANES) -> list[list[str]]:
    """The faults of each lane: all 100 shuffled with `seed`, dealt round-robin, no two drops in a row in a lane.

    Consecutive drops would grow hikari's back-off (1.85^n s) and only cost time.
    """
    rng = random.Random(seed)
    faults = [kind for kind, count in FAULT_COUNTS.items() for _ in range(count)]
    rng.shuffle(faults)
    plan = [faults[lane::lanes] for lane in range(lanes)]
    for sequence in plan:
        for index in range(1, len(sequence)):
            if sequence[index] == sequence[index - 1] == "drop_tcp":
                swap = next((j for j in range(index + 1, len(sequence)) if sequence[j] != "drop_tcp"), None)
                if swap is not None:
                    sequence[index], sequence[swap] = sequence[swap], sequence[index]
    return plan


@dataclass
class Sent:
    rec: InteractionRecord
    fault: str
    phase: str  # before / during / disconnected / after


@dataclass
class Lane:
    index: int
    emulator: DiscordEmulator
    process: BotProcess
    faults: list[str]
    sent: list[Sent] = field(default_factory=list)
    alive_at_end: bool = False
    exit_code: int | None = None
    step_seconds: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    user_seq: int = 0
    #: (fault, how the bot came back: "resume" or "identify")
    comebacks: list[tuple[str, str]] = field(default_factory=list)

    async def ping(self, fault: str, phase: str) -> InteractionRecord:
        self.user_seq += 1
        user = User(id=900_000_000_000_000_000 + self.index * 100_000 + self.user_seq, username=f"u{self.user_seq}")
        rec = await self.emulator.send_command("ping", user=user)
        self.sent.append(Sent(rec, fault, phase))
        return rec


def handshakes(emulator: DiscordEmulator) -> int:
    return emulator.resume_count + emulator.ready_count


async def inject(emulator: DiscordEmulator, kind: str) -> None:
    if kind == "drop_tcp":
        assert await emulator.drop_connection() == 1
    elif kind.startswith("close_"):
        assert await emulator.close_connection(int(kind.removeprefix("close_"))) == 1
    elif kind == "op7_reconnect":
        assert await emulator.send_reconnect() == 1
    elif kind == "op9_resumable":
        assert await emulator.send_invalid_session(resumable=True) == 1
    elif kind == "op9_not_resumable":
        assert await emulator.send_invalid_session(resumable=False) == 1
    elif kind == "heartbeat_ack_missing":
        emulator.ack_heartbeats = False
    else:
        raise AssertionError(kind)


async def run_fault(lane: Lane, kind: str) -> None:
    emu = lane.emulator
    started = time.monotonic()
    before = await lane.ping(kind, "before")
    await before.wait_initial(timeout=ANSWER_TIMEOUT)
    count = handshakes(emu)
    resumes, readies = emu.resume_count, emu.ready_count
    await inject(emu, kind)
    await lane.ping(kind, "during")
    await emu.wait_disconnected(timeout=RECONNECT_TIMEOUT)
    emu.ack_heartbeats = True
    await lane.ping(kind, "disconnected")
    await emu.wait_until(
        lambda: bool(emu.gateway.ready_connections()) and handshakes(emu) > count,
        timeout=RECONNECT_TIMEOUT,
        what=f"the bot back after {kind}",
    )
    lane.comebacks.append((kind, "identify" if emu.ready_count > readies else "resume"))
    assert emu.resume_count > resumes or emu.ready_count > readies
    after = await lane.ping(kind, "after")
    await after.wait_initial(timeout=ANSWER_TIMEOUT)
    for item in lane.sent[-4:]:
        await item.rec.wait_for(lambda r: r.callbacks or r.errors, timeout=ANSWER_TIMEOUT)
    lane.step_seconds[kind].append(time.monotonic() - started)


def lane_env(emulator: DiscordEmulator, workdir: Path) -> dict[str, str]:
    return {
        "DISCORD_BOT_TOKEN": emulator.token,
        "DISCORD_APP_ID": str(emulator.application_id),
        "DISCORD_REST_URL": emulator.rest_url,
        "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
        "ORA_BOT_DB": str(workdir / "data" / "ora_bot.db"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }


async def with_lanes(tmp_path: Path, plan: list[list[str]], body: Callable[[Lane], Awaitable[None]]) -> list[Lane]:
    """Start one emulator + bot per lane, run `body` on every lane at once, stop everything."""
    lanes: list[Lane] = []
    emulators: list[DiscordEmulator] = []
    try:
        for index, faults in enumerate(plan):
            emulator = DiscordEmulator(heartbeat_interval_ms=HEARTBEAT_MS)
            await emulator.start()
            emulators.append(emulator)
            workdir = tmp_path / f"lane{index}"
            workdir.mkdir()
            lanes.append(Lane(index, emulator, BotProcess(lane_env(emulator, workdir), cwd=workdir), faults))
        for lane in lanes:
            await lane.process.start()
        await asyncio.gather(*(lane.process.wait_ready(timeout=60) for lane in lanes))
        await asyncio.gather(*(body(lane) for lane in lanes))
        return lanes
    finally:
        for lane in lanes:
            try:
                lane.alive_at_end = lane.process.returncode is None
            except RuntimeError:  # never started
                continue
            try:
                lane.exit_code = await lane.process.stop(timeout=10)
            except TimeoutError:
                pytest.fail(f"bot of lane {lane.index} ignored SIGTERM for 10 s")
        for emulator in emulators:
            await emulator.stop()


@pytest.mark.slow  # about a minute: hikari's reconnect back-off after each of 100 faults
async def test_hundred_gateway_faults_lose_no_interaction(tmp_path: Path) -> None:
    plan = fault_plan()
    assert sum(len(faults) for faults in plan) == 100
    wall = time.monotonic()

    async def body(lane: Lane) -> None:
        for kind in lane.faults:
            await run_fault(lane, kind)
            assert lane.process.returncode is None, f"the bot of lane {lane.index} exited after {kind}"

    lanes = await with_lanes(tmp_path, plan, body)
    wall = time.monotonic() - wall

    sent = [item for lane in lanes for item in lane.sent]
    answered = [item for item in sent if len(item.rec.callbacks) == 1 and not item.rec.errors]
    lost = [item for item in sent if not item.rec.callbacks]
    doubled = [item for item in sent if len(item.rec.callbacks) > 1 or item.rec.errors]
    kinds = collections.Counter(kind for lane in lanes for kind in lane.faults)
    per_kind = {
        kind: round(sum(s for lane in lanes for s in lane.step_seconds[kind]) / count, 2)
        for kind, count in kinds.items()
    }
    print(
        f"\ngateway faults: {sum(kinds.values())} injected over {len(lanes)} bots ({dict(sorted(kinds.items()))}); "
        f"interactions sent {len(sent)}, answered {len(answered)}, lost {len(lost)}, "
        f"doubled or late {len(doubled)}; wall {wall:.1f} s; mean seconds per fault {dict(sorted(per_kind.items()))}"
    )
    assert not lost, [(item.fault, item.phase, item.rec._describe()) for item in lost]
    assert not doubled, [(item.fault, item.phase, item.rec._describe()) for item in doubled]
    for item in sent:
        answer = item.rec.callbacks[0]
        assert answer["type"] == 4 and answer["data"]["content"].startswith("Pong!")
    comebacks = [comeback for lane in lanes for comeback in lane.comebacks]
    assert all((how == "identify") == (kind in NEW_SESSION) for kind, how in comebacks), comebacks
    for lane in lanes:
        assert lane.alive_at_end, f"the bot of lane {lane.index} exited by itself"
        assert lane.exit_code == 0, f"lane {lane.index}: exit code {lane.exit_code} after SIGTERM"
        assert "Traceback" not in lane.process.stdout + lane.process.stderr
        assert "CRITICAL" not in lane.process.stdout
        assert lane.emulator.resume_count > 0 and lane.emulator.ready_count > 1


async def test_token_revoked_while_running_exits_1_on_the_next_reconnect(
    emulator: DiscordEmulator, bot: BotProcess
) -> None:
    """A 4004 on a later RESUME (the token was reset in the portal) ends the bot instead of retrying forever."""
    rec = await emulator.send_command("ping")
    await rec.wait_initial()
    emulator.token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.the-token-was-reset-in-the-portal"
    await emulator.drop_connection()
    code = await bot.wait_exit(timeout=30)
    assert code == 1
    assert emulator.server_close_codes[-1] == 4004
    assert "rejected DISCORD_BOT_TOKEN (gateway close code 4004)" in bot.stdout
    assert "Traceback" not in bot.stderr
    assert len(emulator.resume_payloads) == 1  # it gave up at once: no retry loop
