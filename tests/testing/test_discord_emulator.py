"""The Discord emulator against a real, in-process hikari GatewayBot + lightbulb client.

Every wait is bounded; the bot and emulator are always closed by their fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import aiohttp
import hikari
import hikari.impl.shard
import lightbulb
import pytest

from ora.testing.discord import DM, DiscordEmulator, Guild, UnknownCommandError, User
from ora.testing.discord import payloads as pl
from ora.testing.discord.interactions import InteractionSpec, build_interaction

GUILD_ID = 1_300_000_000_000_000_100
ALICE = User(id=1_300_000_000_000_000_401, username="alice", global_name="Alice")


# ---------------------------------------------------------------------------------------------------- bot side


class Gate:
    """Lets a test hold a command until it says so (injected into commands by lightbulb's DI)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()


class Ping(lightbulb.SlashCommand, name="ping", description="Replies pong"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond("pong", ephemeral=True)


class Slow(lightbulb.SlashCommand, name="slow", description="Defers, edits, follows up"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.defer()
        await ctx.interaction.edit_initial_response("working…")
        await ctx.interaction.edit_initial_response("done")
        await ctx.respond("and one more thing")


class DeferThenRespond(lightbulb.SlashCommand, name="deferred", description="Defers then responds"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.defer(ephemeral=True)
        await ctx.respond("answer after thinking")


class Twice(lightbulb.SlashCommand, name="twice", description="Answers twice"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond("one")
        try:
            await ctx.interaction.create_initial_response(hikari.ResponseType.MESSAGE_CREATE, "two")
        except hikari.BadRequestError as ex:
            await ctx.respond(f"refused {ex.code}")


class Late(lightbulb.SlashCommand, name="late", description="Answers after the deadline"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, gate: Gate) -> None:
        await gate.release.wait()
        with contextlib.suppress(hikari.NotFoundError):
            await ctx.respond("too late")


class Long(lightbulb.SlashCommand, name="long", description="Too long a reply"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        try:
            await ctx.respond("x" * 2001)
        except hikari.BadRequestError:
            await ctx.respond("split it")


class Upload(lightbulb.SlashCommand, name="upload", description="Replies with a file"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond("here", attachment=hikari.Bytes(b"a,b\n1,2\n", "out.csv"))


async def _fruit(ctx: lightbulb.AutocompleteContext[str]) -> None:
    typed = str(ctx.focused.value or "")
    await ctx.respond([f for f in ("apple", "apricot", "banana") if f.startswith(typed)])


class Pick(lightbulb.SlashCommand, name="pick", description="Autocomplete"):
    fruit = lightbulb.string("fruit", "A fruit", autocomplete=_fruit)
    count = lightbulb.integer("count", "How many", default=1)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond(f"{self.count}x {self.fruit}")


class Whoami(lightbulb.SlashCommand, name="whoami", description="Global command, also in DMs"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        where = "dm" if ctx.guild_id is None else f"guild {ctx.guild_id}"
        perms = int(ctx.member.permissions) if ctx.member else -1
        await ctx.respond(f"{ctx.user.username} {where} {ctx.interaction.locale} {perms}")


dataset = lightbulb.Group("dataset", "Datasets")


@dataset.register
class DatasetAdd(lightbulb.SlashCommand, name="add", description="Add a file"):
    file = lightbulb.attachment("file", "The file")
    name = lightbulb.string("name", "A name", default="")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.defer(ephemeral=True)
        digest = hashlib.sha256()
        async with aiohttp.ClientSession() as http, http.get(self.file.url) as resp:
            resp.raise_for_status()
            async for chunk in resp.content.iter_chunked(65536):
                digest.update(chunk)
        limit = ctx.interaction.attachment_size_limit
        await ctx.interaction.edit_initial_response(
            f"{self.name}|{self.file.filename}|{self.file.size}|{limit}|{digest.hexdigest()}"
        )


@contextlib.asynccontextmanager
async def running_bot(emu: DiscordEmulator, *, gate: Gate | None = None) -> AsyncIterator[hikari.GatewayBot]:
    """A real GatewayBot + lightbulb client against the emulator (guild commands + one global)."""
    bot = hikari.GatewayBot(emu.token, rest_url=emu.rest_url, intents=hikari.Intents.GUILDS, logs=None, banner=None)
    client = lightbulb.client_from_app(bot, default_enabled_guilds=[GUILD_ID])
    for command in (Ping, Slow, DeferThenRespond, Twice, Late, Long, Upload, Pick, dataset):
        client.register(command)
    client.register(Whoami, global_=True)
    client.di.registry_for(lightbulb.di.Contexts.DEFAULT).register_value(Gate, gate or Gate())
    bot.subscribe(hikari.StartedEvent, client.start)
    bot.subscribe(hikari.StoppingEvent, client.stop)
    async with asyncio.timeout(10):
        await bot.start(check_for_updates=False)
    try:
        yield bot
    finally:
        async with asyncio.timeout(10):
            await bot.close()


@pytest.fixture(autouse=True)
def fast_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """hikari backs off 1-2 s before reconnecting within 30 s of the last start; tests need not wait."""
    monkeypatch.setattr(hikari.impl.shard, "_BACKOFF_WINDOW", 0.0)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(guilds=[Guild(id=GUILD_ID, name="Test Guild")]) as emulator:
        yield emulator


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def bot(emu: DiscordEmulator, gate: Gate) -> AsyncIterator[hikari.GatewayBot]:
    async with running_bot(emu, gate=gate) as running:
        yield running


# ---------------------------------------------------------------------------------------------------- connect, sync


async def test_connect_identify_ready_and_sync(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    await emu.wait_ready(timeout=5)
    identify = emu.identify_payloads[0]
    assert identify["token"] == emu.token
    assert identify["intents"] == int(hikari.Intents.GUILDS)
    assert identify["shard"] == [0, 1]
    assert emu.connection_count == 1
    assert emu.resume_count == 0

    guild_cmds = await emu.wait_commands_synced(GUILD_ID, timeout=5)
    names = {c["name"] for c in guild_cmds}
    assert names == {"ping", "slow", "deferred", "twice", "late", "long", "upload", "pick", "dataset"}
    dataset_cmd = next(c for c in guild_cmds if c["name"] == "dataset")
    assert [o["name"] for o in dataset_cmd["options"]] == ["add"]
    assert all(c["guild_id"] == str(GUILD_ID) and int(c["id"]) > 0 for c in guild_cmds)
    assert [c["name"] for c in await emu.wait_commands_synced(None, timeout=5)] == ["whoami"]

    # What hikari + lightbulb call at start-up, and nothing unknown.
    paths = [path for _, path in emu.rest_requests]
    assert paths[0] == "/api/v10/gateway/bot"
    assert "/api/v10/oauth2/applications/@me" in paths
    assert emu.unknown_routes == []
    # hikari's cache got the guild from GUILD_CREATE.
    cached = bot.cache.get_guild(GUILD_ID)
    assert cached is not None
    assert cached.name == "Test Guild"


async def test_restarted_bot_does_not_resync_unchanged_commands(emu: DiscordEmulator, gate: Gate) -> None:
    async with running_bot(emu, gate=gate):
        await emu.wait_commands_synced(GUILD_ID, timeout=5)
    async with running_bot(emu, gate=gate):
        await emu.wait_identified(2, timeout=5)
    # lightbulb compared what GET returned with its own commands and found nothing to change.
    assert emu.command_store.overwrites == {GUILD_ID: 1, None: 1}


# ---------------------------------------------------------------------------------------------------- responses


async def test_ping_responds_ephemerally(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_command("ping", user=ALICE)
    initial = await rec.wait_initial(timeout=5)
    assert initial["type"] == 4
    assert initial["data"]["content"] == "pong"
    assert rec.ephemeral
    message = await rec.wait_message(timeout=5)
    assert message["content"] == "pong"
    assert message["flags"] & 64
    assert rec.final_content() == "pong"
    assert rec.errors == []
    member = rec.payload["member"]
    assert member["user"]["id"] == str(ALICE.id)
    assert isinstance(member["permissions"], str)


async def test_defer_edit_and_followup(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_command("slow")
    assert (await rec.wait_initial(timeout=5))["type"] == 5
    await rec.wait_for(lambda r: len(r.followups) == 1, timeout=5)
    assert [e["content"] for e in rec.edits] == ["working…", "done"]
    assert rec.final_content() == "done"
    assert [m["content"] for m in rec.all_messages()] == ["done", "and one more thing"]
    assert not rec.ephemeral
    assert rec.errors == []


async def test_first_followup_after_defer_replaces_loading_message(
    emu: DiscordEmulator, bot: hikari.GatewayBot
) -> None:
    rec = await emu.send_command("deferred")
    message = await rec.wait_message(lambda m: m["content"], timeout=5)
    assert message["content"] == "answer after thinking"
    assert message["flags"] & 64  # keeps the deferral's ephemerality
    assert rec.ephemeral
    assert len(rec.all_messages()) == 1


async def test_second_initial_response_is_refused(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_command("twice")
    await rec.wait_for(lambda r: r.followups, timeout=5)
    assert rec.followups[0]["content"] == "refused 40060"
    assert rec.errors == ["second initial response (type 4)"]
    assert len(rec.callbacks) == 1


async def test_initial_response_after_deadline(emu: DiscordEmulator, bot: hikari.GatewayBot, gate: Gate) -> None:
    emu.interaction_deadline = 0.2
    rec = await emu.send_command("late")
    await rec.wait_for(lambda r: r.errors, timeout=5)
    assert rec.errors == ["no initial response within 0.2 s"]
    gate.release.set()
    await rec.wait_for(lambda r: len(r.errors) == 2, timeout=5)
    assert rec.errors[1] == "initial response after 0.2 s deadline"
    assert rec.callbacks == []


async def test_too_long_content_is_rejected(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_command("long")
    await rec.wait_message(timeout=5)
    assert rec.final_content() == "split it"
    assert rec.errors == [
        "create_interaction_response rejected by Discord's API document: "
        "data.content: BASE_TYPE_MAX_LENGTH: Must be 2000 or fewer in length."
    ]
    [violation] = emu.take_violations()
    assert (violation.kind, violation.operation) == ("request", "create_interaction_response")


async def test_uploaded_file_is_recorded_and_served(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_command("upload")
    message = await rec.wait_message(timeout=5)
    assert [u.filename for u in rec.uploads] == ["out.csv"]
    assert rec.uploads[0].data == b"a,b\n1,2\n"
    (attachment,) = message["attachments"]
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as resp:
        assert resp.status == 200
        assert await resp.read() == b"a,b\n1,2\n"


async def test_dm_global_command_and_locale(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_command("whoami", user=ALICE, guild_id=DM, locale="ja")
    await rec.wait_message(timeout=5)
    assert rec.final_content() == "alice dm ja -1"
    assert rec.payload["context"] == 1
    assert "member" not in rec.payload
    assert rec.payload["user"]["id"] == str(ALICE.id)

    admin = await emu.send_command("whoami", user=ALICE, member_permissions=8)
    await admin.wait_message(timeout=5)
    assert admin.final_content() == f"alice guild {GUILD_ID} en-US {(1 << 51) - 1}"


async def test_subcommand_with_attachment_option(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    content = b"id,text\n1,hello\n"
    att = emu.add_attachment("data.csv", content, content_type="text/csv")
    rec = await emu.send_command(("dataset", "add"), {"file": att, "name": "greetings"})
    data = rec.payload["data"]
    assert data["options"][0]["name"] == "add"
    assert data["options"][0]["type"] == 1
    assert data["resolved"]["attachments"][att["id"]]["filename"] == "data.csv"
    message = await rec.wait_message(lambda m: "|" in m["content"], timeout=5)
    sha = hashlib.sha256(content).hexdigest()
    assert message["content"] == f"greetings|data.csv|{len(content)}|{10 * 1024 * 1024}|{sha}"
    assert emu.attachment_sha256(att) == sha


async def test_autocomplete(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rec = await emu.send_autocomplete("pick", {"fruit": "ap"}, focused="fruit")
    initial = await rec.wait_initial(timeout=5)
    assert initial["type"] == 8
    assert [c["value"] for c in rec.autocomplete_choices or []] == ["apple", "apricot"]
    run = await emu.send_command("pick", {"fruit": "apple", "count": "3"})
    assert run.payload["data"]["options"][1] == {"name": "count", "type": 4, "value": 3}
    await run.wait_message(timeout=5)
    assert run.final_content() == "3x apple"


async def test_unknown_commands_and_options_raise(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    with pytest.raises(UnknownCommandError):
        await emu.send_command("nope")
    with pytest.raises(UnknownCommandError):
        await emu.send_command("ping", {"extra": 1})
    with pytest.raises(UnknownCommandError):
        await emu.send_command("dataset")  # a sub-command must be chosen
    with pytest.raises(UnknownCommandError):
        await emu.send_command("ping", guild_id=None)  # guild-only command is not in DMs
    with pytest.raises(ValueError, match="required"):
        await emu.send_command("dataset add")


# ---------------------------------------------------------------------------------------------------- gateway faults


async def test_interaction_sent_while_disconnected_arrives_after_resume(
    emu: DiscordEmulator, bot: hikari.GatewayBot
) -> None:
    await emu.wait_ready(timeout=5)
    emu.accept_connections = False
    await emu.drop_connection()
    await emu.wait_disconnected(timeout=5)
    rec = await emu.send_command("ping")
    assert not rec.delivered
    emu.accept_connections = True
    await emu.wait_resumed(1, timeout=10)
    assert (await rec.wait_initial(timeout=5))["data"]["content"] == "pong"
    assert emu.resume_payloads[0]["session_id"] == next(iter(emu.sessions))
    assert len(emu.identify_payloads) == 1


async def test_reconnect_opcode_resumes(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    await emu.wait_ready(timeout=5)
    assert await emu.send_reconnect() == 1
    await emu.wait_resumed(1, timeout=10)
    assert emu.client_close_codes == [3000]  # hikari's "disconnecting temporarily"
    rec = await emu.send_command("ping")
    await rec.wait_initial(timeout=5)


async def test_invalid_session(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    await emu.wait_ready(timeout=5)
    await emu.send_invalid_session(resumable=True)
    await emu.wait_resumed(1, timeout=10)
    await emu.send_invalid_session(resumable=False)
    await emu.wait_identified(2, timeout=10)
    assert emu.resume_count == 1
    assert len(emu.sessions) == 2
    rec = await emu.send_command("ping")
    await rec.wait_initial(timeout=5)


@pytest.mark.parametrize(("code", "resumes", "readies"), [(4000, 1, 1), (4009, 0, 2)])
async def test_close_codes(emu: DiscordEmulator, bot: hikari.GatewayBot, code: int, resumes: int, readies: int) -> None:
    await emu.wait_ready(timeout=5)
    await emu.close_connection(code)
    await emu.wait_until(lambda: emu.resume_count + emu.ready_count >= 2, timeout=10, what="reconnect")
    await emu.wait_ready(timeout=5)
    assert (emu.resume_count, emu.ready_count) == (resumes, readies)


async def test_revoked_token_4004_stops_the_shard(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    await emu.wait_ready(timeout=5)
    emu.token = pl.make_token(emu.bot_user.id, secret="reset in the developer portal")
    await emu.close_connection(4000)
    with pytest.raises(hikari.GatewayServerClosedConnectionError) as info:
        async with asyncio.timeout(10):
            await bot.join()
    assert info.value.code == 4004
    assert emu.server_close_codes == [4000, 4004]


async def test_bad_token_fails_at_start(emu: DiscordEmulator) -> None:
    bot = hikari.GatewayBot(
        pl.make_token(emu.bot_user.id, secret="wrong"), rest_url=emu.rest_url, logs=None, banner=None
    )
    try:
        with pytest.raises(hikari.UnauthorizedError):
            async with asyncio.timeout(10):
                await bot.start(check_for_updates=False)
    finally:
        with contextlib.suppress(hikari.ComponentStateConflictError):
            await bot.close()
    assert emu.connection_count == 0


async def test_missing_heartbeat_ack_makes_hikari_reconnect() -> None:
    async with DiscordEmulator(heartbeat_interval_ms=100) as emu, running_bot(emu):
        await emu.wait_until(lambda: emu.heartbeat_count >= 2, timeout=5, what="heartbeats")
        emu.ack_heartbeats = False
        await emu.wait_until(lambda: emu.connection_count >= 2, timeout=5, what="a zombied reconnect")
        emu.ack_heartbeats = True
        await emu.wait_resumed(1, timeout=10)
        rec = await emu.send_command("ping")
        await rec.wait_initial(timeout=5)


async def test_split_zlib_frames_and_rate_limit(emu: DiscordEmulator, gate: Gate) -> None:
    emu.split_compressed_frames = True
    emu.rate_limit_next("/commands", retry_after=0.1, method="PUT")
    async with running_bot(emu, gate=gate):
        await emu.wait_commands_synced(GUILD_ID, timeout=5)
        assert len(emu.rate_limited) == 1
        rec = await emu.send_command("ping")
        await rec.wait_initial(timeout=5)


# ---------------------------------------------------------------------------------------------------- raw protocol


async def _receive(ws: aiohttp.ClientWebSocketResponse, inflate: Any = None) -> dict[str, Any]:
    async with asyncio.timeout(5):
        msg = await ws.receive()
    if inflate is None:
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return dict(json.loads(msg.data))
    assert msg.type == aiohttp.WSMsgType.BINARY, msg
    assert msg.data.endswith(b"\x00\x00\xff\xff")
    return dict(json.loads(inflate.decompress(msg.data)))


@pytest.mark.parametrize("compress", [None, "zlib-stream"])
async def test_raw_gateway_protocol(emu: DiscordEmulator, compress: str | None) -> None:
    query = "?v=10&encoding=json" + (f"&compress={compress}" if compress else "")
    inflate = zlib.decompressobj() if compress else None
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(emu.gateway_url + query) as ws:
            hello = await _receive(ws, inflate)
            assert hello["op"] == 10
            assert hello["d"]["heartbeat_interval"] == 41_250
            await ws.send_json({"op": 1, "d": None})
            assert (await _receive(ws, inflate))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": 1, "properties": {}}})
            ready = await _receive(ws, inflate)
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["resume_gateway_url"] == emu.gateway_url
            assert ready["d"]["guilds"] == [{"id": str(GUILD_ID), "unavailable": True}]
            guild = await _receive(ws, inflate)
            assert (guild["t"], guild["s"], guild["d"]["unavailable"]) == ("GUILD_CREATE", 2, False)
            session_id = ready["d"]["session_id"]
            await ws.close(code=3000)  # like hikari: "disconnecting temporarily", the session stays

        async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
            await _receive(ws)
            await ws.send_json({"op": 6, "d": {"token": emu.token, "session_id": session_id, "seq": 1}})
            replayed = await _receive(ws)
            assert (replayed["t"], replayed["s"]) == ("GUILD_CREATE", 2)
            assert (await _receive(ws))["t"] == "RESUMED"
        # leaving the block closed with 1000, which ends the session as on Discord

        async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
            await _receive(ws)
            await ws.send_json({"op": 6, "d": {"token": emu.token, "session_id": session_id, "seq": 3}})
            assert await _receive(ws) == {"op": 9, "d": False, "s": None, "t": None}

        for first, code in [
            ({"op": 2, "d": {"token": "bad", "intents": 1}}, 4004),
            ({"op": 3, "d": {}}, 4003),
            ({"op": 2, "d": {"token": emu.token, "intents": 1 << 15}}, 4014),
        ]:
            async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
                await _receive(ws)
                await ws.send_json(first)
                async with asyncio.timeout(5):
                    closing = await ws.receive()
                assert closing.type == aiohttp.WSMsgType.CLOSE
                assert closing.data == code


# ---------------------------------------------------------------------------------------------------- REST, CDN


async def test_rest_auth_unknown_routes_and_errors(emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(emu.rest_url + "/users/@me") as resp:
            assert resp.status == 401
            assert await resp.json() == {"message": "401: Unauthorized", "code": 0}
        headers = {"Authorization": f"Bot {emu.token}"}
        async with http.get(emu.rest_url + "/users/@me", headers=headers) as resp:
            assert (await resp.json())["id"] == str(emu.bot_user.id)
        async with http.get(emu.rest_url + "/no/such/route", headers=headers) as resp:
            assert resp.status == 404
            assert (await resp.json())["code"] == 0
        async with http.post(emu.rest_url + "/interactions/1/abc/callback", json={"type": 4}) as resp:
            assert resp.status == 404
            assert await resp.json() == {"code": 10062, "message": "Unknown interaction"}
    assert emu.unknown_routes == [("GET", "/api/v10/no/such/route")]
    [violation] = emu.take_violations()
    assert [p.code for p in violation.problems] == ["UNKNOWN_ROUTE"]


async def test_attachment_faults(emu: DiscordEmulator) -> None:
    ok = emu.add_attachment("a.txt", b"hello world")
    assert ok["content_type"] == "text/plain"
    assert ok["size"] == 11
    missing = emu.add_attachment("b.txt", b"x", fault="404")
    forbidden = emu.add_attachment("c.txt", b"x", fault="403")
    dropped = emu.add_attachment("d.bin", size=300_000, seed=2, fault="drop_mid_body")
    short = emu.add_attachment("e.bin", size=1000, seed=3, fault="wrong_length")
    async with aiohttp.ClientSession() as http:
        async with http.get(ok["url"]) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert await resp.read() == b"hello world"
        async with http.get(ok["proxy_url"]) as resp:
            assert await resp.read() == b"hello world"
        async with http.get(ok["url"].replace("hm=", "hm=0")) as resp:
            assert resp.status == 404  # tampered signature reads as an expired link
        for att, status in [(missing, 404), (forbidden, 403)]:
            async with http.get(att["url"]) as resp:
                assert resp.status == status
        for att in (dropped, short):
            async with http.get(att["url"]) as resp:
                assert resp.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()
    emu.attachment_store.url_ttl = -1
    expired = emu.add_attachment("f.txt", b"old")
    async with aiohttp.ClientSession() as http, http.get(expired["url"]) as resp:
        assert resp.status == 404
        assert await resp.text() == "This content is no longer available."


async def test_large_attachment_is_streamed(emu: DiscordEmulator) -> None:
    size = 25 * 1024 * 1024
    att = emu.add_attachment("big.bin", size=size, seed=1)
    assert emu.attachment(att).content is None
    digest, total = hashlib.sha256(), 0
    async with aiohttp.ClientSession() as http, http.get(att["url"]) as resp:
        assert resp.content_length == size
        async for chunk in resp.content.iter_chunked(1 << 20):
            digest.update(chunk)
            total += len(chunk)
    assert total == size
    assert digest.hexdigest() == emu.attachment_sha256(att)


# ---------------------------------------------------------------------------------------------------- payload shapes


async def test_payloads_deserialize_with_hikari(emu: DiscordEmulator) -> None:
    """Every JSON shape the emulator sends goes through hikari's own entity factory."""
    app = mock.Mock()
    factory = hikari.impl.EntityFactoryImpl(app)
    guild = emu.default_guild
    gateway_guild = factory.deserialize_gateway_guild(
        pl.guild_create(guild, emu.bot_user, emu.owner), user_id=hikari.Snowflake(emu.bot_user.id)
    )
    assert gateway_guild.guild().name == "Test Guild"
    assert set(gateway_guild.channels()) == {guild.default_channel().id}
    assert emu.bot_user.id in gateway_guild.members()
    assert gateway_guild.roles()[hikari.Snowflake(GUILD_ID)].name == "@everyone"
    assert factory.deserialize_rest_guild(pl.guild(guild)).id == GUILD_ID
    assert factory.deserialize_my_user(pl.own_user(emu.bot_user)).is_bot
    assert factory.deserialize_application(pl.application(1, emu.bot_user, emu.owner)).id == 1

    emu.command_store.overwrite(
        GUILD_ID,
        [{"name": "greet", "description": "d", "options": [{"type": 6, "name": "who", "description": "d"}]}],
    )
    spec = InteractionSpec(
        name="greet",
        path=(),
        values={"who": ALICE},
        user=emu.default_user,
        guild_id=GUILD_ID,
        channel_id=None,
        locale="en-GB",
        member_permissions=None,
        roles=(),
    )
    _, token, payload = build_interaction(emu, spec)
    interaction = factory.deserialize_command_interaction(payload)
    assert interaction.token == token
    assert interaction.locale == "en-GB"
    assert interaction.guild_locale == "en-US"
    assert interaction.context == hikari.ApplicationContextType.GUILD
    assert interaction.resolved is not None
    assert interaction.resolved.members[hikari.Snowflake(ALICE.id)].user.username == "alice"
    assert interaction.attachment_size_limit == 10 * 1024 * 1024
    command = factory.deserialize_slash_command(emu.commands(GUILD_ID)[0], guild_id=hikari.Snowflake(GUILD_ID))
    assert command.options is not None
    assert command.options[0].type == hikari.OptionType.USER


async def test_hikari_rest_calls_round_trip(emu: DiscordEmulator, bot: hikari.GatewayBot) -> None:
    rest = bot.rest
    me = await rest.fetch_my_user()
    assert me.id == emu.bot_user.id
    assert (await rest.fetch_application()).id == emu.application_id
    guild = await rest.fetch_guild(GUILD_ID)
    assert guild.name == "Test Guild"
    channel = await rest.fetch_channel(emu.default_guild.default_channel().id)
    assert isinstance(channel, hikari.GuildTextChannel)
    message = await rest.create_message(channel, "hello")
    assert emu.channel_messages[-1]["id"] == str(message.id)

    created = await rest.create_slash_command(emu.application_id, "extra", "An extra", guild=GUILD_ID)
    assert "extra" in {c["name"] for c in emu.commands(GUILD_ID)}
    edited = await rest.edit_application_command(emu.application_id, created, guild=GUILD_ID, description="Changed")
    assert edited.id == created.id
    assert isinstance(edited, hikari.SlashCommand)
    assert edited.description == "Changed"
    await rest.delete_application_command(emu.application_id, created, guild=GUILD_ID)
    assert "extra" not in {c["name"] for c in emu.commands(GUILD_ID)}
    assert emu.unknown_routes == []
