"""Every route the emulator serves answers in the shape Discord's API document gives, and every interaction it
dispatches has the documented interaction structure (the emulator checks both live; this walks them all)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ora.testing.discord import DiscordEmulator, Guild, Role, User
from ora.testing.discord import payloads as pl
from ora.testing.discord.contract import LOG, check_interaction, check_schema
from ora.testing.discord.openapi import document, pointer

GUILD = Guild(roles=(Role(id=1_300_000_000_000_000_900, name="mods"),), members=(User(id=42, username="alice"),))
COMMAND = {
    "name": "probe",
    "description": "Every option type that resolves",
    "options": [
        {"type": 6, "name": "who", "description": "a user"},
        {"type": 7, "name": "where", "description": "a channel"},
        {"type": 8, "name": "role", "description": "a role"},
        {"type": 11, "name": "file", "description": "a file"},
        {"type": 3, "name": "text", "description": "text", "autocomplete": True},
    ],
    "contexts": [0, 1],
    "integration_types": [0],
}


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(guilds=[GUILD]) as emulator:
        yield emulator


class Client:
    """Raw HTTP to the emulator, plus a raw gateway session so interactions are delivered."""

    def __init__(self, emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.http = http
        self.answers: list[tuple[str, str, int, Any]] = []

    async def call(self, method: str, path: str, body: Any = None, *, bot: bool = True, query: str = "") -> Any:
        headers = {"Authorization": f"Bot {self.emu.token}"} if bot else {}
        url = self.emu.rest_url + path + query
        async with self.http.request(method, url, json=body, headers=headers) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            self.answers.append((method, path, resp.status, data))
            assert resp.status < 500, (method, path, resp.status, data)
            return data


@pytest.fixture
async def client(emu: DiscordEmulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http, http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
        await ws.receive()  # HELLO
        await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": 1, "properties": {}}})
        await emu.wait_ready(timeout=5)
        yield Client(emu, http)


def _served_operations(emu: DiscordEmulator) -> set[str]:
    """The operation ids of every route the emulator serves (``{message}`` also stands for ``@original``)."""
    doc = document()
    served: set[str] = set()
    for route in emu.rest.routes():
        path = route.path.removeprefix("/api/v10")
        if "{tail" in path:
            continue
        samples = [path.replace("{message}", "@original")] if "{message}" in path else []
        for sample in [path, *samples]:
            concrete = "/".join("1" if part.startswith("{") else part for part in sample.split("/"))
            found = doc.match(route.method, concrete)
            assert found is not None, f"{route.method} {path} is not in Discord's API document"
            served.add(found[0].operation_id)
    return served


async def test_every_route_answers_in_the_documented_shape(emu: DiscordEmulator, client: Client) -> None:
    app, guild = emu.application_id, GUILD.id
    channel = GUILD.default_channel().id
    call = client.call
    before = (LOG.responses, LOG.dispatches)

    assert (await call("GET", "/gateway", bot=False))["url"] == emu.gateway_url
    await call("GET", "/gateway/bot")
    me = await call("GET", "/users/@me")
    assert me["flags"] == 0
    assert (await call("GET", f"/users/{emu.default_user.id}"))["flags"] == 0
    application = await call("GET", "/oauth2/applications/@me")
    for field in ("bot_public", "bot_require_code_grant", "owner", "verify_key", "flags", "install_params"):
        assert field in application  # what hikari's fetch_application (lightbulb's start-up) reads
    await call("GET", "/applications/@me")
    await call("GET", f"/users/{10**17}")  # 404 Unknown User, in Discord's error shape

    for base in (f"/applications/{app}/commands", f"/applications/{app}/guilds/{guild}/commands"):
        [synced] = await call("PUT", base, [COMMAND])
        await call("GET", base)
        made = await call("POST", base, {"name": "extra", "description": "An extra one"})
        await call("GET", f"{base}/{made['id']}")
        await call("PATCH", f"{base}/{made['id']}", {"description": "Changed"})
        await call("DELETE", f"{base}/{made['id']}")
        await call("GET", f"{base}/{made['id']}")  # 404 Unknown application command
        assert synced["name"] == "probe"

    await call("GET", f"/guilds/{guild}", query="?with_counts=true")
    await call("GET", f"/guilds/{guild}/channels")
    await call("GET", f"/guilds/{guild}/roles")
    await call("GET", f"/guilds/{guild}/members/42")
    await call("GET", f"/channels/{channel}")
    posted = await call(
        "POST", f"/channels/{channel}/messages", {"content": "hello", "allowed_mentions": {"parse": []}}
    )
    assert "guild_id" not in posted  # gateway-only: REST message objects have none

    file = emu.add_attachment("data.csv", b"a,b\n1,2\n")
    values = {"who": 42, "where": channel, "role": GUILD.roles[0].id, "file": file}
    deferred = await emu.send_command("probe", values)
    answer = await call(
        "POST",
        f"/interactions/{deferred.id}/{deferred.token}/callback",
        {"type": 5},
        bot=False,
        query="?with_response=true",
    )
    assert answer["interaction"]["response_message_loading"] is True
    assert "message" not in answer.get("resource", {})  # Discord: a message only for types 4 and 7
    hook = f"/webhooks/{app}/{deferred.token}"
    await call("GET", hook + "/messages/@original", bot=False)
    edited = await call("PATCH", hook + "/messages/@original", {"content": "done"}, bot=False)
    assert set(edited["interaction_metadata"]) <= {
        "id",
        "type",
        "user",
        "authorizing_integration_owners",
        "original_response_message_id",
    }
    followup = await call("POST", hook, {"content": "more", "flags": 64}, bot=False, query="?wait=true")
    await call("GET", f"{hook}/messages/{followup['id']}", bot=False)
    await call("PATCH", f"{hook}/messages/{followup['id']}", {"content": "more!"}, bot=False)
    await call("DELETE", f"{hook}/messages/{followup['id']}", bot=False)
    await call("DELETE", hook + "/messages/@original", bot=False)

    replied = await emu.send_command("probe", {"text": "hi"}, guild_id=None)  # a DM
    answer = await call(
        "POST",
        f"/interactions/{replied.id}/{replied.token}/callback",
        {"type": 4, "data": {"content": "hi", "flags": 64}},
        bot=False,
        query="?with_response=true",
    )
    assert answer["resource"]["message"]["content"] == "hi"
    assert "guild_id" not in answer["resource"]["message"]

    completing = await emu.send_autocomplete("probe", {"text": "h"}, focused="text")
    answer = await call(
        "POST",
        f"/interactions/{completing.id}/{completing.token}/callback",
        {"type": 8, "data": {"choices": [{"name": "hello", "value": "hello"}]}},
        bot=False,
        query="?with_response=true",
    )
    assert "resource" not in answer  # the document describes no resource for an autocomplete result

    assert emu.contract_violations == []
    assert LOG.responses - before[0] == len(client.answers)
    assert LOG.dispatches - before[1] == 3
    missing = _served_operations(emu) - set(emu.operations_seen)
    assert not missing, f"routes the walk did not exercise: {sorted(missing)}"


def _schema(name: str) -> str:
    return pointer("components", "schemas", name)


def test_the_old_shapes_are_rejected_by_the_checks() -> None:
    """What the emulator used to serve fails the same checks (so the walk above can fail)."""
    emu_user = User()
    old_user = {k: v for k, v in pl.user(emu_user).items() if k != "flags"}
    assert [p.code for p in check_schema(_schema("UserResponse"), old_user)] == ["BASE_TYPE_REQUIRED"]

    message = pl.message(
        message_id=1, channel_id=2, author=emu_user, body={"content": "x"}, message_type=0, application_id=3
    )
    assert check_schema(_schema("MessageResponse"), message) == ()
    problems = check_schema(_schema("MessageResponse"), {**message, "guild_id": "4"})
    assert [(p.where, p.code) for p in problems] == [(("guild_id",), "UNKNOWN_FIELD")]

    metadata = {"id": "1", "type": 2, "user": pl.user(emu_user), "authorizing_integration_owners": {"0": "5"}}
    assert check_schema(_schema("ApplicationCommandInteractionMetadataResponse"), metadata) == ()
    old = {**metadata, "name": "chat", "command_type": 1}
    assert {p.where for p in check_schema(_schema("ApplicationCommandInteractionMetadataResponse"), old)} == {
        ("name",),
        ("command_type",),
    }

    callback = pointer("components", "schemas", "InteractionCallbackResponse")
    interaction = {"id": "1", "type": 2, "response_message_loading": True}
    assert check_schema(callback, {"interaction": interaction}) == ()
    assert check_schema(callback, {"interaction": interaction, "resource": {"type": 5, "message": message}}) != ()
    assert check_schema(callback, {"interaction": interaction, "resource": {"type": 8}}) != ()


async def test_a_malformed_interaction_payload_is_caught(emu: DiscordEmulator) -> None:
    emu.command_store.overwrite(GUILD.id, [COMMAND])
    rec_payload = json.loads(json.dumps((await emu.send_command("probe", {"text": "x"})).payload))
    assert check_interaction(rec_payload) == ()
    broken = {k: v for k, v in rec_payload.items() if k != "token"}
    broken["entitlement_sku_ids"] = []
    broken["member"] = {**rec_payload["member"], "unusual_dm_activity_until": None}
    codes = {(p.where, p.code) for p in check_interaction(broken)}
    assert (("token",), "BASE_TYPE_REQUIRED") in codes
    assert (("entitlement_sku_ids",), "UNKNOWN_FIELD") in codes
    assert (("member", "unusual_dm_activity_until"), "UNKNOWN_FIELD") in codes
