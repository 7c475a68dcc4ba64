"""DISCORD_APP_ID is checked against the application the bot token belongs to, before any command is synced."""

from __future__ import annotations

from ora.testing.discord import DiscordEmulator
from tests.e2e.conftest import StartBot


async def test_a_wrong_application_id_exits_2_before_syncing(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    wrong_id = emulator.application_id + 1
    process = await start_bot(wait=False, DISCORD_APP_ID=str(wrong_id))
    assert await process.wait_exit(timeout=20) == 2
    assert (
        f"DISCORD_APP_ID is {wrong_id} but the token belongs to application {emulator.application_id}" in process.stdout
    )
    assert any(path.endswith("/oauth2/applications/@me") for _, path in emulator.rest_requests)
    assert emulator.command_store.overwrites == {}
    assert emulator.commands(emulator.default_guild.id) == [] and emulator.commands() == []
