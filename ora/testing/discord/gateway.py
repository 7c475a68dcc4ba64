"""The gateway websocket (``/gateway?v=10&encoding=json[&compress=zlib-stream]``).

Speaks Discord's gateway v10: HELLO (op 10) → IDENTIFY (op 2) → READY + GUILD_CREATE per guild, or
RESUME (op 6) → replay of missed dispatches + RESUMED; heartbeats (op 1) answered with ACK (op 11);
RECONNECT (op 7) and INVALID SESSION (op 9) on demand; close codes 4001-4014 for protocol errors.
``compress=zlib-stream`` uses one zlib stream per connection, every message flushed with ``Z_SYNC_FLUSH``
(so it ends in ``00 00 ff ff``) and sent as a binary frame; without compression, messages are text frames.
Dispatches carry increasing ``s``; a session keeps them so a RESUME can replay what the client missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import attrs
from aiohttp import WSMsgType, web

from ora.testing.discord import payloads
from ora.testing.discord.payloads import JSON
from ora.testing.discord.state import EmulatorState

__all__ = ["Gateway", "GatewayConnection", "GatewaySession"]

_LOGGER = logging.getLogger("ora.testing.discord.gateway")

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
_PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)
_ALL_INTENTS = (1 << 26) - 1
#: close codes after which the session cannot be resumed
_SESSION_ENDING_CODES = frozenset({4007, 4009})


class _Compressor(Protocol):
    def __call__(self, data: bytes) -> bytes: ...


def _zlib_stream() -> _Compressor:
    compressor = zlib.compressobj()

    def compress(data: bytes) -> bytes:
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)

    return compress


def _zstd_stream() -> _Compressor | None:
    module: Any = None
    for name in ("compression.zstd", "backports.zstd"):
        with contextlib.suppress(ImportError):
            module = importlib.import_module(name)
            break
    if module is None:
        return None
    compressor = module.ZstdCompressor()
    flush_block = module.ZstdCompressor.FLUSH_BLOCK

    def compress(data: bytes) -> bytes:
        return bytes(compressor.compress(data, mode=flush_block))

    return compress


@attrs.define(eq=False)
class _Event:
    seq: int
    payload: JSON
    on_sent: Callable[[], None] | None = None
    sent: bool = False


@attrs.define(eq=False)
class GatewaySession:
    """A gateway session (created by IDENTIFY, continued by RESUME)."""

    session_id: str
    identify: JSON
    seq: int = 0
    events: list[_Event] = attrs.field(factory=list)
    connection: GatewayConnection | None = None
    valid: bool = True
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    def unsent(self) -> list[_Event]:
        """Dispatches never delivered to any connection."""
        return [e for e in self.events if not e.sent]


@attrs.define(eq=False)
class GatewayConnection:
    """One websocket connection from a shard."""

    ws: web.WebSocketResponse
    request: web.Request
    compress: _Compressor | None
    split_frames: bool
    session: GatewaySession | None = None
    ready: bool = False
    closed: bool = False
    server_closed: bool = False
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    async def send(self, payload: JSON) -> bool:
        """Send one payload; ``False`` if the connection is gone."""
        raw = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.closed or self.ws.closed:
                return False
            try:
                if self.compress is None:
                    await self.ws.send_str(raw)
                else:
                    data = self.compress(raw.encode())
                    if self.split_frames and len(data) > 8:
                        half = len(data) // 2
                        await self.ws.send_bytes(data[:half])
                        await self.ws.send_bytes(data[half:])
                    else:
                        await self.ws.send_bytes(data)
            except (ConnectionError, RuntimeError) as ex:
                _LOGGER.debug("gateway send failed: %r", ex)
                return False
            return True

    async def close(self, code: int, reason: str) -> None:
        """Close with a close frame."""
        async with self.lock:
            self.closed = True
            self.server_closed = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closed = True
        self.server_closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class Gateway:
    """Accepts shard connections and routes dispatches to the current session."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self._pending: list[_Event] = []
        self._handlers: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ public helpers

    @property
    def current_session(self) -> GatewaySession | None:
        """The newest valid session."""
        valid = [s for s in self.sessions.values() if s.valid]
        return valid[-1] if valid else None

    def live_connections(self) -> list[GatewayConnection]:
        """Open connections."""
        return [c for c in self.connections if not c.closed and not c.ws.closed]

    def ready_connections(self) -> list[GatewayConnection]:
        """Open connections that completed IDENTIFY or RESUME."""
        return [c for c in self.live_connections() if c.ready]

    async def dispatch(self, event: str, data: JSON, on_sent: Callable[[], None] | None = None) -> None:
        """Send a dispatch to the current session (or hold it until a session is ready)."""
        session = self.current_session
        if session is None:
            self._pending.append(_Event(0, {"op": DISPATCH, "t": event, "s": None, "d": data}, on_sent))
            return
        await self._dispatch_to(session, event, data, on_sent)

    async def _dispatch_to(
        self, session: GatewaySession, event: str, data: JSON, on_sent: Callable[[], None] | None = None
    ) -> None:
        async with session.lock:
            session.seq += 1
            item = _Event(session.seq, {"op": DISPATCH, "t": event, "s": session.seq, "d": data}, on_sent)
            session.events.append(item)
            conn = session.connection
            if conn is not None and conn.ready:
                await self._deliver(conn, item)

    async def _deliver(self, conn: GatewayConnection, item: _Event) -> None:
        if await conn.send(item.payload) and not item.sent:
            item.sent = True
            if item.on_sent is not None:
                item.on_sent()

    async def send_op(self, op: int, data: Any) -> int:
        """Send a non-dispatch opcode to every live connection; returns how many got it."""
        sent = 0
        for conn in self.live_connections():
            sent += await conn.send({"op": op, "d": data, "s": None, "t": None})
        return sent

    async def close_all(self, code: int, reason: str = "") -> int:
        """Close every live connection with ``code``."""
        conns = self.live_connections()
        for conn in conns:
            self._on_server_close(conn, code)
            await conn.close(code, reason)
        return len(conns)

    def abort_all(self) -> int:
        """Abort every live connection's TCP stream."""
        conns = self.live_connections()
        for conn in conns:
            conn.abort()
        return len(conns)

    def invalidate_sessions(self) -> None:
        """Make every session non-resumable."""
        for session in self.sessions.values():
            self._invalidate(session)

    def _invalidate(self, session: GatewaySession) -> None:
        if not session.valid:
            return
        session.valid = False
        # Keep undelivered dispatches (interactions sent while the bot was away) for the next session.
        self._pending.extend(_Event(0, e.payload, e.on_sent) for e in session.unsent())
        session.events = [e for e in session.events if e.sent]

    def _on_server_close(self, conn: GatewayConnection, code: int) -> None:
        self.state.server_close_codes.append(code)
        if conn.session is not None and code in _SESSION_ENDING_CODES:
            self._invalidate(conn.session)

    async def shutdown(self) -> None:
        """Close every connection (1001) and wait for the handlers."""
        for conn in list(self.connections):
            await conn.close(1001, "emulator stopping")
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=5)

    # ------------------------------------------------------------------ websocket handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``GET /gateway``."""
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._handle(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.state.accept_connections:
            self.state.refused_connections += 1
            self.state.changed()
            return web.json_response({"message": "503: Service Unavailable", "code": 0}, status=503)
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True, compress=False, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return web.json_response(payloads.error_body(0, "400: Bad Request"), status=400)
        await ws.prepare(request)
        st = self.state
        st.connection_count += 1
        compress_name = request.query.get("compress")
        compressor: _Compressor | None = None
        if compress_name == "zlib-stream":
            compressor = _zlib_stream()
        elif compress_name == "zstd-stream":
            compressor = _zstd_stream()
        conn = GatewayConnection(ws, request, compressor, st.split_compressed_frames)
        self.connections.append(conn)
        st.changed()
        try:
            error = self._check_query(request, compress_name, compressor)
            if error is not None:
                await self._close(conn, *error)
                return ws
            await conn.send(
                {
                    "op": HELLO,
                    "d": {
                        "heartbeat_interval": st.heartbeat_interval_ms,
                        "_trace": ['["gateway-emulator",{"micros":0}]'],
                    },
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type in {WSMsgType.TEXT, WSMsgType.BINARY}:
                    await self._on_message(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            conn.closed = True
            if not conn.server_closed:
                st.client_close_codes.append(ws.close_code)
            session = conn.session
            if session is not None:
                if session.connection is conn:
                    session.connection = None
                if not conn.server_closed and ws.close_code in {1000, 1001}:
                    # A client closing with 1000/1001 ends its session (Discord's documented behaviour).
                    self._invalidate(session)
            self.connections.remove(conn)
            st.changed()
        return ws

    @staticmethod
    def _check_query(
        request: web.Request, compress_name: str | None, compressor: _Compressor | None
    ) -> tuple[int, str] | None:
        if request.query.get("v", "10") != "10":
            return 4012, "Invalid API version"
        if request.query.get("encoding", "json") != "json":
            return 4002, "Error while decoding payload."
        if compress_name is not None and compressor is None:
            return 4000, f"Unsupported compression {compress_name!r} on this emulator"
        return None

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        self._on_server_close(conn, code)
        await conn.close(code, reason)

    async def _on_message(self, conn: GatewayConnection, data: str | bytes) -> None:
        try:
            payload = json.loads(data)
            op = int(payload["op"])
        except (ValueError, KeyError, TypeError):
            await self._close(conn, 4002, "Error while decoding payload.")
            return
        d = payload.get("d")
        if op == HEARTBEAT:
            self.state.heartbeat_count += 1
            self.state.changed()
            if self.state.ack_heartbeats:
                await conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(conn, d if isinstance(d, dict) else {})
        elif op == RESUME:
            await self._resume(conn, d if isinstance(d, dict) else {})
        elif conn.session is None:
            await self._close(conn, 4003, "Not authenticated.")
        elif op == PRESENCE_UPDATE:
            self.state.presence_updates.append(d if isinstance(d, dict) else {})
            self.state.changed()
        elif op in {VOICE_STATE_UPDATE, REQUEST_GUILD_MEMBERS, 43}:
            pass
        else:
            await self._close(conn, 4001, "Unknown opcode.")

    def _token_ok(self, token: Any) -> bool:
        return isinstance(token, str) and token.removeprefix("Bot ") == self.state.token

    async def _identify(self, conn: GatewayConnection, d: JSON) -> None:
        st = self.state
        st.identify_payloads.append(d)
        st.changed()
        if conn.session is not None:
            await self._close(conn, 4005, "Already authenticated.")
            return
        if not self._token_ok(d.get("token")):
            await self._close(conn, 4004, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents > _ALL_INTENTS:
            await self._close(conn, 4013, "Invalid intent(s).")
            return
        if intents & _PRIVILEGED_INTENTS & ~st.allowed_privileged_intents:
            await self._close(conn, 4014, "Disallowed intent(s).")
            return
        shard = d.get("shard", [0, 1])
        if not (isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]):
            await self._close(conn, 4010, "Invalid shard.")
            return
        for old in self.sessions.values():
            self._invalidate(old)
        session = GatewaySession(session_id=secrets.token_hex(16), identify=d)
        self.sessions[session.session_id] = session
        conn.session = session
        session.connection = conn
        ready = {
            "v": 10,
            "user": {**payloads.own_user(st.bot_user)},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in st.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": st.gateway_url,
            "shard": shard,
            "application": {"id": str(st.application_id), "flags": 1 << 19},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["emulator"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["gateway-emulator",{"micros":0}]'],
        }
        async with session.lock:
            conn.ready = True
            # READY and the GUILD_CREATEs go out before anything else queued for the session.
            for event, data in self._ready_sequence(ready):
                session.seq += 1
                item = _Event(session.seq, {"op": DISPATCH, "t": event, "s": session.seq, "d": data})
                session.events.append(item)
                await self._deliver(conn, item)
        st.ready_count += 1
        st.changed()
        pending, self._pending = self._pending, []
        for item in pending:
            await self._dispatch_to(session, item.payload["t"], item.payload["d"], item.on_sent)

    def _ready_sequence(self, ready: JSON) -> list[tuple[str, JSON]]:
        st = self.state
        out: list[tuple[str, JSON]] = [("READY", ready)]
        if st.guild_create_on_ready:
            out.extend(("GUILD_CREATE", payloads.guild_create(g, st.bot_user, st.owner)) for g in st.guilds)
        return out

    async def _resume(self, conn: GatewayConnection, d: JSON) -> None:
        st = self.state
        st.resume_payloads.append(d)
        st.changed()
        if not self._token_ok(d.get("token")):
            await self._close(conn, 4004, "Authentication failed.")
            return
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or not session.valid:
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        seq = d.get("seq")
        if not isinstance(seq, int) or seq > session.seq:
            await self._close(conn, 4007, "Invalid seq.")
            return
        old = session.connection
        if old is not None and old is not conn:
            await old.close(4000, "Session resumed elsewhere")
        conn.session = session
        session.connection = conn
        async with session.lock:
            for item in session.events:
                if item.seq > seq:
                    await self._deliver(conn, item)
            session.seq += 1
            resumed = _Event(session.seq, {"op": DISPATCH, "t": "RESUMED", "s": session.seq, "d": {"_trace": []}})
            session.events.append(resumed)
            conn.ready = True
            await self._deliver(conn, resumed)
        st.resume_count += 1
        st.changed()
