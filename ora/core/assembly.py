"""Assembles and runs the bot: store → shared state → transport + commands → features → web server → serve.

Shutdown runs the same steps in reverse: stop taking commands, let the ones in flight finish, interrupt jobs
(they are given back), close the transport, the web server, the features' services, then the shared HTTP
session and the database. Nothing here knows a feature: each says what it needs (`ora.core.feature`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import aiohttp
import attrs
import lightbulb
import linkd

from ora.core.cancellation import stop_task
from ora.core.config import Configuration, Settings
from ora.core.feature import Feature, Service
from ora.core.gateway import ConfigurationError, FatalError
from ora.core.housekeeping import Housekeeping, Purge
from ora.core.http import new_session
from ora.core.i18n import Catalog
from ora.core.interactions import InteractionLedger
from ora.core.jobs import JobQueue
from ora.core.linkd_compat import cache_injection_resolvers
from ora.core.ora_api import OraApiClient
from ora.core.pipeline import handle_command_error, track_in_flight
from ora.core.replicas import Presence, Replica
from ora.core.replies import Replies
from ora.core.runtime import DependencyProbe, Probe, ProbeResult, Runtime
from ora.core.store import Store, StoreError, StoreOptions
from ora.core.store.leases import Leases
from ora.core.store.users import UserPreferences
from ora.core.web.server import RouteSetup, WebServer, build_web_app

log = logging.getLogger("ora")

_T = TypeVar("_T")
SHUTDOWN_DRAIN_SECONDS = 3.0
CLOSE_TIMEOUT = 5.0
EXIT_FATAL = 1
EXIT_CONFIGURATION = 2


class Transport(Protocol):
    """How interactions reach the bot (the gateway; HTTP interactions later)."""

    name: str

    def create(self, settings: Settings) -> Any: ...

    def register(self, registry: linkd.Registry, app: Any) -> None: ...

    def wire(self, app: Any, client: lightbulb.Client, runtime: Runtime, catalog: Catalog) -> None: ...

    async def serve(
        self, app: Any, client: lightbulb.Client, runtime: Runtime, stop: asyncio.Event, app_id: int
    ) -> None: ...

    async def close(self, app: Any) -> None: ...


class Closers:
    """Things to close, in start order; closed in reverse order whatever happens, each within a time bound."""

    def __init__(self) -> None:
        self._closers: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def add(self, name: str, close: Callable[[], Awaitable[object]]) -> None:
        self._closers.append((name, close))

    async def close(self) -> None:
        while self._closers:
            name, close = self._closers.pop()
            await close_quietly(name, close)


async def close_quietly(name: str, close: Callable[[], Awaitable[object]]) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await close()
    except Exception:
        log.exception("closing %s failed", name)


def _teardown(service: Service[Any]) -> Callable[[Any], Coroutine[Any, Any, None]] | None:
    """The service's teardown, bounded in time and logged instead of raised: one failing teardown must not keep
    the others (and the database) from closing."""
    teardown = service.teardown
    if teardown is None:
        return None

    async def run(value: Any) -> None:
        async def once() -> None:
            result = teardown(value)
            if isinstance(result, Awaitable):
                await result

        await close_quietly(service.type.__name__, once)

    return run


@attrs.define
class FeatureStart:
    """What a feature's `start` gets: its services (from dependency injection) and where to add what it offers."""

    feature: Feature
    container: linkd.Container
    runtime: Runtime
    housekeeping: Housekeeping
    routes: list[RouteSetup]

    async def get(self, kind: type[_T]) -> _T:
        """A service (the core's or a feature's) by type."""
        value: _T = await self.container.get(kind)
        return value

    async def get_optional(self, kind: type[_T]) -> _T | None:
        """A service that may not be there (e.g. the ORA client when ORA_API_BASE_URL is unset)."""
        value: _T | None = await self.container.get(kind | None)
        return value

    def add_routes(self, setup: RouteSetup) -> None:
        """`setup(app)` adds routes (and their app keys) to the built-in web server."""
        self.routes.append(setup)

    def add_probe(self, name_key: str, probe: Probe | None) -> None:
        """A dependency shown on /health (`probe` None: not configured)."""
        self.runtime.probes.append(DependencyProbe(name_key, probe))

    def add_purge(self, what: str, purge: Purge) -> None:
        """`purge()` deletes what has expired; it runs every minute."""
        self.housekeeping.add(what, purge)


def database_probe(store: Store) -> Probe:
    async def probe() -> ProbeResult:
        if not await store.ping():
            return ProbeResult(ok=False)
        health = store.health()
        return ProbeResult(ok=health.ok, key=None if health.ok else "health.writes_failing")

    return probe


@attrs.frozen
class _Shared:
    """The core's objects shared by every feature, made once per run."""

    store: Store
    presence: Presence
    http: aiohttp.ClientSession
    catalog: Catalog
    ledger: InteractionLedger
    jobs: JobQueue
    leases: Leases


class Bot:
    """One run of the bot with `features`, over `transport`."""

    def __init__(self, configuration: Configuration, features: Sequence[Feature], transport: Transport) -> None:
        self.configuration = configuration
        self.settings = configuration.core
        self.features = list(features)
        self.transport = transport
        self.runtime = Runtime(probe_timeout=self.settings.health_probe_timeout)
        self.closers = Closers()
        self.stop = asyncio.Event()
        self.app: Any = None
        self.client: lightbulb.Client | None = None
        self.jobs: JobQueue | None = None

    async def run(self) -> int:
        """Until SIGINT/SIGTERM (exit 0), a fatal error (exit 1) or a setting Discord contradicts (exit 2)."""
        cache_injection_resolvers()  # an upstream defect in lightbulb's dependency injection (linkd)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C still raises KeyboardInterrupt
                loop.add_signal_handler(signum, self.stop.set)
        try:
            await self._start()
            assert self.client is not None
            await self.transport.serve(self.app, self.client, self.runtime, self.stop, self.settings.discord_app_id)
            log.info("shutting down")
            return 0
        except ConfigurationError as error:
            log.critical("configuration error: %s", error)
            return EXIT_CONFIGURATION
        except FatalError as error:
            log.critical("%s", error)
            return EXIT_FATAL
        except StoreError as error:  # the database failed during start-up
            log.critical("the database failed while the bot was starting: %s", error)
            return EXIT_FATAL
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        settings = self.settings
        catalog = Catalog.load((f.name, f.strings.en, f.strings.ja) for f in self.features if f.strings is not None)
        store = await self._open_store()
        presence = Presence(store, Replica(settings.replica_name))
        await presence.start()
        self.closers.add("replica heartbeat", presence.close)
        http = new_session()
        self.closers.add("HTTP session", http.close)

        self.app = self.transport.create(settings)
        client = self.client = lightbulb.client_from_app(
            self.app,
            default_enabled_guilds=[settings.dev_guild_id] if settings.dev_guild_id else (),
            localization_provider=catalog.localization_provider(),
            hooks=[track_in_flight(self.runtime)],
        )
        shared = _Shared(
            store=store,
            presence=presence,
            http=http,
            catalog=catalog,
            ledger=InteractionLedger(store, presence, client.rest, catalog),
            jobs=JobQueue(store, presence),
            leases=Leases(store, presence.replica.owner, presence.liveness),
        )
        self.jobs = shared.jobs
        self._register(client, shared)
        client.error_handler(handle_command_error)
        for feature in self.features:
            if feature.loader is not None:
                await feature.loader.add_to_client(client)
        self.transport.wire(self.app, client, self.runtime, catalog)

        housekeeping = Housekeeping()
        housekeeping.add("interaction tokens", shared.ledger.purge_expired)
        housekeeping.add("leases", shared.leases.purge)
        presence.on_sweep("interrupted answers", self._when_ready(shared.ledger.recover_orphans))
        routes = await self._start_features(await self._enter_container(client), housekeeping)
        housekeeping.start()
        self.closers.add("housekeeping", housekeeping.close)
        await self._start_web(store, routes)
        # Jobs and the recovery of interrupted answers edit replies: they wait for the transport (and REST).
        after_ready = asyncio.create_task(self._after_ready(shared.ledger, shared.jobs), name="ora-after-ready")
        self.closers.add("start-up work", lambda: stop_task(after_ready))

    def _register(self, client: lightbulb.Client, shared: _Shared) -> None:
        """What commands and services may ask for: the core's objects, each feature's settings and services."""
        registry = client.di.registry_for(lightbulb.di.Contexts.DEFAULT)
        self.transport.register(registry, self.app)
        settings, store = self.settings, shared.store
        preferences = UserPreferences(store)
        values: list[tuple[type[Any], object]] = [
            (Configuration, self.configuration),
            (Settings, settings),
            (Store, store),
            (UserPreferences, preferences),
            (Catalog, shared.catalog),
            (Runtime, self.runtime),
            (Replies, Replies(preferences, settings, shared.catalog)),
            (Replica, shared.presence.replica),
            (Presence, shared.presence),
            (Leases, shared.leases),
            (JobQueue, shared.jobs),
            (InteractionLedger, shared.ledger),
            (aiohttp.ClientSession, shared.http),
            *self.configuration.sections.items(),
        ]
        for kind, value in values:
            registry.register_value(kind, value)
        ora = self._ora_client(shared.http)
        if ora is not None:
            registry.register_value(OraApiClient, ora)
        self.runtime.probes.append(DependencyProbe("health.database", database_probe(store)))
        timeout = settings.health_probe_timeout
        self.runtime.probes.append(DependencyProbe("health.ora", (lambda: ora.probe(timeout)) if ora else None))
        for feature in self.features:
            for service in feature.services:
                registry.register_factory(service.type, service.factory, teardown=_teardown(service))

    async def _start_features(self, container: linkd.Container, housekeeping: Housekeeping) -> list[RouteSetup]:
        """Create each feature's eager services and run its `start`; the web routes they added."""
        routes: list[RouteSetup] = []
        for feature in self.features:
            for service in feature.services:
                if service.eager:
                    await self._create(container, feature, service)
            if feature.start is not None:
                await feature.start(FeatureStart(feature, container, self.runtime, housekeeping, routes))
        return routes

    async def _after_ready(self, ledger: InteractionLedger, jobs: JobQueue) -> None:
        await self.runtime.ready.wait()
        try:
            await ledger.recover_orphans()
        except StoreError as error:
            log.warning("could not look for interrupted answers: %s", error)
        jobs.start()

    def _when_ready(self, sweep: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.runtime.ready.is_set():
                await sweep()

        return run

    async def _open_store(self) -> Store:
        settings = self.settings
        options = StoreOptions(
            pool_size=settings.database_pool_size,
            connect_timeout=settings.database_connect_timeout,
            statement_timeout=settings.database_statement_timeout,
            start_wait=settings.database_start_wait,
        )
        schemas = [feature.schema for feature in self.features if feature.schema is not None]
        try:
            store = await Store.open(settings.database, schemas, options)
        except StoreError as error:
            raise FatalError(str(error)) from error
        self.closers.add("database", store.close)
        return store

    def _ora_client(self, http: aiohttp.ClientSession) -> OraApiClient | None:
        settings = self.settings
        if not settings.ora_api_base_url:
            return None
        return OraApiClient(
            settings.ora_api_base_url, token=settings.ora_api_token, timeout=settings.ora_api_timeout, session=http
        )

    async def _enter_container(self, client: lightbulb.Client) -> linkd.Container:
        """The default dependency-injection container, kept open until shutdown (which runs the teardowns)."""
        stack = contextlib.AsyncExitStack()
        container = await stack.enter_async_context(client.di.enter_context(lightbulb.di.Contexts.DEFAULT))
        self.closers.add("feature services", client.di.close)
        self.closers.add("dependency-injection context", stack.aclose)
        return container

    @staticmethod
    async def _create(container: linkd.Container, feature: Feature, service: Service[Any]) -> None:
        try:
            await container.get(service.type)
        except linkd.DependencyNotSatisfiableException as error:
            cause = error.__cause__ or error
            while isinstance(cause, linkd.DependencyNotSatisfiableException) and cause.__cause__ is not None:
                cause = cause.__cause__
            if isinstance(cause, FatalError):
                raise cause from None
            raise FatalError(f"the {feature.name} feature could not start {service.type.__name__}: {cause}") from error

    async def _start_web(self, store: Store, routes: list[RouteSetup]) -> None:
        settings = self.settings
        web = WebServer(build_web_app(settings, store, self.runtime, routes), settings.web_host, settings.web_port)
        try:
            await web.start()
        except OSError as error:
            raise FatalError(
                f"cannot listen on {settings.web_host}:{settings.web_port} ({error.strerror or error}); "
                "set WEB_HOST/WEB_PORT to a free address"
            ) from error
        self.closers.add("web server", web.stop)

    async def _shutdown(self) -> None:
        runtime = self.runtime
        runtime.accepting = False
        runtime.gateway_ready = False
        cancelled = await runtime.drain(SHUTDOWN_DRAIN_SECONDS)
        if cancelled:
            log.warning(
                "%d command(s) did not finish within %.0f s and were cancelled", cancelled, SHUTDOWN_DRAIN_SECONDS
            )
        if self.jobs is not None:  # before the transport: an interrupted job may still edit its reply
            await close_quietly("job worker", self.jobs.close)
        if self.app is not None:
            await close_quietly(f"the {self.transport.name} connection", lambda: self.transport.close(self.app))
        await self.closers.close()
        log.info("stopped")
