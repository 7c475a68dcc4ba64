"""A local ORA backend for tests: `/api/link/init` and `/api/datasets/ingest`, with fault switches."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Self

import attrs
from aiohttp import web


@attrs.define
class FakeOraApi:
    """aiohttp server on 127.0.0.1; `fault` is None, `"http500"`, `"slow"` or `"bad_json"`."""

    token: str | None = None
    fault: str | None = None
    slow_seconds: float = 30.0
    link_requests: list[dict[str, Any]] = attrs.field(factory=list)
    issued_codes: list[str] = attrs.field(factory=list)
    _runner: web.AppRunner | None = None
    base_url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_post("/api/link/init", self._link_init)
        self.setup_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    def setup_routes(self, app: web.Application) -> None:
        """Hook for more routes (dataset ingestion)."""

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def _authorized(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _apply_fault(self) -> web.Response | None:
        if self.fault == "http500":
            return web.json_response({"error": {"message": "internal error (fake ORA)"}}, status=500)
        if self.fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.fault == "bad_json":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        return None

    async def _root(self, _: web.Request) -> web.Response:
        return web.json_response({"service": "fake-ora"})

    async def _link_init(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "unauthorized"}, status=401)
        faulty = await self._apply_fault()
        if faulty is not None:
            return faulty
        body = await request.json()
        self.link_requests.append(body)
        code = f"ORA-{secrets.token_hex(3).upper()}"
        self.issued_codes.append(code)
        return web.json_response({"code": code, "expires_in": 600})
