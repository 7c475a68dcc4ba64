"""Start one bot (the ORA bot, the minimal lightbulb bot, hikari alone) against a fresh emulator and the fakes.

Everything a benchmark opens here is closed by the `running_bot` context manager: the bot process (SIGTERM,
then SIGKILL), the emulator, the fake LLM and ORA servers, the temporary folder and, for the ORA bot on
PostgreSQL, its database (the server itself belongs to the caller: one per benchmark run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench import procstat
from ora.testing.discord import DiscordEmulator
from ora.testing.llm import FakeLLMServer
from ora.testing.ora_api import FakeOraApi
from ora.testing.postgres import PostgresServer, drop_database
from ora.testing.process import BotProcess, free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LAUNCHER = BENCH_DIR / "launch.py"
MINIMAL_BOT = BENCH_DIR / "minimal_bot.py"
PLAIN_HIKARI_BOT = BENCH_DIR / "plain_hikari_bot.py"

#: the ORA bot (`python -m ora`), the minimal hikari + lightbulb bot, hikari alone
BotKind = Literal["full", "minimal", "plain_hikari"]
Variant = Literal["plain", "json", "libs", "uvloop", "speedups"]
#: The ORA bot's store: `ORA_BOT_DB` (a file in the bot's temporary folder) or `DATABASE_URL` (PostgreSQL)
Database = Literal["sqlite", "postgresql"]

#: Heartbeat interval the emulator asks for: short, so /ping has a measured latency soon after READY.
HEARTBEAT_MS = 1000
START_TIMEOUT = 60.0


class StartFailed(RuntimeError):
    def __init__(self, kind: str, variant: str, process: BotProcess) -> None:
        super().__init__(
            f"the {kind} bot ({variant}) did not become ready within {START_TIMEOUT:g} s; "
            f"stdout:\n{process.stdout[-3000:]}\nstderr:\n{process.stderr[-3000:]}"
        )


@dataclass
class Startup:
    """Seconds from process start to the emulator seeing READY go out, to the command PUT, to the ready line."""

    ready: float
    synced: float
    serving: float
    rss_ready: int


@dataclass
class RunningBot:
    kind: BotKind
    variant: Variant
    emulator: DiscordEmulator
    process: BotProcess
    startup: Startup
    llm: FakeLLMServer
    ora: FakeOraApi
    env: dict[str, str] = field(default_factory=dict)
    #: "full", "minimal", or "candidate NAME" for the full bot run from another copy of `ora/`
    label: str = ""
    #: the ORA bot's store ("sqlite" for the other bots, which have none)
    database: Database = "sqlite"

    @property
    def pid(self) -> int:
        return self.process.pid


def add_site_dirs(site_dirs: tuple[Path, ...]) -> None:
    """Make extra package folders importable here too: the emulator serves zstd-stream only if it can import it."""
    for path in reversed(site_dirs):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def bot_command(kind: BotKind, variant: Variant) -> tuple[str, ...]:
    """Arguments after the interpreter: the launcher, the speed-up mode and the bot."""
    target = ("-m", "ora") if kind == "full" else (str(MINIMAL_BOT if kind == "minimal" else PLAIN_HIKARI_BOT),)
    return (str(LAUNCHER), variant, *target)


def bot_environment(
    kind: BotKind,
    emulator: DiscordEmulator,
    workdir: Path,
    *,
    llm_url: str,
    ora_url: str,
    site_dirs: tuple[Path, ...],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {
        "DISCORD_BOT_TOKEN": emulator.token,
        "DISCORD_APP_ID": str(emulator.application_id),
        "DISCORD_REST_URL": emulator.rest_url,
        "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
        "LOG_LEVEL": "INFO",
        # bench/ is not an installed package: the launcher and the minimal bot import from the checkout.
        "PYTHONPATH": os.pathsep.join([*(str(path) for path in site_dirs), str(REPO_ROOT)]),
    }
    if kind == "full":
        env |= {
            "DISCORD_APP_ID": str(emulator.application_id),
            "ORA_BOT_DB": str(workdir / "data" / "ora_bot.db"),
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(free_port()),
            "LLM_BASE_URL": llm_url,
            "ORA_API_BASE_URL": ora_url,
        }
    return env | dict(extra or {})


@contextlib.asynccontextmanager
async def running_bot(
    kind: BotKind,
    variant: Variant,
    *,
    site_dirs: tuple[Path, ...] = (),
    extra_env: Mapping[str, str] | None = None,
    heartbeat_ms: int = HEARTBEAT_MS,
    ora_source: Path | None = None,
    label: str = "",
    postgres: PostgresServer | None = None,
) -> AsyncIterator[RunningBot]:
    """A bot of `kind` serving a fresh emulator, with start-up figures measured; stopped on exit.

    `ora_source`: a folder holding another `ora/` package (a candidate change), imported instead of this one.
    `postgres`: a running server; the ORA bot then gets a fresh database on it as `DATABASE_URL` (dropped on exit)
    instead of a SQLite file.
    """
    if ora_source is not None:
        site_dirs = (ora_source, *site_dirs)
    add_site_dirs(site_dirs)
    database_url = await postgres.create_database() if postgres is not None and kind == "full" else None
    try:
        async with _serving(kind, variant, site_dirs, extra_env, heartbeat_ms, label, database_url) as bot:
            yield bot
    finally:
        if postgres is not None and database_url is not None:
            with contextlib.suppress(Exception):  # the server is thrown away at the end of the run anyway
                await drop_database(database_url, postgres.admin_url)


@contextlib.asynccontextmanager
async def _serving(
    kind: BotKind,
    variant: Variant,
    site_dirs: tuple[Path, ...],
    extra_env: Mapping[str, str] | None,
    heartbeat_ms: int,
    label: str,
    database_url: str | None,
) -> AsyncIterator[RunningBot]:
    with tempfile.TemporaryDirectory(prefix=f"ora-bench-{kind}-") as tmp:
        workdir = Path(tmp)
        async with (
            DiscordEmulator(heartbeat_interval_ms=heartbeat_ms) as emulator,
            FakeLLMServer() as llm,
            FakeOraApi() as ora,
        ):
            extra = {"DATABASE_URL": database_url} if database_url is not None else {}
            env = bot_environment(
                kind,
                emulator,
                workdir,
                llm_url=llm.base_url,
                ora_url=ora.base_url,
                site_dirs=site_dirs,
                extra={**extra, **(extra_env or {})},
            )
            process = BotProcess(env, cwd=workdir, python=sys.executable, args=bot_command(kind, variant))
            try:
                try:
                    startup = await _start(process, emulator)
                except TimeoutError as error:
                    raise StartFailed(kind, variant, process) from error
                database: Database = "postgresql" if database_url is not None else "sqlite"
                yield RunningBot(kind, variant, emulator, process, startup, llm, ora, env, label or kind, database)
            finally:
                with contextlib.suppress(TimeoutError):
                    await process.stop(timeout=10)


async def _start(process: BotProcess, emulator: DiscordEmulator) -> Startup:
    loop = asyncio.get_running_loop()
    await process.start()
    started = process.started_at
    guild = emulator.default_guild.id
    async with asyncio.timeout(START_TIMEOUT):
        await emulator.wait_until(lambda: emulator.ready_count >= 1, timeout=START_TIMEOUT, what="READY")
        ready = loop.time() - started
        await emulator.wait_commands_synced(guild, timeout=START_TIMEOUT)
        synced = loop.time() - started
        await process.wait_ready(timeout=START_TIMEOUT)
        serving = loop.time() - started
    return Startup(ready=ready, synced=synced, serving=serving, rss_ready=procstat.rss_bytes(process.pid))
