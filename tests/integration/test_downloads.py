"""`open_download` against real servers on 127.0.0.1: every redirect hop checked, a bounded number of hops and time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from ora.core.downloads import MAX_REDIRECTS, DownloadRefused, UrlPolicy, open_download


class Server:
    """Routes: `/data` (bytes), `/to?url=…` (302), `/relative` (302 to `data`), `/bare` (302 without Location),
    `/hang` (never answers). `hits` lists the paths requested."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/data", self._data)
        app.router.add_get("/to", self._to)
        app.router.add_get("/relative", self._relative)
        app.router.add_get("/bare", self._bare)
        app.router.add_get("/hang", self._hang)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _data(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.Response(body=b"payload")

    async def _to(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        raise web.HTTPFound(request.query["url"])

    async def _relative(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        raise web.HTTPFound("data#fragment")

    async def _bare(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.Response(status=302)

    async def _hang(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture
async def allowed() -> AsyncIterator[Server]:
    server = Server()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def outsider() -> AsyncIterator[Server]:
    server = Server()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def fetch(session: aiohttp.ClientSession, url: str, policy: UrlPolicy, timeout: float = 5.0) -> bytes:
    async with open_download(session, url, policy, timeout=timeout) as response:
        assert response.status == 200
        return await response.read()


async def test_a_relative_redirect_on_the_same_origin_is_followed(
    allowed: Server, session: aiohttp.ClientSession
) -> None:
    assert await fetch(session, f"{allowed.url}/relative", UrlPolicy.allowing([allowed.url])) == b"payload"
    assert allowed.hits == ["/relative", "/data"]


async def test_a_redirect_to_another_origin_is_refused_before_contacting_it(
    allowed: Server, outsider: Server, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(DownloadRefused) as caught:
        await fetch(session, f"{allowed.url}/to?url={outsider.url}/data", UrlPolicy.allowing([allowed.url]))
    assert caught.value.origin == outsider.url
    assert outsider.hits == []


async def test_a_redirect_between_allowed_origins_is_followed(
    allowed: Server, outsider: Server, session: aiohttp.ClientSession
) -> None:
    policy = UrlPolicy.allowing([allowed.url, outsider.url])
    assert await fetch(session, f"{allowed.url}/to?url={outsider.url}/data", policy) == b"payload"


async def test_redirects_are_bounded(allowed: Server, session: aiohttp.ClientSession) -> None:
    chain = f"{allowed.url}/to?url={allowed.url}/to%3Furl%3D{allowed.url}/relative"  # 3 hops before /data
    policy = UrlPolicy.allowing([allowed.url])
    assert await fetch(session, chain, policy) == b"payload"
    allowed.hits.clear()
    with pytest.raises(DownloadRefused, match="more than 1 redirects"):
        async with open_download(session, chain, policy, timeout=5.0, max_redirects=1):
            pass
    assert allowed.hits == ["/to", "/to"]
    assert MAX_REDIRECTS == 3


async def test_a_redirect_without_location_is_the_answer(allowed: Server, session: aiohttp.ClientSession) -> None:
    async with open_download(session, f"{allowed.url}/bare", UrlPolicy.allowing([allowed.url]), timeout=5) as response:
        assert response.status == 302


async def test_the_timeout_covers_every_hop(allowed: Server, session: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await fetch(session, f"{allowed.url}/to?url={allowed.url}/hang", UrlPolicy.allowing([allowed.url]), 0.5)
    assert time.monotonic() - started < 2.0
