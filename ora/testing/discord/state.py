"""Shared state of one emulator: configuration knobs, the emulated world and everything observed.

The gateway (:mod:`.gateway`) and the REST API (:mod:`.rest`) both work on one :class:`EmulatorState`;
:class:`ora.testing.discord.DiscordEmulator` extends it with the server and the test-facing API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ora.testing.discord.attachments import AttachmentStore
from ora.testing.discord.commands import CommandStore
from ora.testing.discord.contract import LOG, Violation
from ora.testing.discord.faults import RestFaultKind, RestFaults
from ora.testing.discord.models import DEFAULT_APPLICATION_ID, DEFAULT_OWNER_ID, Guild, User
from ora.testing.discord.payloads import JSON, SnowflakeFactory, make_token
from ora.testing.discord.ratelimits import RateLimiter, RateLimitScope
from ora.testing.discord.records import ChangeSignal, InteractionRecord

__all__ = ["EmulatorState", "RateLimitScope"]

_MIB = 1024 * 1024


class EmulatorState:
    """Configuration (plain attributes tests may change at any time) and observations."""

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_user_id: int | None = None,
        bot_username: str = "ORA",
        guilds: Sequence[Guild] | None = None,
        default_user: User | None = None,
        heartbeat_interval_ms: int = 41_250,
        attachment_size_limit: int = 10 * _MIB,
    ) -> None:
        self.application_id = application_id
        self.bot_user = User(
            id=bot_user_id if bot_user_id is not None else application_id,
            username=bot_username,
            global_name=None,
            bot=True,
        )
        #: The bot token the emulator accepts (default: a Discord-shaped token for the bot user, which hikari
        #: requires: it decodes the user id from the first segment).
        self.token = token if token is not None else make_token(self.bot_user.id)
        self.guilds: list[Guild] = list(guilds) if guilds is not None else [Guild()]
        owner_id = self.guilds[0].owner_id if self.guilds else DEFAULT_OWNER_ID
        self.owner = User(id=owner_id, username="owner", global_name="Owner")
        self.default_user = default_user or User()

        # --- knobs
        #: HELLO's heartbeat_interval in milliseconds.
        self.heartbeat_interval_ms = heartbeat_interval_ms
        #: Answer op 1 with op 11; set False to make the client think the connection is zombied.
        self.ack_heartbeats = True
        #: Send GUILD_CREATE for every guild after READY.
        self.guild_create_on_ready = True
        #: Seconds the bot has for the initial interaction response (after that the token is invalid too).
        self.interaction_deadline = 3.0
        #: Seconds an interaction token lasts (Discord: 15 minutes); later token requests get 401 code 50027.
        self.token_lifetime = 15 * 60.0
        #: ``attachment_size_limit`` sent in interactions.
        self.attachment_size_limit = attachment_size_limit
        #: Privileged intents (GUILD_MEMBERS 1<<1, GUILD_PRESENCES 1<<8, MESSAGE_CONTENT 1<<15) the app may use.
        self.allowed_privileged_intents = 0
        #: Split every compressed gateway message over two websocket frames (exercises client buffering).
        self.split_compressed_frames = False
        #: False = a gateway outage: websocket upgrades get HTTP 503 until set back to True.
        self.accept_connections = True
        #: ``session_start_limit.remaining`` in ``GET /gateway/bot``.
        self.session_start_remaining = 1000

        # --- machinery
        self.ids = SnowflakeFactory()
        self.signal = ChangeSignal()
        self.command_store = CommandStore(application_id, self.ids)
        self.attachment_store = AttachmentStore()
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        #: Per-route buckets, the global limit and injected 429s (``rate_limits.configure(...)`` makes them strict).
        self.rate_limits = RateLimiter()
        #: Injected 5xx answers and dropped connections (:meth:`fail_next`).
        self.rest_faults = RestFaults()
        self.base_url = ""
        #: DM channel id per user id (made on first DM interaction)
        self.dm_channels: dict[int, int] = {}

        # --- observations
        #: ``d`` of every IDENTIFY received (token included, as Discord sees it).
        self.identify_payloads: list[JSON] = []
        #: ``d`` of every RESUME received.
        self.resume_payloads: list[JSON] = []
        #: ``d`` of every PRESENCE_UPDATE (op 3) received.
        self.presence_updates: list[JSON] = []
        #: websocket connections accepted / successful RESUMEs / READYs sent / heartbeats received.
        self.connection_count = 0
        #: websocket upgrades refused while ``accept_connections`` was False
        self.refused_connections = 0
        self.resume_count = 0
        self.ready_count = 0
        self.heartbeat_count = 0
        #: close codes the server sent, and the client's close codes, in order.
        self.server_close_codes: list[int] = []
        self.client_close_codes: list[int | None] = []
        #: ``(method, path)`` of every REST request, and the ones that matched no route.
        self.rest_requests: list[tuple[str, str]] = []
        self.unknown_routes: list[tuple[str, str]] = []
        #: ``(method, path)`` of requests answered with a 429 (injected or past a bucket's limit).
        self.rate_limited: list[tuple[str, str]] = []
        #: Requests per operation id of Discord's API document.
        self.operations_seen: dict[str, int] = {}
        #: Contract violations seen by this emulator and not taken yet (:meth:`take_violations`).
        self.contract_violations: list[Violation] = []
        #: messages the bot created with ``POST /channels/{id}/messages``.
        self.channel_messages: list[JSON] = []

    # ------------------------------------------------------------------ helpers

    @property
    def gateway_url(self) -> str:
        """``ws://127.0.0.1:PORT/gateway`` (also READY's ``resume_gateway_url``)."""
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    def guild(self, guild_id: int) -> Guild | None:
        """The guild with this id."""
        return next((g for g in self.guilds if g.id == guild_id), None)

    def known_user(self, user_id: int) -> User | None:
        """A user the emulator knows (bot, owner, default user, guild members)."""
        for u in (self.bot_user, self.owner, self.default_user):
            if u.id == user_id:
                return u
        for g in self.guilds:
            for m in g.members:
                if m.id == user_id:
                    return m
        return None

    def changed(self) -> None:
        """Wake everything waiting on emulator state."""
        self.signal.notify()

    def rate_limit_next(
        self,
        route_substring: str,
        retry_after: float = 0.2,
        *,
        method: str | None = None,
        scope: RateLimitScope = "user",
    ) -> None:
        """Answer the next request (optionally only ``method``) whose path contains ``route_substring`` with a 429.

        The window is enforced: a retry within ``retry_after`` seconds gets another 429 (and is counted in
        ``rate_limits.early_retries``).
        """
        self.rate_limits.inject(route_substring, retry_after, method=method, scope=scope)

    def fail_next(
        self, route_substring: str, fault: RestFaultKind = 500, *, method: str | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` matching requests fail: ``500``/``502``/``503``/``504``, ``"drop"`` (connection
        aborted before anything happens) or ``"drop_after"`` (the request is applied, then the connection aborted).
        """
        self.rest_faults.add(route_substring, fault, method=method, times=times)

    def record_violation(self, violation: Violation) -> None:
        """Keep a contract violation here and in the process-wide log (the test session fails on it)."""
        self.contract_violations.append(violation)
        LOG.record(violation)
        self.changed()

    def take_violations(self) -> list[Violation]:
        """Return and forget this emulator's violations (for tests that provoke them on purpose)."""
        taken, self.contract_violations = self.contract_violations, []
        LOG.forget(taken)
        return taken

    def summary(self) -> dict[str, Any]:
        """Counters for error messages."""
        return {
            "connections": self.connection_count,
            "ready": self.ready_count,
            "resumes": self.resume_count,
            "identifies": len(self.identify_payloads),
            "command_overwrites": dict(self.command_store.overwrites),
            "unknown_routes": self.unknown_routes[-5:],
        }
