"""`POST /link/redeem` over real HTTP, on both backends: a local /link code resolves once to its user."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from ora.app import configure
from ora.core.runtime import Runtime
from ora.core.store import Store
from ora.core.web.server import WebServer, build_web_app
from ora.features.link.codes import new_local_code
from ora.features.link.queries import LinkCodes
from ora.features.link.routes import link_redeem_routes
from ora.features.link.settings import LinkSettings

TOKEN = "redeem-token-0123456789abcdef"
USER_ID = 987_654_321_098_765_432
BASE_ENV = {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"}

Serve = Callable[..., Awaitable[tuple[str, LinkCodes]]]


@pytest.fixture
async def serve(store: Store) -> AsyncIterator[Serve]:
    """Starts the web server with the redeem route under the given settings; stopped when the test ends."""
    running: list[WebServer] = []

    async def start(**env: str) -> tuple[str, LinkCodes]:
        configuration = configure({**BASE_ENV, **env})[0]
        codes = LinkCodes(store)
        routes = [link_redeem_routes(codes, configuration.section(LinkSettings))]
        server = WebServer(build_web_app(configuration.core, store, Runtime(), routes), "127.0.0.1", 0)
        await server.start()
        running.append(server)
        return f"http://127.0.0.1:{server.bound_port}/link/redeem", codes

    yield start
    for server in running:
        await server.stop()


async def post(
    url: str, body: Any = None, *, token: str | None = TOKEN, data: str | None = None, content_type: str | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with session.post(url, headers=headers, **kwargs) as response:
            payload = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, payload, response.headers


async def test_a_code_resolves_to_its_user_exactly_once(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url, codes = await serve(LINK_REDEEM_TOKEN=TOKEN)
    code = new_local_code()
    await codes.create(code, USER_ID, ttl=600)

    assert (await post(url, {"code": code}))[:2] == (200, {"discord_user_id": str(USER_ID)})
    assert (await post(url, {"code": code}))[:2] == (404, {"error": "unknown_code"})
    assert code not in caplog.text and TOKEN not in caplog.text


async def test_a_code_typed_loosely_still_resolves(serve: Serve) -> None:
    url, codes = await serve(LINK_REDEEM_TOKEN=TOKEN)
    code = new_local_code()
    await codes.create(code, USER_ID, ttl=600)
    typed = " " + code.replace("-", "").lower() + "\n"
    assert (await post(url, {"code": typed}))[:2] == (200, {"discord_user_id": str(USER_ID)})


async def test_unknown_and_expired_codes_get_the_same_404(serve: Serve) -> None:
    url, codes = await serve(LINK_REDEEM_TOKEN=TOKEN)
    expired = new_local_code()
    await codes.create(expired, USER_ID, ttl=-1)
    assert (await post(url, {"code": expired}))[:2] == (404, {"error": "unknown_code"})
    assert (await post(url, {"code": new_local_code()}))[:2] == (404, {"error": "unknown_code"})


@pytest.mark.parametrize("token", [None, "", "redeem-token-0123456789abcdeX", TOKEN[:-1]])
async def test_a_wrong_or_missing_token_is_401_and_consumes_nothing(serve: Serve, token: str | None) -> None:
    url, codes = await serve(LINK_REDEEM_TOKEN=TOKEN)
    code = new_local_code()
    await codes.create(code, USER_ID, ttl=600)
    status, body, headers = await post(url, {"code": code}, token=token)
    assert (status, body) == (401, {"error": "unauthorized"})
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert (await post(url, {"code": code}))[0] == 200


async def test_another_scheme_is_401(serve: Serve) -> None:
    url, _ = await serve(LINK_REDEEM_TOKEN=TOKEN)
    async with aiohttp.ClientSession() as session:
        response = await session.post(url, json={"code": "X"}, headers={"Authorization": f"Basic {TOKEN}"})
        assert response.status == 401


async def test_without_a_configured_token_the_route_is_absent(serve: Serve) -> None:
    url, codes = await serve()
    code = new_local_code()
    await codes.create(code, USER_ID, ttl=600)
    assert (await post(url, {"code": code}))[0] == 404
    assert await codes.redeem(code) == USER_ID  # the code was not consumed by the refused request


@pytest.mark.parametrize(
    ("data", "content_type", "detail"),
    [
        ("{not json", "application/json", "not valid JSON"),
        ('{"code": "7KQF-M2XA-PZ9C"}', "text/plain", "Content-Type"),
        ("{}", "application/json", '"code"'),
        ('{"code": 42}', "application/json", '"code"'),
        ('{"code": ""}', "application/json", '"code"'),
        ('["7KQF-M2XA-PZ9C"]', "application/json", '"code"'),
        ('{"code": "' + "A" * 65 + '"}', "application/json", "longer than 64"),
        ("[" * 100_000, "application/json", None),
    ],
)
async def test_malformed_bodies_are_400_with_a_json_error(
    serve: Serve, data: str, content_type: str, detail: str | None
) -> None:
    url, _ = await serve(LINK_REDEEM_TOKEN=TOKEN)
    status, body, _ = await post(url, data=data, content_type=content_type)
    if detail is None:  # beyond the server's 64 KiB body limit
        assert status == 413
        return
    assert status == 400
    assert body["error"] == "bad_request"
    assert detail in body["detail"]


async def test_concurrent_redeems_of_one_code_succeed_exactly_once(serve: Serve) -> None:
    url, codes = await serve(LINK_REDEEM_TOKEN=TOKEN)
    code = new_local_code()
    await codes.create(code, USER_ID, ttl=600)
    results = await asyncio.gather(*(post(url, {"code": code}) for _ in range(12)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [404] * 11


async def test_requests_beyond_the_rate_limit_are_429(serve: Serve) -> None:
    url, codes = await serve(LINK_REDEEM_TOKEN=TOKEN, LOGIN_RATE_LIMIT="3")
    for _ in range(3):
        assert (await post(url, {"code": new_local_code()}, token="wrong-token-guess-000000"))[0] == 401
    code = new_local_code()
    await codes.create(code, USER_ID, ttl=600)
    status, body, headers = await post(url, {"code": code})
    assert (status, body) == (429, {"error": "rate_limited"})
    assert int(headers["Retry-After"]) >= 1
