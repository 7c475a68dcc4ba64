"""Rate limits like Discord's (bucket headers, 429s whose window is enforced, a global limit), injected 5xx and
dropped connections, and the interaction token's deadlines on every route that uses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import hikari
import pytest

from ora.testing.discord import DiscordEmulator
from ora.testing.discord.ratelimits import Limit


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator


async def _get(http: aiohttp.ClientSession, emu: DiscordEmulator, path: str) -> tuple[int, Any, Any]:
    async with http.get(emu.rest_url + path, headers={"Authorization": f"Bot {emu.token}"}) as resp:
        return resp.status, resp.headers, await resp.json()


async def test_every_answer_carries_its_buckets_headers(emu: DiscordEmulator) -> None:
    channel = emu.default_guild.default_channel().id
    async with aiohttp.ClientSession() as http:
        _, first, _ = await _get(http, emu, f"/channels/{channel}")
        _, second, _ = await _get(http, emu, f"/channels/{channel}")
        _, other, _ = await _get(http, emu, "/users/@me")
    for headers in (first, second, other):
        for name in ("Limit", "Remaining", "Reset", "Reset-After", "Bucket"):
            assert f"X-RateLimit-{name}" in headers
    assert first["X-RateLimit-Limit"] == "50"
    assert int(second["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1
    assert first["X-RateLimit-Bucket"] == second["X-RateLimit-Bucket"] != other["X-RateLimit-Bucket"]
    assert "X-RateLimit-Scope" not in first  # only on 429s


async def test_a_request_past_the_limit_gets_429_and_the_window_holds_for_the_retry(emu: DiscordEmulator) -> None:
    emu.rate_limits.configure("get_my_user", limit=2, window=1.0)
    async with aiohttp.ClientSession() as http:
        assert (await _get(http, emu, "/users/@me"))[0] == 200
        status, headers, _ = await _get(http, emu, "/users/@me")
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "0")
        status, headers, body = await _get(http, emu, "/users/@me")
        assert status == 429
        assert headers["X-RateLimit-Scope"] == "user"
        assert headers["X-RateLimit-Remaining"] == "0"
        assert body["global"] is False
        assert 0.3 < body["retry_after"] <= 0.5  # one request back every 0.5 s (a leaky bucket of 2 per second)
        assert int(headers["Retry-After"]) == 1
        assert emu.rate_limits.early_retries == []
        again = await _get(http, emu, "/users/@me")  # not waited out
        assert again[0] == 429
        assert len(emu.rate_limits.early_retries) == 1
        await asyncio.sleep(again[2]["retry_after"] + 0.02)  # waiting out the announced window is the point
        assert (await _get(http, emu, "/users/@me"))[0] == 200
    assert len(emu.rate_limited) == 2


async def test_the_global_limit_binds_bot_routes_but_not_interaction_endpoints(emu: DiscordEmulator) -> None:
    emu.rate_limits.global_limit = Limit(3, 10.0)
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            assert (await _get(http, emu, "/gateway/bot"))[0] == 200
        status, headers, body = await _get(http, emu, f"/users/{emu.default_user.id}")  # another route
        assert status == 429
        assert (headers["X-RateLimit-Global"], headers["X-RateLimit-Scope"], body["global"]) == ("true", "global", True)
        hook = f"{emu.rest_url}/webhooks/{emu.application_id}/unknown-token/messages/@original"
        async with http.get(hook) as resp:
            assert resp.status == 404  # answered: the interaction webhook is not bound to the global limit


async def test_an_injected_shared_429_is_enforced_until_it_ends(emu: DiscordEmulator) -> None:
    emu.rate_limit_next("/users/@me", retry_after=0.3, scope="shared")
    async with aiohttp.ClientSession() as http:
        status, headers, body = await _get(http, emu, "/users/@me")
        assert (status, headers["X-RateLimit-Scope"], body["message"]) == (
            429,
            "shared",
            "The resource is being rate limited.",
        )
        assert (await _get(http, emu, "/users/@me"))[0] == 429
        await asyncio.sleep(0.32)
        assert (await _get(http, emu, "/users/@me"))[0] == 200
    assert [e.scope for e in emu.rate_limits.early_retries] == ["shared"]


async def test_hikari_waits_out_strict_buckets_and_injected_429s(emu: DiscordEmulator) -> None:
    emu.rate_limits.configure("get_my_user", limit=2, window=1.0)
    emu.rate_limit_next("/users/@me", retry_after=0.4, scope="shared")
    rest = hikari.RESTApp(url=emu.rest_url)
    await rest.start()
    try:
        async with rest.acquire(emu.token, hikari.TokenType.BOT) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(5):
                assert (await client.fetch_my_user()).id == emu.bot_user.id
            elapsed = loop.time() - started
    finally:
        await rest.close()
    assert emu.rate_limits.early_retries == []  # every 429 and every bucket waited out
    assert emu.operations_seen["get_my_user"] == 6  # five answers plus the injected 429
    assert elapsed >= 0.4 + 1.0  # the shared window, then 2 per second for the rest


async def test_injected_5xx_and_dropped_connections(emu: DiscordEmulator) -> None:
    emu.fail_next("/users/@me", 502)
    # aiohttp's client itself retries a dropped idempotent request once: drop both tries.
    emu.fail_next("/gateway/bot", "drop", times=2)
    emu.fail_next(f"/users/{emu.default_user.id}", "drop_after", times=2)
    async with aiohttp.ClientSession() as http:
        status, _, body = await _get(http, emu, "/users/@me")
        assert (status, body) == (502, {"message": "502: Bad Gateway", "code": 0})
        assert (await _get(http, emu, "/users/@me"))[0] == 200
        with pytest.raises(aiohttp.ClientConnectionError):
            await _get(http, emu, "/gateway/bot")
        with pytest.raises(aiohttp.ClientConnectionError):
            await _get(http, emu, f"/users/{emu.default_user.id}")
    assert [fault for _, _, fault in emu.rest_faults.applied] == [502, "drop", "drop", "drop_after", "drop_after"]
    assert emu.operations_seen["get_user"] == 2  # drop_after: handled, then the answer was lost


async def _responded(emu: DiscordEmulator, http: aiohttp.ClientSession) -> Any:
    emu.command_store.overwrite(emu.default_guild.id, [{"name": "probe", "description": "d"}])
    async with http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
        await ws.receive()
        await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": 1, "properties": {}}})
        await emu.wait_ready(timeout=5)
        return await emu.send_command("probe")


async def test_the_token_dies_after_its_lifetime_on_every_route() -> None:
    async with DiscordEmulator(token_lifetime=0.5) as emu, aiohttp.ClientSession() as http:
        rec = await _responded(emu, http)
        await rec.wait_for(lambda r: r.delivered, timeout=5)
        callback = f"{emu.rest_url}/interactions/{rec.id}/{rec.token}/callback"
        async with http.post(callback, json={"type": 5}) as resp:
            assert resp.status == 204
        hook = f"{emu.rest_url}/webhooks/{emu.application_id}/{rec.token}"
        async with http.patch(hook + "/messages/@original", json={"content": "in time"}) as resp:
            assert resp.status == 200
        await asyncio.sleep(0.6)  # the token's lifetime passing is what is tested
        for method, url, body in [
            ("PATCH", hook + "/messages/@original", {"content": "late"}),
            ("POST", hook, {"content": "late"}),
            ("GET", hook + "/messages/@original", None),
            ("DELETE", hook + "/messages/@original", None),
        ]:
            async with http.request(method, url, json=body) as resp:
                assert resp.status == 401, (method, url)
                assert (await resp.json()) == {"code": 50027, "message": "Invalid Webhook Token"}
        assert rec.final_content() == "in time"
        assert sum("token expired" in e for e in rec.errors) == 4


async def test_no_initial_response_within_the_deadline_invalidates_the_token(emu: DiscordEmulator) -> None:
    emu.interaction_deadline = 0.2
    async with aiohttp.ClientSession() as http:
        rec = await _responded(emu, http)
        await rec.wait_for(lambda r: any("no initial response" in e for e in r.errors), timeout=5)
        hook = f"{emu.rest_url}/webhooks/{emu.application_id}/{rec.token}"
        async with http.post(hook, json={"content": "too late"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == 50027
        async with http.post(f"{emu.rest_url}/interactions/{rec.id}/{rec.token}/callback", json={"type": 5}) as resp:
            assert (resp.status, (await resp.json())["code"]) == (404, 10062)
