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

from ora.chat.limits import ChatLimiter
from ora.config import ConfigError, Settings, load_settings
from ora.gateway import ConfigurationError, FatalError, start_gateway, subscribe_gateway_logging, wait_for_stop
from ora.i18n import Catalog
from ora.linkd_compat import cache_injection_resolvers
from ora.logs import configure_logging
from ora.pipeline import handle_command_error, route_interactions, track_in_flight
from ora.replies import Replies
from ora.runtime import DependencyProbe, Runtime
from ora.services.datasets import DatasetService
from ora.services.downloads import UrlPolicy
from ora.services.llm import LLMClient
from ora.services.oidc import OIDCClient
from ora.services.ora_api import OraApiClient
from ora.store import Store, StoreError
from ora.store.housekeeping import ExpiredRowsPurger
from ora.web.auth import auth_routes
from ora.web.link_redeem import link_redeem_routes
from ora.web.server import WebServer, build_web_app

log = logging.getLogger("ora")

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
EXIT_CONFIGURATION = 2


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
    """Run until SIGINT/SIGTERM (exit 0), a fatal error (exit 1) or a setting Discord contradicts (exit 2)."""
    cache_injection_resolvers()  # an upstream defect in lightbulb's dependency injection (linkd)
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
        purger = ExpiredRowsPurger(store)
        purger.start()
        services.add("expired-row purger", purger.close)
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
            url_policy=UrlPolicy.for_discord(settings.discord_rest_url),
            download_timeout=settings.dataset_download_timeout,
            upload_attempts=settings.ora_upload_attempts,
            max_per_user=settings.dataset_max_per_user,
            quota_bytes=settings.dataset_quota_bytes,
            slot_wait=settings.dataset_slot_wait,
        )
        await datasets.start()
        services.add("dataset service", datasets.close)  # closed before the ORA client and the database
        registry.register_value(DatasetService, datasets)
        client.error_handler(handle_command_error)
        await client.load_extensions(*EXTENSIONS)
        subscribe_gateway_logging(bot, runtime)
        route_interactions(bot, client, catalog)

        web_app = build_web_app(settings, store, runtime, [auth_routes(started.oidc, catalog), link_redeem_routes()])
        web = WebServer(web_app, settings.web_host, settings.web_port)
        try:
            await web.start()
        except OSError as error:
            raise FatalError(
                f"cannot listen on {settings.web_host}:{settings.web_port} ({error.strerror or error}); "
                "set WEB_HOST/WEB_PORT to a free address"
            ) from error
        services.add("web server", web.stop)

        await start_gateway(bot, client, runtime, stop, settings.discord_app_id)
        if not stop.is_set():
            await wait_for_stop(bot, stop)
        log.info("shutting down")
        return 0
    except ConfigurationError as error:
        log.critical("configuration error: %s", error)
        return EXIT_CONFIGURATION
    except FatalError as error:
        log.critical("%s", error)
        return EXIT_FATAL
    finally:
        await _shutdown(bot, client, runtime, services)


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
