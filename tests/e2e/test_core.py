"""`python -m ora` against the Discord emulator: start-up, sync, core commands, resume, shutdown."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from ora.testing.discord import ADMINISTRATOR, DM, DiscordEmulator, User
from ora.testing.ora_api import FakeOraApi
from ora.testing.process import BotProcess
from tests.e2e.conftest import Query, StartBot

EXPECTED = {"ping", "say", "health", "link"}


async def test_start_up_syncs_localized_guild_commands(emulator: DiscordEmulator, bot: BotProcess) -> None:
    commands = await emulator.wait_commands_synced(emulator.default_guild.id)
    by_name = {command["name"]: command for command in commands}
    assert set(by_name) >= EXPECTED
    assert by_name["ping"]["description_localizations"]["ja"]
    say = by_name["say"]
    assert say["default_member_permissions"] == str(ADMINISTRATOR)
    assert say["contexts"] == [0]
    assert emulator.commands(None) == []
    assert emulator.identify_payloads[0]["intents"] == 1  # GUILDS only: no privileged intents
    assert "ready: commands synced" in bot.stdout


async def test_without_dev_guild_commands_sync_globally(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    await start_bot(unset=("ORA_DEV_GUILD_ID",))
    commands = await emulator.wait_commands_synced(None)
    assert {command["name"] for command in commands} >= EXPECTED
    assert emulator.commands(emulator.default_guild.id) == []


async def test_ping_is_ephemeral_with_latency(emulator: DiscordEmulator, bot: BotProcess) -> None:
    await emulator.wait_until(lambda: emulator.heartbeat_count >= 1, timeout=5, what="a heartbeat")
    rec = await emulator.send_command("ping")
    body = await rec.wait_initial()
    assert body["type"] == 4
    assert rec.ephemeral
    assert body["data"]["content"].startswith("Pong!")
    assert " ms" in body["data"]["content"]
    assert rec.errors == []


async def test_japanese_interaction_gets_a_japanese_reply(emulator: DiscordEmulator, bot: BotProcess) -> None:
    rec = await emulator.send_command("ping", locale="ja")
    body = await rec.wait_initial()
    assert "ハートビート遅延" in body["data"]["content"]


async def test_say_echoes_for_admins_without_allowing_any_mention(emulator: DiscordEmulator, bot: BotProcess) -> None:
    text = "hello @everyone <@&1234> <@5678>"
    rec = await emulator.send_command("say", {"text": text}, member_permissions=ADMINISTRATOR)
    body = await rec.wait_initial()
    assert body["data"]["content"] == text
    assert body["data"]["allowed_mentions"] == {"parse": []}
    assert not rec.ephemeral
    rec = await emulator.send_command("say", {"text": "quiet", "ephemeral": True}, member_permissions=ADMINISTRATOR)
    await rec.wait_initial()
    assert rec.ephemeral


async def test_say_is_refused_for_non_admins(emulator: DiscordEmulator, bot: BotProcess) -> None:
    # A guild could override default_member_permissions; the server-side check still refuses.
    rec = await emulator.send_command("say", {"text": "hi"}, member_permissions=0)
    body = await rec.wait_initial()
    assert rec.ephemeral
    assert "administrators" in body["data"]["content"]
    rec = await emulator.send_command("say", {"text": "hi"}, member_permissions=0, locale="ja")
    body = await rec.wait_initial()
    assert "管理者" in body["data"]["content"]


async def test_say_is_refused_in_dms(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    # Global commands reach DMs; /say declares guild-only contexts, and the bot refuses a DM invocation anyway.
    await start_bot(unset=("ORA_DEV_GUILD_ID",))
    rec = await emulator.send_command("say", {"text": "hi"}, guild_id=DM)
    body = await rec.wait_initial()
    assert rec.ephemeral
    assert "only be used in a server" in body["data"]["content"]


async def test_health_reports_process_versions_and_dependencies(emulator: DiscordEmulator, bot: BotProcess) -> None:
    rec = await emulator.send_command("health")
    message = await rec.wait_message(timeout=10)
    content = message["content"]
    assert f"PID {bot.pid}" in content
    assert "1 server(s)" in content
    assert "hikari 2." in content and "lightbulb 3." in content
    assert "Database: OK" in content
    assert "LLM endpoint: unreachable" in content  # nothing listens at LLM_BASE_URL in this test
    assert "ORA API: not configured" in content
    assert rec.deferred and rec.ephemeral  # private by default


async def test_link_without_ora_stores_only_a_hash_of_a_local_code(
    emulator: DiscordEmulator, bot: BotProcess, database: Query
) -> None:
    rec = await emulator.send_command("link")
    body = await rec.wait_initial()
    assert rec.ephemeral
    content = body["data"]["content"]
    code = content.split("`")[1]
    assert len(code) == 14
    rows = await database("SELECT code_hash, discord_user_id FROM link_codes")
    assert len(rows) == 1 and rows[0]["discord_user_id"] == emulator.default_user.id
    assert code not in rows[0]["code_hash"]


async def test_link_with_ora_shows_its_code_and_a_clear_error_when_ora_fails(
    emulator: DiscordEmulator, start_bot: StartBot
) -> None:
    async with FakeOraApi() as ora:
        await start_bot(ORA_API_BASE_URL=ora.base_url)
        rec = await emulator.send_command("link")
        message = await rec.wait_message(timeout=10)
        assert ora.issued_codes[0] in message["content"]
        assert ora.link_requests == [{"discord_user_id": str(emulator.default_user.id)}]
        health = await emulator.send_command("health")
        assert "ORA API: OK" in (await health.wait_message(timeout=10))["content"]
        ora.fault = "http500"
        rec = await emulator.send_command("link")
        message = await rec.wait_message(timeout=10)
        assert rec.ephemeral
        assert "did not answer" in message["content"] and "HTTP 500" in message["content"]
        assert "Traceback" not in message["content"]


async def test_healthz_is_ready_json(bot: BotProcess, web_url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{web_url}/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok" and body["gateway"] is True and body["database"] is True
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_resume_after_dropped_connection_delivers_queued_interaction(
    emulator: DiscordEmulator, bot: BotProcess
) -> None:
    await emulator.drop_connection()
    await emulator.wait_disconnected(timeout=5)
    queued = await emulator.send_command("ping", user=User(id=4242, username="late"))
    await emulator.wait_resumed(timeout=20)
    body = await queued.wait_initial(timeout=10)
    assert body["data"]["content"].startswith("Pong!")
    after = await emulator.send_command("ping")
    assert (await after.wait_initial())["type"] == 4
    await bot.wait_for_line("disconnected", timeout=5)
    await bot.wait_for_line("resumed", timeout=5)


async def test_sigterm_stops_cleanly_within_five_seconds(emulator: DiscordEmulator, bot: BotProcess) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await bot.stop(signal.SIGTERM, timeout=5)
    assert code == 0
    assert loop.time() - started < 5
    assert "stopped" in bot.stdout
    assert bot.stderr.strip() == ""


async def test_sigint_also_stops_cleanly(bot: BotProcess) -> None:
    assert await bot.stop(signal.SIGINT, timeout=5) == 0


async def test_token_never_appears_in_debug_output(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    process = await start_bot(LOG_LEVEL="DEBUG")
    rec = await emulator.send_command("ping")
    await rec.wait_initial()
    await process.stop()
    assert emulator.token not in process.stdout + process.stderr
    assert "DEBUG   hikari" in process.stdout  # the debug output really was on


async def test_configuration_errors_exit_2_listing_every_problem(
    emulator: DiscordEmulator, start_bot: StartBot
) -> None:
    process = await start_bot(
        wait=False,
        unset=("DISCORD_APP_ID",),
        DISCORD_BOT_TOKEN="totally wrong token",
        PRIVACY_DEFAULT="maybe",
        WEB_PORT="99999",
        LOG_LEVEL="chatty",
        ORA_DEV_GUILD_ID="guild-one",
    )
    code = await process.wait_exit(timeout=15)
    assert code == 2
    for name in ("DISCORD_APP_ID", "DISCORD_BOT_TOKEN", "PRIVACY_DEFAULT", "WEB_PORT", "LOG_LEVEL", "ORA_DEV_GUILD_ID"):
        assert name in process.stderr
    assert "totally wrong token" not in process.stderr + process.stdout
    assert "Traceback" not in process.stderr
    assert emulator.rest_requests == [] and emulator.connection_count == 0


async def test_rejected_token_exits_1_with_a_clear_message(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    emulator.token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.a-different-valid-looking-token"
    process = await start_bot(wait=False)
    assert await process.wait_exit(timeout=20) == 1
    assert "rejected DISCORD_BOT_TOKEN" in process.stdout


@pytest.mark.one_backend
async def test_a_sqlite_file_of_a_newer_layout_exits_1_clearly(start_bot: StartBot, bot_env: dict[str, str]) -> None:
    db_path = Path(bot_env["ORA_BOT_DB"])
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA user_version = 99")
    process = await start_bot(wait=False)
    assert await process.wait_exit(timeout=15) == 1
    assert "newer than this ORA bot knows" in process.stdout


async def test_a_database_from_a_newer_release_exits_1_and_is_left_alone(start_bot: StartBot, database: Query) -> None:
    await database("UPDATE ora_schema SET version = 42 WHERE component = 'datasets'")
    process = await start_bot(wait=False)
    assert await process.wait_exit(timeout=15) == 1
    assert "written by a newer release of the ORA bot (schema datasets 42" in process.stdout
    assert await database("SELECT version FROM ora_schema WHERE component = 'datasets'") == [{"version": 42}]


async def test_docker_healthcheck_command_follows_healthz(bot: BotProcess, bot_env: dict[str, str]) -> None:
    async def healthcheck(port: str) -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ora.healthcheck",
            env={"WEB_PORT": port, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(15):
            return await process.wait()

    assert await healthcheck(bot_env["WEB_PORT"]) == 0
    await bot.stop()
    assert await healthcheck(bot_env["WEB_PORT"]) == 1
