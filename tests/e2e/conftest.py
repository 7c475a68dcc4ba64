"""End-to-end fixtures: the Discord emulator, and `python -m ora` started as a real process against it.

    async def test_something(emulator, start_bot):
        bot = await start_bot(LLM_BASE_URL=llm.base_url)   # waits for 'ready: commands synced'
        rec = await emulator.send_command("ping")

Every test runs twice: with the bot on a SQLite file (`ORA_BOT_DB`) and on a PostgreSQL database
(`DATABASE_URL`), unless marked `one_backend`. `database` reads what the bot stored, on either. Every process
started here is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ora.core.store import DatabaseUrl, Store
from ora.testing.discord import DiscordEmulator
from ora.testing.llm import FakeLLMServer
from ora.testing.process import BotProcess, free_port
from tests.conftest import SCHEMAS

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


def database_env(database_url: DatabaseUrl, data: Path) -> dict[str, str]:
    """How a bot is pointed at `database_url`: the SQLite file as the seed does (ORA_BOT_DB), or DATABASE_URL."""
    if database_url.path is not None:
        return {"ORA_BOT_DB": str(data / "ora_bot.db")}
    assert database_url.dsn is not None
    return {"DATABASE_URL": database_url.dsn}


@pytest.fixture
def bot_env(emulator: DiscordEmulator, tmp_path: Path, database_url: DatabaseUrl) -> dict[str, str]:
    """The environment of a bot in dev-guild mode against `emulator`, with its own database and port."""
    port = free_port()
    data = tmp_path / "data"
    return {
        "DISCORD_BOT_TOKEN": emulator.token,
        "DISCORD_APP_ID": str(emulator.application_id),
        "DISCORD_REST_URL": emulator.rest_url,
        "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
        **database_env(database_url, data),
        "DATASET_DIR": str(data / "datasets"),
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


Query = Callable[..., Awaitable[list[dict[str, Any]]]]


@pytest.fixture
async def database(bot_env: dict[str, str], database_url: DatabaseUrl) -> AsyncIterator[Query]:
    """`await database("SELECT …", (params,))`: rows of the bot's database as dicts, on either backend (through a
    store of its own, opened on first use)."""
    url = DatabaseUrl.sqlite(Path(bot_env["ORA_BOT_DB"])) if database_url.path is not None else database_url
    opened: list[Store] = []

    async def query(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if not opened:
            opened.append(await Store.open(url, SCHEMAS))
        rows = await opened[0].fetch_all(sql, params)
        return [{key: row[key] for key in row.keys()} for row in rows]  # noqa: SIM118 - sqlite3.Row iterates values

    yield query
    for store in opened:
        await store.close()
