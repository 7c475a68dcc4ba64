"""The built-in aiohttp web server: security headers, /healthz, and the routes features add.

Every socket is bounded: a client has `WEB_READ_TIMEOUT` seconds to send its first request's headers, an idle
keep-alive connection (or one still sending the next request's headers) is closed after `WEB_IDLE_TIMEOUT`, and
beyond `WEB_MAX_CONNECTIONS` open connections a new one is answered 503 and closed at once, so slow or idle
clients cannot use up the process's file descriptors. When accepting fails anyway (out of descriptors), the
error is logged once per minute with a count instead of once per attempt.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ora.core.config import Settings
from ora.core.runtime import Runtime
from ora.core.store import Store

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
    answers = await store.ping()
    health = store.health()
    database = answers and health.ok
    ready = runtime.gateway_ready and database
    status = "ok" if ready else "starting" if not runtime.gateway_ready else "degraded"
    body: dict[str, object] = {
        "status": status,
        "gateway": runtime.gateway_ready,
        "database": database,
        "uptime_seconds": round(runtime.uptime, 3),
    }
    if not database:
        body["reason"] = health.reason or "the database does not answer"
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


ACCEPT_ERROR_LOG_INTERVAL = 60.0
CONNECTION_CAP_LOG_INTERVAL = 60.0
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 46\r\n"
    b"Retry-After: 5\r\nConnection: close\r\n\r\nToo many open connections; try again shortly.\n"
)


@attrs.frozen
class ConnectionLimits:
    """How long and how many sockets the web server keeps open (see the module docstring)."""

    read_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_connections: int = 256

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(settings.web_read_timeout, settings.web_idle_timeout, settings.web_max_connections)


class _Throttled:
    """Logs one line per interval for a repeating event, with the number of occurrences since the last line."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.count = 0
        self._unlogged = 0
        self._logged_at: float | None = None

    def due(self) -> int | None:
        """Count one occurrence; returns how many to report now, or None while within the interval."""
        self.count += 1
        self._unlogged += 1
        now = time.monotonic()
        if self._logged_at is not None and now - self._logged_at < self.interval:
            return None
        self._logged_at = now
        occurrences, self._unlogged = self._unlogged, 0
        return occurrences


class _BoundedRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, counted, with a deadline for the first request's headers.

    aiohttp's keep-alive timer starts when the connection opens and is not reset by partial data, so it also
    bounds a client trickling the headers of a later request; this adds the (shorter) read deadline.
    """

    def __init__(self, guard: _ConnectionGuard, server: web.Server, **kwargs: Any) -> None:
        super().__init__(server, loop=asyncio.get_running_loop(), **kwargs)
        self._guard = guard
        self._read_deadline: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._guard.opened()
        self._counted = True
        self._read_deadline = asyncio.get_running_loop().call_later(
            self._guard.limits.read_timeout, self._check_first_request
        )
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        if self._counted:
            self._counted = False
            self._guard.closed()
        super().connection_lost(exc)

    def _check_first_request(self) -> None:
        if self._request_count == 0:  # no complete request head yet
            log.debug("web server: closing a connection that sent no request within the read timeout")
            self.force_close()


class _Refusal(asyncio.Protocol):
    """Answers 503 and closes: the connection cap is reached."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_REFUSAL)
        transport.close()


class _ConnectionGuard:
    """Makes the protocol of each accepted connection: aiohttp's handler, or a refusal beyond the cap."""

    def __init__(self, limits: ConnectionLimits, handler_options: dict[str, Any]) -> None:
        self.limits = limits
        self.open = 0
        self._handler_options = handler_options
        self._refusals = _Throttled(CONNECTION_CAP_LOG_INTERVAL)

    def opened(self) -> None:
        self.open += 1

    def closed(self) -> None:
        self.open -= 1

    def protocol(self, server: web.Server) -> asyncio.BaseProtocol:
        if self.open >= self.limits.max_connections:
            refused = self._refusals.due()
            if refused is not None:
                log.warning(
                    "web server: %d connections are open (WEB_MAX_CONNECTIONS); refused %d new one(s) with 503",
                    self.open,
                    refused,
                )
            return _Refusal()
        return _BoundedRequestHandler(self, server, **self._handler_options)


class _BoundedTCPSite(web.BaseSite):
    """aiohttp's TCPSite, with the connection guard as the protocol factory."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: _ConnectionGuard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the web runner is not set up")
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self._guard.protocol(server), self._host, self._port, backlog=self._backlog
        )


class _AcceptErrorLog:
    """The event loop's exception handler while the server runs: accept failures logged once per interval."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        self.errors = _Throttled(ACCEPT_ERROR_LOG_INTERVAL)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _OUT_OF_RESOURCES and "socket" in context:
            occurrences = self.errors.due()
            if occurrences is not None:
                log.error(
                    "web server: cannot accept connections: %s (%d time(s) since the last report; next report "
                    "in %.0f s at the earliest)",
                    error,
                    occurrences,
                    self.errors.interval,
                )
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def uninstall(self) -> None:
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)


class WebServer:
    """Runs an aiohttp application on host:port inside the bot's event loop."""

    def __init__(self, app: web.Application, host: str, port: int, limits: ConnectionLimits | None = None) -> None:
        if limits is None:
            limits = ConnectionLimits.from_settings(app[SETTINGS]) if SETTINGS in app else ConnectionLimits()
        self.limits = limits
        handler_options: dict[str, Any] = {
            "access_log": logging.getLogger(ACCESS_LOGGER),
            "access_log_class": PathOnlyAccessLogger,
            "keepalive_timeout": limits.idle_timeout,
        }
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0, **handler_options)
        self._guard = _ConnectionGuard(limits, handler_options)
        self._accept_errors: _AcceptErrorLog | None = None
        self._host = host
        self._port = port
        self.bound_port: int | None = None

    @property
    def open_connections(self) -> int:
        return self._guard.open

    @property
    def accept_errors(self) -> int:
        """Accept failures (out of file descriptors) since the server started."""
        return self._accept_errors.errors.count if self._accept_errors is not None else 0

    async def start(self) -> None:
        await self._runner.setup()
        await _BoundedTCPSite(self._runner, self._host, self._port, self._guard).start()
        loop = asyncio.get_running_loop()
        self._accept_errors = _AcceptErrorLog(loop)
        loop.set_exception_handler(self._accept_errors)
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self._port
        log.info("web server listening on http://%s:%s", self._host, self.bound_port)

    async def stop(self) -> None:
        try:
            await self._runner.cleanup()
        finally:
            if self._accept_errors is not None:
                self._accept_errors.uninstall()
