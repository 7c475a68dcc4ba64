"""ora.core.linkd_compat: each injected command generates its dependency resolver once, through real lightbulb
invocations (an in-process hikari GatewayBot + lightbulb client against the Discord emulator), and the layer
switches itself off where linkd already keeps resolvers.

linkd's code generator is wrapped to count its calls (a spy on the library, not on our code).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import hikari
import hikari.impl.shard
import lightbulb
import pytest
from linkd.solver import AutoInjecting

from ora.app import full_catalog
from ora.core.config import Settings
from ora.core.linkd_compat import (
    cache_injection_resolvers,
    linkd_version,
    remove_injection_resolver_cache,
    resolver_is_regenerated,
)
from ora.core.replies import Replies
from ora.core.store import Store
from ora.core.store.users import UserPreferences
from ora.features.core_commands import commands as core
from ora.testing.discord import DiscordEmulator, User
from ora.testing.process import BotProcess, free_port

INVOCATIONS = 6


class Greeting:
    """A service injected into `Echo` by lightbulb's DI."""

    def __init__(self, word: str) -> None:
        self.word = word


class Echo(lightbulb.SlashCommand, name="echo", description="Echoes its option"):
    text = lightbulb.string("text", "What to echo")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, greeting: Greeting) -> None:
        await ctx.respond(f"{greeting.word} {self.text}", ephemeral=True)


@pytest.fixture
def generated() -> Iterator[collections.Counter[str]]:
    """How many times linkd generated a resolver, by the injected function's qualified name."""
    counts: collections.Counter[str] = collections.Counter()
    original = AutoInjecting._codegen_dependency_func

    def counting(self: AutoInjecting) -> Any:
        counts[self._func.__qualname__] += 1
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AutoInjecting, "_codegen_dependency_func", counting)
        yield counts


@pytest.fixture
def resolver_cache() -> Iterator[None]:
    assert cache_injection_resolvers()
    yield
    remove_injection_resolver_cache()


@pytest.fixture(autouse=True)
def fast_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hikari.impl.shard, "_BACKOFF_WINDOW", 0.0)


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(heartbeat_interval_ms=1000) as emu:
        yield emu


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """SQLite only: what is measured is lightbulb's dependency injection, not the database."""
    store = await Store.open(tmp_path / "ora.db")
    yield store
    await store.close()


@pytest.fixture
async def bot(emulator: DiscordEmulator, store: Store, resolver_cache: None) -> AsyncIterator[hikari.GatewayBot]:
    """ORA's own /ping (with its real services) and `Echo`, on a real lightbulb client."""
    catalog = full_catalog()
    settings = Settings(discord_token=emulator.token, discord_app_id=emulator.application_id)
    bot = hikari.GatewayBot(emulator.token, rest_url=emulator.rest_url, intents=hikari.Intents.GUILDS, banner=None)
    client = lightbulb.client_from_app(
        bot, default_enabled_guilds=[emulator.default_guild.id], localization_provider=catalog.localization_provider()
    )
    registry = client.di.registry_for(lightbulb.di.Contexts.DEFAULT)
    registry.register_value(Replies, Replies(UserPreferences(store), settings, catalog))
    registry.register_value(hikari.ShardAware, bot)  # type: ignore[type-abstract]
    registry.register_value(Greeting, Greeting("echo:"))
    await client.load_extensions("ora.features.core_commands.commands")
    client.register(Echo)
    bot.subscribe(hikari.StartedEvent, client.start)
    bot.subscribe(hikari.StoppingEvent, client.stop)
    async with asyncio.timeout(10):
        await bot.start(check_for_updates=False)
    try:
        await emulator.wait_commands_synced(emulator.default_guild.id, timeout=10)
        yield bot
    finally:
        async with asyncio.timeout(10):
            await bot.close()


async def test_each_command_generates_its_resolver_once(
    emulator: DiscordEmulator, bot: hikari.GatewayBot, generated: collections.Counter[str]
) -> None:
    for _ in range(INVOCATIONS):
        rec = await emulator.send_command("ping")
        body = await rec.wait_initial(timeout=5)
        assert body["data"]["content"].startswith("Pong!")
        assert rec.errors == []
    for index in range(INVOCATIONS):
        rec = await emulator.send_command("echo", {"text": str(index)})
        assert (await rec.wait_initial(timeout=5))["data"]["content"] == f"echo: {index}"

    # Without the layer: INVOCATIONS each (lightbulb looks `invoke` up on a new command instance every time).
    assert generated[core.Ping.invoke._func.__qualname__] == 1
    assert generated[Echo.invoke._func.__qualname__] == 1


async def test_concurrent_invocations_keep_their_own_command_instance(
    emulator: DiscordEmulator, bot: hikari.GatewayBot
) -> None:
    """The shared resolver carries no `self`: each invocation answers with its own option value."""
    users = [User(id=1_400_000_000_000_000_000 + index, username=f"user{index}") for index in range(INVOCATIONS)]
    records = await asyncio.gather(
        *(emulator.send_command("echo", {"text": f"from {user.username}"}, user=user) for user in users)
    )
    bodies = await asyncio.gather(*(rec.wait_initial(timeout=5) for rec in records))
    assert [body["data"]["content"] for body in bodies] == [f"echo: from {user.username}" for user in users]


async def test_the_bot_switches_the_layer_on_at_start(emulator: DiscordEmulator, tmp_path: Path) -> None:
    """`python -m ora` (ora.core.assembly.Bot.run) installs the layer before it takes commands, and says so once."""
    env = {
        "DISCORD_BOT_TOKEN": emulator.token,
        "DISCORD_APP_ID": str(emulator.application_id),
        "DISCORD_REST_URL": emulator.rest_url,
        "ORA_DEV_GUILD_ID": str(emulator.default_guild.id),
        "ORA_BOT_DB": str(tmp_path / "ora_bot.db"),
        "WEB_PORT": str(free_port()),
        "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }
    async with BotProcess(env, cwd=tmp_path) as process:
        await process.wait_ready(timeout=30)
        for _ in range(3):
            rec = await emulator.send_command("ping")
            assert (await rec.wait_initial(timeout=5))["data"]["content"].startswith("Pong!")
        lines = [line for line in process.stdout_lines if "ora.core.linkd_compat" in line]
    assert len(lines) == 1
    assert f"linkd {linkd_version()} regenerates the dependency resolver" in lines[0]
    assert "ora.core.linkd_compat caches it per method" in lines[0]


class DefectiveAutoInjecting(AutoInjecting):
    """linkd 0.6.5's behaviour, inherited: a stand-in so these tests leave linkd's own class alone.

    No `__slots__ = ()`: AutoInjecting.__setattr__ reads `self.__slots__`, which must stay the base class's.
    """


class FixedAutoInjecting(AutoInjecting):
    """What a fixed linkd could do: keep the resolver on the descriptor when binding."""

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> AutoInjecting:
        if instance is None:
            return self
        if self._dependency_func is None:
            self._dependency_func = self._codegen_dependency_func()
        return FixedAutoInjecting(self._func, instance, self._dependency_func)


@contextlib.contextmanager
def layer_removed_after(cls: type[AutoInjecting]) -> Iterator[None]:
    try:
        yield
    finally:
        remove_injection_resolver_cache(cls)


def test_layer_switches_on_for_the_defect_once(caplog: pytest.LogCaptureFixture) -> None:
    assert resolver_is_regenerated(DefectiveAutoInjecting)
    with layer_removed_after(DefectiveAutoInjecting), caplog.at_level(logging.INFO, logger="ora.core.linkd_compat"):
        assert cache_injection_resolvers(DefectiveAutoInjecting)
        patched = DefectiveAutoInjecting.__dict__["__get__"]
        assert cache_injection_resolvers(DefectiveAutoInjecting)  # idempotent: not wrapped twice
        assert DefectiveAutoInjecting.__dict__["__get__"] is patched
        assert not resolver_is_regenerated(DefectiveAutoInjecting)
    assert [record.getMessage() for record in caplog.records] == [
        f"linkd {linkd_version()} regenerates the dependency resolver of an injected method on every call: "
        "ora.core.linkd_compat caches it per method"
    ]
    assert "__get__" not in DefectiveAutoInjecting.__dict__  # removed again
    assert resolver_is_regenerated(DefectiveAutoInjecting)


def test_layer_stays_off_once_linkd_keeps_resolvers(caplog: pytest.LogCaptureFixture) -> None:
    fixed_get = FixedAutoInjecting.__dict__["__get__"]
    with layer_removed_after(FixedAutoInjecting), caplog.at_level(logging.INFO, logger="ora.core.linkd_compat"):
        assert not cache_injection_resolvers(FixedAutoInjecting)
    assert FixedAutoInjecting.__dict__["__get__"] is fixed_get
    assert "ora.core.linkd_compat is off and can be removed" in caplog.text
