"""State that outlives a process or is shared by several on one database, with real `python -m ora` processes:
limits across two bots, answers a crash interrupted, downloads of another process, a lost PostgreSQL server."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ora.core.store import DatabaseUrl
from ora.testing.discord import DiscordEmulator, User
from ora.testing.llm import FakeLLMServer
from ora.testing.process import BotProcess, free_port
from tests.conftest import PostgresTarget
from tests.e2e.conftest import StartBot
from tests.waiting import eventually


@pytest.fixture
async def second_emulator() -> AsyncIterator[DiscordEmulator]:
    """Another Discord, so that a second bot process has a gateway session of its own."""
    async with DiscordEmulator(heartbeat_interval_ms=1000) as emu:
        yield emu


async def start_second_bot(
    emulator: DiscordEmulator, bot_env: dict[str, str], workdir: Path, **overrides: str
) -> BotProcess:
    """A second bot process on the same database (and dataset folder) as `bot_env`'s, against `emulator`."""
    env = bot_env | {
        "DISCORD_BOT_TOKEN": emulator.token,
        "DISCORD_APP_ID": str(emulator.application_id),
        "DISCORD_REST_URL": emulator.rest_url,
        "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
        "WEB_PORT": str(free_port()),
        **overrides,
    }
    await asyncio.to_thread(workdir.mkdir)
    process = BotProcess(env, cwd=workdir)
    await process.start()
    await process.wait_ready(timeout=30)
    return process


async def test_two_bots_on_one_database_allow_one_answer_per_user_in_total(
    emulator: DiscordEmulator,
    second_emulator: DiscordEmulator,
    llm: FakeLLMServer,
    start_bot: StartBot,
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    llm.script(fault="hang")
    limits = {"LLM_BASE_URL": llm.base_url, "LLM_READ_TIMEOUT": "30", "CHAT_MAX_PER_USER": "1"}
    await start_bot(**limits)
    second = await start_second_bot(second_emulator, bot_env | limits, tmp_path / "second")
    try:
        answering = await emulator.send_command("chat", {"prompt": "one"})
        assert (await answering.wait_initial())["type"] == 5  # deferred: the answer is on its way

        async def asked() -> bool:
            return len(llm.chat_requests) == 1

        await eventually(asked)
        # The same Discord user on the other bot: refused, because the database says an answer is running.
        refused = await second_emulator.send_command("chat", {"prompt": "two"})
        body = await refused.wait_initial()
        assert "already have an answer in progress" in body["data"]["content"]
        assert refused.ephemeral
        other = await second_emulator.send_command("chat", {"prompt": "three"}, user=User(id=4444, username="other"))
        assert (await other.wait_initial())["type"] == 5
    finally:
        await second.stop(timeout=10)


async def test_an_answer_a_crash_cut_off_says_so_after_the_restart(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    settings = {"LLM_BASE_URL": llm.base_url, "LLM_READ_TIMEOUT": "30"}
    bot = await start_bot(**settings)
    llm.script(answer="Partial words arrive and then", chunk_size=6, fault="hang_after_first")
    streaming = await emulator.send_command("chat", {"prompt": "hi"})
    await streaming.wait_message(lambda m: m["content"].startswith("Partia"), timeout=10)
    assert await bot.stop(signal.SIGKILL, timeout=10) == -signal.SIGKILL
    assert "interrupted" not in streaming.final_content()  # nobody told the user anything yet
    restarted = await start_bot(**settings)
    told = await streaming.wait_message(lambda m: "interrupted" in m["content"], timeout=15)
    assert told["content"].startswith("Partia")  # what arrived is kept, the streaming cursor is gone
    assert "▌" not in told["content"]
    await restarted.wait_for_line(r"told 1 user\(s\) that a stopped process had interrupted their answer")


async def test_a_starting_bot_leaves_the_downloads_of_a_running_one_alone(
    emulator: DiscordEmulator,
    second_emulator: DiscordEmulator,
    start_bot: StartBot,
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    await start_bot()
    incoming = Path(bot_env["DATASET_DIR"]) / ".incoming"
    attachment = emulator.add_attachment("slow.bin", size=8 * 1024 * 1024, fault="slow")  # about 6 s
    rec = await emulator.send_command("dataset add", {"file": attachment})
    await rec.wait_initial()

    async def partial() -> list[Path]:
        return list(incoming.rglob("*.part"))

    (part,) = await eventually(partial, timeout=10)
    second = await start_second_bot(second_emulator, bot_env, tmp_path / "second")
    try:
        assert part.exists()  # the second bot's start-up cleaned only what stopped processes left
        await rec.wait_message(lambda m: "Stored" in m["content"], timeout=30)
        assert not part.exists()  # moved into place
    finally:
        await second.stop(timeout=10)


@pytest.mark.backends("postgresql")
async def test_a_lost_postgresql_server_is_reported_and_survived(
    emulator: DiscordEmulator, start_bot: StartBot, web_url: str, postgres: PostgresTarget, database_url: DatabaseUrl
) -> None:
    if postgres.server is None:
        pytest.skip("the PostgreSQL server is not this session's own (ORA_TEST_DATABASE_URL): it cannot be stopped")
    bot = await start_bot(DATABASE_CONNECT_TIMEOUT="1")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{web_url}/healthz") as response:
            assert response.status == 200
        await asyncio.to_thread(postgres.server.pause)
        try:

            async def down() -> dict[str, object] | None:
                async with session.get(f"{web_url}/healthz") as response:
                    body: dict[str, object] = await response.json()
                    return body if response.status == 503 else None

            body = await eventually(down, timeout=15)
            assert body["database"] is False and "unreachable" in str(body["reason"])
            ping = await emulator.send_command("ping")  # what needs no database still works
            assert "Pong" in (await ping.wait_initial(timeout=5))["data"]["content"]
            privacy = await emulator.send_command("privacy set", {"mode": "public"})
            await privacy.wait_for(lambda r: r.callbacks, timeout=10)
            assert "cannot reach its database" in privacy.final_content()
            health = await emulator.send_command("health")
            shown = await health.wait_message(lambda m: "Database" in m["content"], timeout=15)
            assert "Database: unreachable" in shown["content"]
        finally:
            await asyncio.to_thread(postgres.server.resume)

        async def up() -> bool:
            async with session.get(f"{web_url}/healthz") as response:
                return response.status == 200

        await eventually(up, timeout=20)
    privacy = await emulator.send_command("privacy set", {"mode": "public"})
    await privacy.wait_for(lambda r: r.callbacks, timeout=10)
    assert "public" in privacy.final_content()
    assert bot.returncode is None  # it never stopped
