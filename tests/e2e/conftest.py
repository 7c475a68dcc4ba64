"""End-to-end fixtures: the Discord emulator, and `python -m ora` started as a real process against it.

    async def test_something(emulator, start_bot):
        bot = await start_bot(LLM_BASE_URL=llm.base_url)   # waits for 'ready: commands synced'
        rec = await emulator.send_command("ping")

Every process started here is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ora.testing.discord import DiscordEmulator
from ora.testing.llm import FakeLLMServer
from ora.testing.process import BotProcess, free_port

StartBot = Callable[..., Awaitable[BotProcess]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    # A short heartbeat interval so /ping has a measured latency within a second of READY.
    async with DiscordEmulator(heartbeat_interval_ms=1000) as emu:
        yield emu


@pytest.fixture
def bot_env(emulator: DiscordEmulator, tmp_path: Path) -> dict[str, str]:
    """The environment of a bot in dev-guild mode against `emulator`, with its own database and port."""
    port = free_port()
    return {
        "DISCORD_BOT_TOKEN": emulator.token,
        "DISCORD_APP_ID": str(emulator.application_id),
        "DISCORD_REST_URL": emulator.rest_url,
        "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
        "ORA_BOT_DB": str(tmp_path / "data" / "ora_bot.db"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "LOG_LEVEL": "INFO",
        # Nothing listens here: the LLM is "down" unless a test points LLM_BASE_URL at a fake.
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }


@pytest.fixture
async def start_bot(bot_env: dict[str, str], tmp_path: Path) -> AsyncIterator[StartBot]:
    started: list[BotProcess] = []

    async def start(*, wait: bool = True, unset: tuple[str, ...] = (), **overrides: str) -> BotProcess:
        env = {key: value for key, value in {**bot_env, **overrides}.items() if key not in unset}
        workdir = tmp_path / f"run{len(started)}"
        workdir.mkdir()
        process = BotProcess(env, cwd=workdir)
        started.append(process)
        await process.start()
        if wait:
            await process.wait_ready(timeout=30)
        return process

    yield start
    for process in started:
        try:
            await process.stop(timeout=10)
        except TimeoutError:
            pytest.fail(f"bot process {process.pid} ignored SIGTERM for 10 s and was killed")


@pytest.fixture
async def bot(start_bot: StartBot) -> BotProcess:
    return await start_bot()


@pytest.fixture
def web_url(bot_env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{bot_env['WEB_PORT']}"


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    """The project's fake OpenAI-compatible server on 127.0.0.1 (scripted per test)."""
    async with FakeLLMServer() as server:
        yield server
