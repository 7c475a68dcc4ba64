"""The example feature (ora/features/example), loaded by `python -m ora` through ORA_EXTRA_FEATURES: what the
README's "Adding a feature" promises a new feature gets — its command, strings, setting, table, service and route."""

from __future__ import annotations

import aiohttp

from ora.testing.discord import DiscordEmulator
from tests.e2e.conftest import Query, StartBot

EXAMPLE = {"ORA_EXTRA_FEATURES": "ora.features.example"}


async def test_a_feature_named_in_ora_extra_features_runs_with_all_its_parts(
    emulator: DiscordEmulator, start_bot: StartBot, web_url: str, database: Query
) -> None:
    await start_bot(**EXAMPLE, EXAMPLE_GREETING="Howdy")
    commands = {command["name"]: command for command in emulator.commands(emulator.default_guild.id)}
    assert commands["hello"]["description_localizations"]["ja"] == "あいさつします (機能の例)"
    first = await emulator.send_command("hello")
    assert (await first.wait_initial())["data"]["content"] == "Howdy, tester! That makes 1 greeting(s) for you."
    assert first.ephemeral  # replies follow the privacy mode (private by default)
    second = await emulator.send_command("hello", {"name": "@everyone"}, locale="ja")
    content = (await second.wait_initial())["data"]["content"]
    assert content == "Howdy、@everyone さん！あなたへのあいさつは 2 回目です。"
    assert second.callbacks[0]["data"]["allowed_mentions"] == {"parse": []}  # mentions never ping
    async with aiohttp.ClientSession() as session, session.get(f"{web_url}/example/greetings") as response:
        assert response.status == 200
        assert await response.json() == {"greetings": 2}
    rows = await database("SELECT user_id, count FROM example_greetings")
    assert rows == [{"user_id": emulator.default_user.id, "count": 2}]
    versions = await database("SELECT version FROM ora_schema WHERE component = 'example'")
    assert versions == [{"version": 1}]


async def test_without_it_the_bot_has_no_example_command(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    await start_bot()
    assert "hello" not in {command["name"] for command in emulator.commands(emulator.default_guild.id)}


async def test_a_feature_that_cannot_be_loaded_or_configured_is_a_configuration_error(start_bot: StartBot) -> None:
    missing = await start_bot(wait=False, ORA_EXTRA_FEATURES="ora.features.no_such_feature")
    assert await missing.wait_exit() == 2
    assert "ORA_EXTRA_FEATURES: cannot import 'ora.features.no_such_feature'" in missing.stderr
    not_a_feature = await start_bot(wait=False, ORA_EXTRA_FEATURES="ora.core.config")
    assert await not_a_feature.wait_exit() == 2
    assert "'ora.core.config' has no `feature = Feature(...)`" in not_a_feature.stderr
    bad_setting = await start_bot(wait=False, **EXAMPLE, EXAMPLE_GREETING="x" * 41, WEB_PORT="0")
    assert await bad_setting.wait_exit() == 2
    assert "EXAMPLE_GREETING is invalid: expected at most 40 printable characters" in bad_setting.stderr
    assert "WEB_PORT is invalid" in bad_setting.stderr  # every problem at once, the feature's with the core's
