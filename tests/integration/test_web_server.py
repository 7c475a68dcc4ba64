"""The built-in web server: /healthz readiness and security headers, on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import resource
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
import yarl

from ora.core.config import load_settings
from ora.core.logs import RedactingFormatter
from ora.core.runtime import Runtime
from ora.core.store import Store, StoreError
from ora.core.store.users import UserPreferences
from ora.core.web import server as server_module
from ora.core.web.server import ConnectionLimits, WebServer, build_web_app
from ora.features.chat.queries import ChatMemory
from tests.conftest import SCHEMAS

SETTINGS = load_settings(
    {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"}
).core


@contextlib.asynccontextmanager
async def serving(store: Store) -> AsyncIterator[tuple[str, Runtime, Store]]:
    runtime = Runtime()
    server = WebServer(build_web_app(SETTINGS, store, runtime), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.bound_port}", runtime, store
    finally:
        await server.stop()


@pytest.fixture
async def served(store: Store) -> AsyncIterator[tuple[str, Runtime, Store]]:
    """The web server on the store of either backend."""
    async with serving(store) as running:
        yield running


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
            "reason": "the database does not answer",
        }


async def write_until_full(store: Store) -> None:
    filler = "x" * 4096
    for index in range(200):
        await ChatMemory(store).add_turn(1, 1, filler, filler, f"m{index}")


async def test_healthz_is_503_with_the_reason_while_database_writes_fail(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "full.db", SCHEMAS)
    async with serving(store) as (url, runtime, _):
        await check_writes_failing(store, url, runtime)
    await store.close()


async def check_writes_failing(store: Store, url: str, runtime: Runtime) -> None:
    runtime.gateway_ready = True
    # A real SQLITE_FULL: the file may not grow past its current size (what a full disk does to every write).
    pages = await store.fetch_one("PRAGMA page_count")
    assert pages is not None
    await store.execute(f"PRAGMA max_page_count = {int(pages[0])}")
    with pytest.raises(StoreError, match="full"):
        await write_until_full(store)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert body["status"] == "degraded"
        assert body["database"] is False
        assert "database writes are failing" in body["reason"]
        assert "full" in body["reason"]
        await store.execute("PRAGMA max_page_count = 1073741823")
        await UserPreferences(store).set_privacy_mode(1, "public")  # a write succeeds again: healthy again
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


# --- bounded sockets --------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bounded_server(tmp_path: Path, limits: ConnectionLimits) -> AsyncIterator[WebServer]:
    store = await Store.open(tmp_path / "bounded.db", SCHEMAS)
    server = WebServer(build_web_app(SETTINGS, store, Runtime()), "127.0.0.1", 0, limits)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await store.close()


async def wait_for_eof(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        data = await reader.read()
    return data, time.monotonic() - started


REQUEST = b"GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Send REQUEST on a kept-alive connection; returns the response's head once the whole response is read."""
    writer.write(REQUEST)
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head)
        assert length is not None
        await reader.readexactly(int(length.group(1)))
    return head


async def test_a_connection_that_sends_nothing_is_closed_after_the_read_timeout(tmp_path: Path) -> None:
    async with bounded_server(tmp_path, ConnectionLimits(read_timeout=0.3, idle_timeout=30)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        data, elapsed = await wait_for_eof(reader, within=5)
        writer.close()
    assert data == b""
    assert elapsed < 3


async def test_a_client_trickling_headers_is_closed(tmp_path: Path) -> None:
    async with bounded_server(tmp_path, ConnectionLimits(read_timeout=0.5, idle_timeout=30)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")

        async def trickle() -> int:
            sent = 0
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(f"X-Slow-{sent}: 1\r\n".encode())
                    await writer.drain()
                    sent += 1
                    await asyncio.sleep(0.1)
            return sent

        trickling = asyncio.create_task(trickle())
        try:
            data, elapsed = await wait_for_eof(reader, within=5)
        finally:
            trickling.cancel()
            writer.close()
    assert data == b""
    assert elapsed < 3


async def test_an_idle_keep_alive_connection_is_closed_but_a_busy_one_is_not(tmp_path: Path) -> None:
    async with bounded_server(tmp_path, ConnectionLimits(read_timeout=0.3, idle_timeout=1.0)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        for _ in range(3):  # requests 0.5 s apart: past the read timeout, within the idle timeout
            assert (await answered(reader, writer)).startswith(b"HTTP/1.1 404")
            await asyncio.sleep(0.5)  # the idle time between requests under test, not a wait for an event
        data, elapsed = await wait_for_eof(reader, within=5)
        writer.close()
    assert data == b""
    assert elapsed < 3


async def test_connections_beyond_the_cap_are_refused_with_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limits = ConnectionLimits(read_timeout=10, idle_timeout=10, max_connections=3)
    async with bounded_server(tmp_path, limits) as server:
        idle = [await asyncio.open_connection("127.0.0.1", server.bound_port) for _ in range(3)]
        for reader, writer in idle:  # answered, then kept alive: the server holds each of them
            assert (await answered(reader, writer)).startswith(b"HTTP/1.1 404")
        assert server.open_connections == 3
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        data, _ = await wait_for_eof(reader, within=5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert data.endswith(b"Too many open connections; try again shortly.\n")
        assert "WEB_MAX_CONNECTIONS" in caplog.text

        # One goes away (the server closes it after a last request): there is room again.
        first_reader, first_writer = idle[0]
        first_writer.write(REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        await wait_for_eof(first_reader, within=5)
        assert server.open_connections == 2
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(REQUEST)
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 404")
        writer.close()
        for _, idle_writer in idle[1:]:
            idle_writer.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
async def test_accept_errors_are_logged_once_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of file descriptors: asyncio retries accept() every second; the log gets one line, not one each."""
    monkeypatch.setattr(server_module, "ACCEPT_ERROR_LOG_INTERVAL", 60.0)
    limits = ConnectionLimits(read_timeout=10, idle_timeout=10, max_connections=1000)
    async with bounded_server(tmp_path, limits) as server:
        # The clients live in another process, so only this process's descriptors run out.
        clients = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import socket, sys\n"
            f"s = [socket.create_connection(('127.0.0.1', {server.bound_port})) for _ in range(40)]\n"
            "print('connected', flush=True)\nsys.stdin.read()\n",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_descriptors() + 5, hard))
        try:
            assert clients.stdout is not None
            async with asyncio.timeout(15):
                assert await clients.stdout.readline() == b"connected\n"
                # asyncio retries accept() once a second: there is no event to await, only its count.
                while server.accept_errors < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert clients.stdin is not None
            clients.stdin.close()
            async with asyncio.timeout(10):
                await clients.wait()
    reports = [record for record in caplog.records if "cannot accept connections" in record.getMessage()]
    assert len(reports) == 1
    assert "Too many open files" in reports[0].getMessage()
    assert reports[0].exc_info is None  # no traceback: it says nothing an operator can use
    assert not [record for record in caplog.records if record.name == "asyncio"]


async def test_the_access_log_cannot_be_forged(tmp_path: Path) -> None:
    """At DEBUG the access log prints the decoded path: %0A there must not start a log line of its own."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter())
    access = logging.getLogger(server_module.ACCESS_LOGGER)
    access.addHandler(handler)
    previous = access.level
    access.setLevel(logging.DEBUG)
    forged = "2026-11-25T06:14:00.123Z CRITICAL ora: forged"
    try:
        async with (
            bounded_server(tmp_path, ConnectionLimits()) as server,
            aiohttp.ClientSession() as session,
        ):
            url = f"http://127.0.0.1:{server.bound_port}/x%0A{quote(forged)}%1b[2J"
            async with session.get(yarl.URL(url, encoded=True)) as response:
                assert response.status == 404
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert f"/x\\n{forged}\\x1b[2J" in lines[0]


async def test_the_limits_come_from_the_settings(tmp_path: Path) -> None:
    """As ora.app builds it: WebServer(app, host, port) takes WEB_READ_TIMEOUT & co. from the app's settings."""
    settings = load_settings(
        {
            "DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij",
            "DISCORD_APP_ID": "1",
            "WEB_READ_TIMEOUT": "0.3",
            "WEB_IDLE_TIMEOUT": "7",
            "WEB_MAX_CONNECTIONS": "9",
        }
    ).core
    store = await Store.open(tmp_path / "settings.db", SCHEMAS)
    server = WebServer(build_web_app(settings, store, Runtime()), "127.0.0.1", 0)
    await server.start()
    try:
        assert server.limits == ConnectionLimits(read_timeout=0.3, idle_timeout=7.0, max_connections=9)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        data, elapsed = await wait_for_eof(reader, within=5)
        writer.close()
    finally:
        await server.stop()
        await store.close()
    assert data == b""
    assert elapsed < 3
