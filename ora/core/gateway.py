"""The gateway connection's life: start (with command sync), logging of its state, surviving what hikari
does not, and the close codes that end the bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable

import hikari
import lightbulb
import linkd

from ora.core.config import Settings
from ora.core.i18n import Catalog
from ora.core.pipeline import route_interactions
from ora.core.runtime import Runtime

log = logging.getLogger("ora")
gateway_log = logging.getLogger("ora.gateway")


class FatalError(Exception):
    """The bot cannot run (rejected token, unusable database, …); the message says what to fix."""


class ConfigurationError(FatalError):
    """A setting contradicts what Discord reports (the process exits 2, as for an invalid setting)."""


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def subscribe_gateway_logging(bot: hikari.GatewayBot, runtime: Runtime) -> None:
    """Connects, disconnects, resumes and READY at INFO; /healthz follows the gateway's state."""

    async def connected(event: hikari.ShardConnectedEvent) -> None:
        gateway_log.info("shard %s connected", event.shard.id)

    async def disconnected(event: hikari.ShardDisconnectedEvent) -> None:
        runtime.gateway_ready = False
        gateway_log.info("shard %s disconnected; hikari reconnects by itself", event.shard.id)

    async def ready(event: hikari.ShardReadyEvent) -> None:
        runtime.gateway_ready = runtime.commands_synced
        gateway_log.info(
            "shard %s READY as %s (session %s, %d guilds)",
            event.shard.id,
            event.my_user,
            event.session_id,
            len(event.unavailable_guilds),
        )

    async def resumed(event: hikari.ShardResumedEvent) -> None:
        runtime.gateway_ready = runtime.commands_synced
        gateway_log.info("shard %s resumed its session", event.shard.id)

    bot.subscribe(hikari.ShardConnectedEvent, connected)
    bot.subscribe(hikari.ShardDisconnectedEvent, disconnected)
    bot.subscribe(hikari.ShardReadyEvent, ready)
    bot.subscribe(hikari.ShardResumedEvent, resumed)


async def start_gateway(
    bot: hikari.GatewayBot, client: lightbulb.Client, runtime: Runtime, stop: asyncio.Event, app_id: int
) -> None:
    """Connect, check that the token belongs to application `app_id` (DISCORD_APP_ID), then sync its commands."""
    started = loop_time()
    try:
        await until_stopped(bot.start(check_for_updates=False), stop)
    except hikari.UnauthorizedError as error:
        raise FatalError("Discord rejected DISCORD_BOT_TOKEN (401 Unauthorized); copy the token again") from error
    except hikari.GatewayServerClosedConnectionError as error:
        raise gateway_fatal(error) from error
    except (hikari.HTTPError, hikari.GatewayConnectionError) as error:
        raise FatalError(f"cannot reach Discord: {error}") from error
    if stop.is_set():
        return
    await until_stopped(check_application(bot.rest, app_id), stop)
    if stop.is_set():
        return
    log.info("gateway ready in %.2f s; syncing application commands", loop_time() - started)
    try:
        await until_stopped(client.start(), stop)
    except (hikari.HTTPError, lightbulb.exceptions.LightbulbException) as error:
        raise FatalError(f"command sync failed: {error}") from error
    runtime.commands_synced = True
    runtime.gateway_ready = True
    runtime.ready.set()
    log.info("ready: commands synced in %.2f s after start", loop_time() - started)


async def check_application(rest: hikari.api.RESTClient, app_id: int) -> None:
    """DISCORD_APP_ID must name the application the token belongs to: lightbulb syncs the commands for the
    token's application, and an invite URL built from another id would add a different bot."""
    try:
        application = await rest.fetch_application()
    except hikari.HTTPError as error:
        raise FatalError(f"cannot fetch the bot's application from Discord: {error}") from error
    if application.id != app_id:
        raise ConfigurationError(
            f"DISCORD_APP_ID is {app_id} but the token belongs to application {application.id}; "
            "set DISCORD_APP_ID to the application id of this bot token (Discord developer portal)"
        )


def gateway_fatal(error: hikari.GatewayServerClosedConnectionError) -> FatalError:
    if error.code == hikari.ShardCloseCode.AUTHENTICATION_FAILED:
        return FatalError("Discord rejected DISCORD_BOT_TOKEN (gateway close code 4004); copy the token again")
    if error.code == hikari.ShardCloseCode.DISALLOWED_INTENT:
        return FatalError("Discord refused the gateway intents (close code 4014)")
    return FatalError(f"the Discord gateway closed the connection for good: {error}")


GATEWAY_RESTARTS = 5
GATEWAY_RESTART_WINDOW = 600.0


async def wait_for_stop(bot: hikari.GatewayBot, stop: asyncio.Event) -> None:
    """Serve until a stop signal. A shard that dies on something hikari does not handle (a malformed gateway
    frame: invalid JSON, a dispatch without a name, READY without a session) is not the end: the gateway
    connection is closed and opened anew (a new session), at most GATEWAY_RESTARTS times per window.
    Rejected credentials and other final close codes still end the bot."""
    restarts: list[float] = []
    while True:
        try:
            await until_stopped(bot.join(), stop)
        except hikari.GatewayServerClosedConnectionError as error:
            if not error.can_reconnect:
                raise gateway_fatal(error) from error
            cause: BaseException = error
        except Exception as error:
            cause = error
        else:
            if stop.is_set():
                return
            raise FatalError("the gateway connection ended unexpectedly")
        now = loop_time()
        restarts = [started for started in restarts if now - started < GATEWAY_RESTART_WINDOW]
        if len(restarts) >= GATEWAY_RESTARTS:
            raise FatalError(f"the gateway connection failed {len(restarts) + 1} times within 10 minutes: {cause!r}")
        restarts.append(now)
        gateway_log.error("the gateway connection failed; opening a new session", exc_info=cause)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await bot.close()
        await until_stopped(bot.start(check_for_updates=False), stop)
        if stop.is_set():
            return


async def until_stopped(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Await `work` unless a stop signal comes first (then `work` is cancelled)."""
    work_task = asyncio.ensure_future(work)
    stop_task = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
    if work_task.done():
        work_task.result()
    else:
        work_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work_task


class GatewayTransport:
    """Interactions over the gateway websocket (the default): hikari's `GatewayBot`, commands synced at start."""

    name = "gateway"
    INTENTS = hikari.Intents.GUILDS  # slash commands need no privileged intents; GUILDS gives the guild count

    def create(self, settings: Settings) -> hikari.GatewayBot:
        return hikari.GatewayBot(
            settings.discord_token,
            rest_url=settings.discord_rest_url,
            intents=self.INTENTS,
            logs=None,
            banner=None,
            # hikari closes the TCP (and TLS) connection after every REST request by default, a Windows
            # workaround; keep-alive saves a handshake per interaction response and per /chat edit.
            http_settings=hikari.impl.HTTPSettings(force_close_transports=sys.platform == "win32"),
            # Only the guilds are kept (their count on /health): no channels, roles, emojis or members.
            cache_settings=hikari.impl.CacheSettings(components=hikari.api.CacheComponents.GUILDS),
        )

    def register(self, registry: linkd.Registry, app: hikari.GatewayBot) -> None:
        """What commands may ask for instead of the bot itself (so the same code runs without a gateway)."""
        registry.register_value(hikari.ShardAware, app)  # type: ignore[type-abstract]
        registry.register_value(hikari.CacheAware, app)  # type: ignore[type-abstract]

    def wire(self, app: hikari.GatewayBot, client: lightbulb.Client, runtime: Runtime, catalog: Catalog) -> None:
        subscribe_gateway_logging(app, runtime)
        route_interactions(app, client, catalog)

    async def serve(
        self, app: hikari.GatewayBot, client: lightbulb.Client, runtime: Runtime, stop: asyncio.Event, app_id: int
    ) -> None:
        await start_gateway(app, client, runtime, stop, app_id)
        if not stop.is_set():
            await wait_for_stop(app, stop)

    async def close(self, app: hikari.GatewayBot) -> None:
        if app.is_alive:
            async with asyncio.timeout(5):
                await app.close()
