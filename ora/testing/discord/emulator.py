"""``DiscordEmulator``: one aiohttp server on 127.0.0.1 speaking Discord's REST API, gateway and CDN.

Point an unmodified ``hikari.GatewayBot(token, rest_url=emu.rest_url)`` at it; the gateway URL comes from
``GET /gateway/bot``. Tests then drive users (:meth:`DiscordEmulator.send_command`), inject faults (dropped
connections, close codes, RECONNECT, INVALID SESSION, missing heartbeat ACKs, 429s, 5xx answers and dropped
REST connections, broken downloads), tighten rate limits (``emu.rate_limits.configure(...)``) or the
interaction token's lifetime (``token_lifetime``), and wait, always with a timeout, on what the bot did.
Every REST request, every answer and every INTERACTION_CREATE is checked against Discord's API document;
``emu.contract_violations`` / :meth:`take_violations` hold what broke it.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import attrs
from aiohttp import web

from ora.testing.discord.attachments import AttachmentFault, StoredAttachment
from ora.testing.discord.contract import Violation, check_interaction
from ora.testing.discord.gateway import Gateway, GatewaySession
from ora.testing.discord.interactions import InteractionSpec, build_interaction, normalize_options
from ora.testing.discord.models import Guild, User
from ora.testing.discord.openapi import document
from ora.testing.discord.payloads import JSON
from ora.testing.discord.records import InteractionRecord
from ora.testing.discord.rest import RestApi
from ora.testing.discord.state import EmulatorState

__all__ = ["DM", "DiscordEmulator"]

_T = TypeVar("_T")


class _DM:
    """Marker for ``guild_id=DM``: the interaction happens in the bot's DM with the user."""

    def __repr__(self) -> str:
        return "DM"


#: Pass as ``guild_id`` (or pass ``None``) for a DM interaction.
DM = _DM()
_DEFAULT_GUILD: Any = object()


class DiscordEmulator(EmulatorState):
    """A local Discord for one bot application.

    >>> async with DiscordEmulator(token="t") as emu:            # doctest: +SKIP
    ...     bot = hikari.GatewayBot("t", rest_url=emu.rest_url, intents=hikari.Intents.GUILDS)
    ...     rec = await emu.send_command("ping")
    ...     await rec.wait_initial()
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int | None = None,
        bot_user_id: int | None = None,
        bot_username: str = "ORA",
        guilds: Sequence[Guild] | None = None,
        default_user: User | None = None,
        heartbeat_interval_ms: int = 41_250,
        attachment_size_limit: int = 10 * 1024 * 1024,
        token_lifetime: float = 15 * 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        kwargs: dict[str, Any] = {} if application_id is None else {"application_id": application_id}
        super().__init__(
            token=token,
            bot_user_id=bot_user_id,
            bot_username=bot_username,
            guilds=guilds,
            default_user=default_user,
            heartbeat_interval_ms=heartbeat_interval_ms,
            attachment_size_limit=attachment_size_limit,
            **kwargs,
        )
        self.token_lifetime = token_lifetime
        self._host = host
        self._port = port
        self.gateway = Gateway(self)
        self.rest = RestApi(self)
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the server (port 0 = any free port) and start serving."""
        if self._runner is not None:
            msg = "emulator already started"
            raise RuntimeError(msg)
        document()  # load Discord's API document now (once per process), not inside the first request
        app = web.Application(middlewares=[self.rest.middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_routes(self.rest.routes())
        app.router.add_routes(self.attachment_store.routes())
        app.router.add_get("/gateway", self.gateway.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Close every websocket, cancel timers and stop the server."""
        runner, self._runner = self._runner, None
        for rec in self.interactions.values():
            if rec.deadline_handle is not None:
                rec.deadline_handle.cancel()
                rec.deadline_handle = None
        await self.gateway.shutdown()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v10``: give this to hikari as ``rest_url`` (``DISCORD_REST_URL``)."""
        return self.base_url + "/api/v10"

    @property
    def sessions(self) -> dict[str, GatewaySession]:
        """Gateway sessions by session id (oldest first)."""
        return self.gateway.sessions

    @property
    def default_guild(self) -> Guild:
        """The first guild."""
        return self.guilds[0]

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """The synced commands of a scope (``None`` = global) as stored, with ids."""
        return self.command_store.commands(guild_id)

    # ------------------------------------------------------------------ waiting

    async def wait_until(self, check: Callable[[], _T | None], timeout: float = 10.0, what: str = "condition") -> _T:
        """Wait (bounded) until ``check()`` returns something truthy; re-checked after every state change."""
        return await self.signal.wait_for(check, timeout, lambda: f"{what} (state: {self.summary()})")

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """A shard completed IDENTIFY or RESUME and is connected now."""
        await self.wait_until(lambda: bool(self.gateway.ready_connections()), timeout, "a ready gateway connection")

    async def wait_disconnected(self, timeout: float = 10.0) -> None:
        """No gateway connection is open."""
        await self.wait_until(lambda: not self.gateway.live_connections(), timeout, "all connections to close")

    async def wait_resumed(self, count: int = 1, timeout: float = 10.0) -> None:
        """At least ``count`` successful RESUMEs in total."""
        await self.wait_until(lambda: self.resume_count >= count, timeout, f"{count} resume(s)")

    async def wait_identified(self, count: int = 1, timeout: float = 10.0) -> None:
        """At least ``count`` READYs sent in total (new sessions)."""
        await self.wait_until(lambda: self.ready_count >= count, timeout, f"{count} READY(s)")

    async def wait_commands_synced(
        self, guild_id: int | None = None, timeout: float = 10.0, *, count: int = 1
    ) -> list[JSON]:
        """Wait until the scope got ``count`` bulk overwrites (PUT); return its commands.

        lightbulb only PUTs when something changed, so against an emulator that already holds identical
        commands (a restarted bot) this returns at once.
        """
        scope = "global" if guild_id is None else f"guild {guild_id}"
        await self.wait_until(
            lambda: self.command_store.overwrites.get(guild_id, 0) >= count, timeout, f"command sync ({scope})"
        )
        return self.commands(guild_id)

    # ------------------------------------------------------------------ users doing things

    async def send_command(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        user: User | None = None,
        guild_id: int | _DM | None = _DEFAULT_GUILD,
        channel_id: int | None = None,
        locale: str = "en-US",
        member_permissions: int | None = None,
        roles: Sequence[int] = (),
        attachments: Sequence[Mapping[str, Any] | int] = (),
    ) -> InteractionRecord:
        """Send an APPLICATION_COMMAND interaction for a synced command and return its record.

        ``name`` is ``"ping"``, ``"dataset add"`` or ``("dataset", "add")``. ``options`` maps option names to
        values (typed per the synced option; users/roles may be :class:`User`/``Role`` objects or ids, an
        attachment option takes the dict from :meth:`add_attachment` or its id). ``guild_id`` defaults to the
        first guild; ``None`` or :data:`DM` means a DM. Unknown commands/options raise ``LookupError``.
        If no shard is connected, the interaction is queued and delivered on RESUME/IDENTIFY; the
        deadline starts when it is actually delivered.
        """
        spec = self._spec(name, options, user, guild_id, channel_id, locale, member_permissions, roles, attachments)
        return await self._send(spec, interaction_type=2)

    async def send_autocomplete(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        focused: str,
        user: User | None = None,
        guild_id: int | _DM | None = _DEFAULT_GUILD,
        channel_id: int | None = None,
        locale: str = "en-US",
        member_permissions: int | None = None,
        roles: Sequence[int] = (),
    ) -> InteractionRecord:
        """Send an APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction; ``focused`` names the option typed in.

        The answer (callback type 8) is in ``rec.autocomplete_choices`` after ``await rec.wait_initial()``.
        """
        spec = self._spec(name, options, user, guild_id, channel_id, locale, member_permissions, roles, ())
        spec = attrs.evolve(spec, focused=focused)
        return await self._send(spec, interaction_type=4)

    def _spec(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        user: User | None,
        guild_id: int | _DM | None,
        channel_id: int | None,
        locale: str,
        member_permissions: int | None,
        roles: Sequence[int],
        attachments: Sequence[Mapping[str, Any] | int],
    ) -> InteractionSpec:
        parts = tuple(name.split()) if isinstance(name, str) else tuple(name)
        if not parts:
            msg = "empty command name"
            raise ValueError(msg)
        if guild_id is _DEFAULT_GUILD:
            resolved_guild: int | None = self.default_guild.id if self.guilds else None
        elif guild_id is None or isinstance(guild_id, _DM):
            resolved_guild = None
        else:
            resolved_guild = int(guild_id)
        return InteractionSpec(
            name=parts[0],
            path=parts[1:],
            values=normalize_options(options),
            user=user or self.default_user,
            guild_id=resolved_guild,
            channel_id=channel_id,
            locale=locale,
            member_permissions=member_permissions,
            roles=tuple(roles),
            extra_attachments=tuple(attachments),
        )

    async def _send(self, spec: InteractionSpec, *, interaction_type: int) -> InteractionRecord:
        interaction_id, token, payload = build_interaction(self, spec, interaction_type=interaction_type)
        problems = check_interaction(payload)
        if problems:
            self.record_violation(Violation("dispatch", "GATEWAY", "INTERACTION_CREATE", None, problems))
        rec = InteractionRecord(id=interaction_id, token=token, payload=payload, signal=self.signal)
        self.interactions[interaction_id] = rec
        self.interactions_by_token[token] = rec
        self.changed()
        await self.gateway.dispatch("INTERACTION_CREATE", payload, on_sent=lambda: self._delivered(rec))
        return rec

    def _delivered(self, rec: InteractionRecord) -> None:
        loop = asyncio.get_running_loop()
        rec.delivered_at = loop.time()
        rec.deadline_handle = loop.call_later(self.interaction_deadline, self.rest.responder.on_deadline, rec)
        rec.changed()

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send any dispatch event (``t``/``d``) to the current session."""
        await self.gateway.dispatch(event, data)

    # ------------------------------------------------------------------ attachments (CDN)

    def add_attachment(
        self,
        filename: str,
        content: bytes | None = None,
        *,
        content_type: str | None = None,
        size: int | None = None,
        seed: int = 0,
        fault: AttachmentFault | None = None,
        channel_id: int | None = None,
        description: str | None = None,
    ) -> JSON:
        """Register an attachment on the emulated CDN and return Discord's attachment object.

        Give ``content`` bytes, or ``size`` (and ``seed``) for deterministic generated bytes that are
        streamed, never held whole. ``fault``: ``"404"``, ``"403"``, ``"drop_mid_body"``,
        ``"wrong_length"`` or ``"slow"``. The object's ``url`` is signed and expires after
        ``attachment_store.url_ttl`` seconds.
        """
        if (content is None) == (size is None):
            msg = "give exactly one of content= or size="
            raise ValueError(msg)
        guessed = content_type or mimetypes.guess_type(filename)[0]
        item = StoredAttachment(
            id=self.ids.next(),
            channel_id=channel_id or (self.default_guild.default_channel().id if self.guilds else 0),
            filename=filename,
            content_type=guessed,
            size=len(content) if content is not None else int(size or 0),
            content=content,
            seed=seed,
            fault=fault,
            description=description,
        )
        self.attachment_store.add(item)
        return self.attachment_store.object(item, self.base_url)

    def attachment(self, attachment: Mapping[str, Any] | int) -> StoredAttachment:
        """The stored attachment behind an attachment object or id."""
        aid = int(attachment["id"]) if isinstance(attachment, Mapping) else int(attachment)
        return self.attachment_store.get(aid)

    def attachment_sha256(self, attachment: Mapping[str, Any] | int) -> str:
        """Hex SHA-256 of an attachment's bytes (streamed)."""
        return self.attachment(attachment).sha256()

    def attachment_bytes(self, attachment: Mapping[str, Any] | int) -> bytes:
        """An attachment's bytes (for small ones)."""
        return self.attachment(attachment).read()

    # ------------------------------------------------------------------ faults

    async def drop_connection(self) -> int:
        """Abort every gateway TCP connection without a close frame; returns how many."""
        dropped = self.gateway.abort_all()
        self.changed()
        return dropped

    async def close_connection(self, code: int = 4000, reason: str = "") -> int:
        """Close every gateway connection with ``code`` (4007/4009 also end the session)."""
        closed = await self.gateway.close_all(code, reason or f"emulator close {code}")
        self.changed()
        return closed

    async def send_reconnect(self) -> int:
        """Send op 7 RECONNECT (the client should resume)."""
        return await self.gateway.send_op(7, None)

    async def send_invalid_session(self, resumable: bool) -> int:
        """Send op 9 INVALID SESSION; ``resumable=False`` also forgets the session."""
        if not resumable:
            self.gateway.invalidate_sessions()
        return await self.gateway.send_op(9, resumable)

    async def request_heartbeat(self) -> int:
        """Send op 1: the client must heartbeat at once."""
        return await self.gateway.send_op(1, None)
