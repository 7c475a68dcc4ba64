"""The built-in web server: /healthz readiness and security headers, on a real socket."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ora.config import load_settings
from ora.runtime import Runtime
from ora.store import Store
from ora.web.server import WebServer, build_web_app

SETTINGS = load_settings(
    {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"}
)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Runtime, Store]]:
    store = await Store.open(tmp_path / "ora.db")
    runtime = Runtime()
    server = WebServer(build_web_app(SETTINGS, store, runtime), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.bound_port}", runtime, store
    finally:
        await server.stop()
        await store.close()


async def test_healthz_is_503_until_the_gateway_is_ready(served: tuple[str, Runtime, Store]) -> None:
    url, runtime, _ = served
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/healthz") as response:
            assert response.status == 503
            assert (await response.json())["status"] == "starting"
        runtime.gateway_ready = True
        async with session.get(f"{url}/healthz") as response:
            assert response.status == 200
            body = await response.json()
            assert body["status"] == "ok"
            assert body["database"] is True


async def test_healthz_is_503_when_the_database_is_gone(served: tuple[str, Runtime, Store]) -> None:
    url, runtime, store = served
    runtime.gateway_ready = True
    await store.close()
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        assert response.status == 503
        assert (await response.json()) | {"uptime_seconds": 0} == {
            "status": "degraded",
            "gateway": True,
            "database": False,
            "uptime_seconds": 0,
        }


async def write_until_full(store: Store) -> None:
    filler = "x" * 4096
    for index in range(200):
        await store.add_chat_turn(1, 1, filler, filler, f"m{index}")


async def test_healthz_is_503_with_the_reason_while_database_writes_fail(served: tuple[str, Runtime, Store]) -> None:
    url, runtime, store = served
    runtime.gateway_ready = True
    # A real SQLITE_FULL: the file may not grow past its current size (what a full disk does to every write).
    pages = await store._database.fetch_one("PRAGMA page_count")
    assert pages is not None
    await store._database.execute(f"PRAGMA max_page_count = {int(pages[0])}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        await write_until_full(store)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert body["status"] == "degraded"
        assert body["database"] is False
        assert "database writes are failing" in body["reason"]
        assert "full" in body["reason"]
        await store._database.execute("PRAGMA max_page_count = 1073741823")
        await store.set_privacy_mode(1, "public")  # a write succeeds again: healthy again
        async with session.get(f"{url}/healthz") as response:
            assert response.status == 200
            assert "reason" not in await response.json()


async def test_every_response_carries_security_headers(served: tuple[str, Runtime, Store]) -> None:
    url, _, _ = served
    async with aiohttp.ClientSession() as session:
        for path in ("/healthz", "/no-such-page"):
            async with session.get(f"{url}{path}") as response:
                assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert response.headers["X-Frame-Options"] == "DENY"
