"""The built-in aiohttp web server: security headers, /healthz, and the routes features add."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ora.config import Settings
from ora.runtime import Runtime
from ora.store import Store

log = logging.getLogger(__name__)
ACCESS_LOGGER = "ora.web.access"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
RUNTIME = web.AppKey("runtime", Runtime)

RouteSetup = Callable[[web.Application], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if isinstance(response, web.HTTPException) and response.status >= 400:
        raise response
    return response


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    store = request.app[STORE]
    database = await store.ping()
    write_failure = store.recent_write_failure()
    ready = runtime.gateway_ready and database and write_failure is None
    status = "ok" if ready else "starting" if not runtime.gateway_ready else "degraded"
    body: dict[str, object] = {
        "status": status,
        "gateway": runtime.gateway_ready,
        "database": database and write_failure is None,
        "uptime_seconds": round(runtime.uptime, 3),
    }
    if write_failure is not None:
        body["reason"] = f"database writes are failing: {write_failure.reason}"
    return web.json_response(body, status=200 if ready else 503)


def build_web_app(
    settings: Settings, store: Store, runtime: Runtime, setups: Iterable[RouteSetup] = ()
) -> web.Application:
    """The aiohttp application; each `setup` adds one feature's routes (and its own app keys)."""
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[STORE] = store
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    for setup in setups:
        setup(app)
    return app


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: /auth/* URLs carry one-time secrets (login states, OAuth codes)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


class WebServer:
    """Runs an aiohttp application on host:port inside the bot's event loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(
            app,
            access_log=logging.getLogger(ACCESS_LOGGER),
            access_log_class=PathOnlyAccessLogger,
            handle_signals=False,
            shutdown_timeout=2.0,
        )
        self._host = host
        self._port = port
        self.bound_port: int | None = None

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self._port
        log.info("web server listening on http://%s:%s", self._host, self.bound_port)

    async def stop(self) -> None:
        await self._runner.cleanup()
