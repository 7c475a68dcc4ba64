"""Assembles and runs the bot: settings → logging → store → services → gateway + commands → web server.

Shutdown runs the same steps in reverse: stop taking commands, let the ones in flight finish, close the
gateway, then the web server, the HTTP clients and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

import attrs
import hikari
import lightbulb
from lightbulb.prefab import MissingRequiredPermission

from ora.chat.limits import ChatLimiter
from ora.config import ConfigError, Settings, load_settings
from ora.i18n import Catalog
from ora.logs import configure_logging
from ora.replies import Replies, UserFacingError, new_error_id
from ora.runtime import DependencyProbe, Runtime
from ora.services.datasets import DatasetService
from ora.services.llm import LLMClient
from ora.services.oidc import OIDCClient
from ora.services.ora_api import OraApiClient
from ora.store import Store, StoreError
from ora.web.auth import auth_routes
from ora.web.server import WebServer, build_web_app

log = logging.getLogger("ora")
gateway_log = logging.getLogger("ora.gateway")

EXTENSIONS = (
    "ora.extensions.core",
    "ora.extensions.link",
    "ora.extensions.chat",
    "ora.extensions.datasets",
    "ora.extensions.account",
)
INTENTS = hikari.Intents.GUILDS  # slash commands need no privileged intents; GUILDS gives the guild count
SHUTDOWN_DRAIN_SECONDS = 3.0
EXIT_FATAL = 1


class FatalError(Exception):
    """The bot cannot run (rejected token, unusable database, …); the message says what to fix."""


class Services:
    """Outside services in start order; closed in reverse order whatever happens."""

    def __init__(self) -> None:
        self._closers: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def add(self, name: str, close: Callable[[], Awaitable[None]]) -> None:
        self._closers.append((name, close))

    async def close(self) -> None:
        while self._closers:
            name, close = self._closers.pop()
            try:
                async with asyncio.timeout(5):
                    await close()
            except Exception:
                log.exception("closing %s failed", name)


def track_in_flight(runtime: Runtime) -> lightbulb.ExecutionHook:
    """First step of every command: count it in flight, and refuse new work once shutdown began."""

    @lightbulb.hook(lightbulb.ExecutionSteps.MAX_CONCURRENCY, name="track_in_flight")
    def hook(_: lightbulb.ExecutionPipeline, __: lightbulb.Context) -> None:
        if not runtime.accepting:
            raise UserFacingError("error.busy")
        runtime.track_current_task()

    return hook


async def handle_command_error(exc: lightbulb.exceptions.ExecutionPipelineFailedException, replies: Replies) -> bool:
    """Every failure reaches the user as a short ephemeral message and the log as a line with the cause."""
    ctx = exc.context
    command = ctx.interaction.command_name
    user_error = next((cause for cause in exc.causes if isinstance(cause, UserFacingError)), None)
    try:
        if user_error is not None:
            log.info("/%s by user %s refused: %s", command, ctx.user.id, user_error.key)
            await replies.fail(ctx, user_error.key, **user_error.values)
        elif any(isinstance(cause, MissingRequiredPermission) for cause in exc.causes):
            log.info("/%s by user %s refused: missing permissions", command, ctx.user.id)
            await replies.fail(ctx, "error.permission")
        else:
            error_id = new_error_id()
            cause = exc.causes[0] if exc.causes else exc
            log.error("/%s by user %s failed (error id %s)", command, ctx.user.id, error_id, exc_info=cause)
            await replies.fail(ctx, "error.internal", error_id=error_id)
    except (TimeoutError, hikari.HikariError):
        log.warning("could not tell user %s that /%s failed", ctx.user.id, command, exc_info=True)
    return True


def subscribe_unknown_commands(bot: hikari.GatewayBot, client: lightbulb.Client, catalog: Catalog) -> None:
    """A command this bot does not have (deleted or renamed while a client still shows it, or not synced yet)
    gets a short ephemeral answer and an INFO line, instead of Discord's "The application did not respond"."""

    async def unknown(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        if not isinstance(interaction, hikari.CommandInteraction):
            return
        scope = interaction.registered_guild_id or 0  # lightbulb's key for global commands
        if any(path[0] == interaction.command_name for path in client.invokable_commands.get(scope, {})):
            return
        log.info("user %s used /%s, which this bot does not have", interaction.user.id, interaction.command_name)
        try:
            await interaction.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE,
                catalog.t(interaction.locale, "error.unknown_command"),
                flags=hikari.MessageFlag.EPHEMERAL,
            )
        except hikari.HikariError as error:
            log.warning("could not answer the unknown command /%s: %s", interaction.command_name, error)

    bot.subscribe(hikari.InteractionCreateEvent, unknown)


def subscribe_gateway_logging(bot: hikari.GatewayBot, runtime: Runtime, client: lightbulb.Client) -> None:
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


@attrs.frozen
class Started:
    """The outside services, started; `None` where not configured."""

    llm: LLMClient
    ora: OraApiClient | None
    oidc: OIDCClient | None


async def start_services(settings: Settings, services: Services, runtime: Runtime) -> Started:
    llm = LLMClient(
        settings.llm_base_url,
        api_key=settings.llm_api_key,
        model=settings.llm_model,
        connect_timeout=settings.llm_connect_timeout,
        read_timeout=settings.llm_read_timeout,
        total_timeout=settings.llm_timeout,
        probe_timeout=settings.health_probe_timeout,
    )
    await llm.start()
    services.add("LLM client", llm.close)

    async def llm_probe() -> bool:
        return (await llm.probe()).ok

    runtime.probes.append(DependencyProbe("health.llm", llm_probe))

    ora: OraApiClient | None = None
    if settings.ora_api_base_url:
        ora = OraApiClient(settings.ora_api_base_url, token=settings.ora_api_token, timeout=settings.ora_api_timeout)
        await ora.start()
        services.add("ORA API client", ora.close)
    probe_timeout = settings.health_probe_timeout
    runtime.probes.append(
        DependencyProbe("health.ora", (lambda: ora.probe(probe_timeout)) if ora is not None else None)
    )

    oidc: OIDCClient | None = None
    if settings.google_client_id and settings.google_client_secret:
        oidc = OIDCClient(settings.google_issuer, settings.google_client_id, settings.google_client_secret)
        await oidc.start()
        services.add("OpenID Connect client", oidc.close)
    runtime.probes.append(
        DependencyProbe("health.google", (lambda: oidc.probe(probe_timeout)) if oidc is not None else None)
    )
    return Started(llm=llm, ora=ora, oidc=oidc)


async def run(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or a fatal error (exit 1)."""
    runtime = Runtime(probe_timeout=settings.health_probe_timeout)
    services = Services()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C still raises KeyboardInterrupt
            loop.add_signal_handler(signum, stop.set)

    bot: hikari.GatewayBot | None = None
    client: lightbulb.Client | None = None
    try:
        catalog = Catalog.load()
        try:
            store = await Store.open(settings.db_path)
        except StoreError as error:
            raise FatalError(str(error)) from error
        services.add("database", store.close)
        started = await start_services(settings, services, runtime)

        bot = hikari.GatewayBot(
            settings.discord_token,
            rest_url=settings.discord_rest_url,
            intents=INTENTS,
            logs=None,
            banner=None,
            # hikari closes the TCP (and TLS) connection after every REST request by default, a Windows
            # workaround; keep-alive saves a handshake per interaction response and per /chat edit.
            http_settings=hikari.impl.HTTPSettings(force_close_transports=sys.platform == "win32"),
        )
        client = lightbulb.client_from_app(
            bot,
            default_enabled_guilds=[settings.dev_guild_id] if settings.dev_guild_id else (),
            localization_provider=catalog.localization_provider(),
            hooks=[track_in_flight(runtime)],
        )
        registry = client.di.registry_for(lightbulb.di.Contexts.DEFAULT)
        registry.register_value(Settings, settings)
        registry.register_value(Store, store)
        registry.register_value(Catalog, catalog)
        registry.register_value(Runtime, runtime)
        registry.register_value(Replies, Replies(store, settings, catalog))
        registry.register_value(LLMClient, started.llm)
        registry.register_value(
            ChatLimiter, ChatLimiter(max_total=settings.chat_max_concurrent, max_per_user=settings.chat_max_per_user)
        )
        if started.ora is not None:
            registry.register_value(OraApiClient, started.ora)
        datasets = DatasetService(
            store,
            settings.dataset_dir,
            settings.dataset_max_bytes,
            started.ora,
            download_timeout=settings.dataset_download_timeout,
            upload_attempts=settings.ora_upload_attempts,
        )
        await datasets.start()
        services.add("dataset service", datasets.close)  # closed before the ORA client and the database
        registry.register_value(DatasetService, datasets)
        client.error_handler(handle_command_error)
        await client.load_extensions(*EXTENSIONS)
        subscribe_gateway_logging(bot, runtime, client)
        subscribe_unknown_commands(bot, client, catalog)

        web_app = build_web_app(settings, store, runtime, [auth_routes(started.oidc, catalog)])
        web = WebServer(web_app, settings.web_host, settings.web_port)
        try:
            await web.start()
        except OSError as error:
            raise FatalError(
                f"cannot listen on {settings.web_host}:{settings.web_port} ({error.strerror or error}); "
                "set WEB_HOST/WEB_PORT to a free address"
            ) from error
        services.add("web server", web.stop)

        await _start_gateway(bot, client, runtime, stop)
        if not stop.is_set():
            await _wait_for_stop(bot, stop)
        log.info("shutting down")
        return 0
    except FatalError as error:
        log.critical("%s", error)
        return EXIT_FATAL
    finally:
        await _shutdown(bot, client, runtime, services)


async def _start_gateway(
    bot: hikari.GatewayBot, client: lightbulb.Client, runtime: Runtime, stop: asyncio.Event
) -> None:
    started = loop_time()
    try:
        await _until_stopped(bot.start(check_for_updates=False), stop)
    except hikari.UnauthorizedError as error:
        raise FatalError("Discord rejected DISCORD_BOT_TOKEN (401 Unauthorized); copy the token again") from error
    except hikari.GatewayServerClosedConnectionError as error:
        raise _gateway_fatal(error) from error
    except (hikari.HTTPError, hikari.GatewayConnectionError) as error:
        raise FatalError(f"cannot reach Discord: {error}") from error
    if stop.is_set():
        return
    log.info("gateway ready in %.2f s; syncing application commands", loop_time() - started)
    try:
        await _until_stopped(client.start(), stop)
    except (hikari.HTTPError, lightbulb.exceptions.LightbulbException) as error:
        raise FatalError(f"command sync failed: {error}") from error
    runtime.commands_synced = True
    runtime.gateway_ready = True
    log.info("ready: commands synced in %.2f s after start", loop_time() - started)


def _gateway_fatal(error: hikari.GatewayServerClosedConnectionError) -> FatalError:
    if error.code == hikari.ShardCloseCode.AUTHENTICATION_FAILED:
        return FatalError("Discord rejected DISCORD_BOT_TOKEN (gateway close code 4004); copy the token again")
    if error.code == hikari.ShardCloseCode.DISALLOWED_INTENT:
        return FatalError("Discord refused the gateway intents (close code 4014)")
    return FatalError(f"the Discord gateway closed the connection for good: {error}")


GATEWAY_RESTARTS = 5
GATEWAY_RESTART_WINDOW = 600.0


async def _wait_for_stop(bot: hikari.GatewayBot, stop: asyncio.Event) -> None:
    """Serve until a stop signal. A shard that dies on something hikari does not handle (a malformed gateway
    frame: invalid JSON, a dispatch without a name, READY without a session) is not the end: the gateway
    connection is closed and opened anew (a new session), at most GATEWAY_RESTARTS times per window.
    Rejected credentials and other final close codes still end the bot."""
    restarts: list[float] = []
    while True:
        try:
            await _until_stopped(bot.join(), stop)
        except hikari.GatewayServerClosedConnectionError as error:
            if not error.can_reconnect:
                raise _gateway_fatal(error) from error
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
        await _until_stopped(bot.start(check_for_updates=False), stop)
        if stop.is_set():
            return


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event) -> None:
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


async def _shutdown(
    bot: hikari.GatewayBot | None, client: lightbulb.Client | None, runtime: Runtime, services: Services
) -> None:
    runtime.accepting = False
    runtime.gateway_ready = False
    cancelled = await runtime.drain(SHUTDOWN_DRAIN_SECONDS)
    if cancelled:
        log.warning("%d command(s) did not finish within %.0f s and were cancelled", cancelled, SHUTDOWN_DRAIN_SECONDS)
    if client is not None:
        with contextlib.suppress(Exception):
            await client.stop()
    if bot is not None and bot.is_alive:
        try:
            async with asyncio.timeout(5):
                await bot.close()
        except Exception:
            log.exception("closing the gateway connection failed")
    await services.close()
    log.info("stopped")


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def main() -> int:
    """`python -m ora`: exit 0 after a clean stop, 1 on a fatal error, 2 on a configuration error."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    log.info("starting ORA bot (database %s, web server %s:%s)", settings.db_path, settings.web_host, settings.web_port)
    try:
        return asyncio.run(run(settings))
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.critical("the bot stopped on an unexpected error", exc_info=True)
        return EXIT_FATAL
