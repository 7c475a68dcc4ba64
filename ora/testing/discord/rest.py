"""The REST API under ``/api/v10``.

Speaks the routes a hikari + lightbulb bot uses: ``GET /gateway/bot``, ``GET /users/@me``,
``GET /oauth2/applications/@me``, application command CRUD and bulk overwrite (global and guild),
``POST /interactions/{id}/{token}/callback``, the interaction webhook (follow-ups, ``@original``),
``GET /guilds/{id}``, ``GET /channels/{id}``, ``POST /channels/{id}/messages``. Bot routes require
``Authorization: Bot <token>`` (else 401 ``{"message": "401: Unauthorized", "code": 0}``); interaction routes
are authorised by their token, as on Discord. Bodies may be JSON or ``multipart/form-data`` with
``payload_json`` and ``files[n]``. Unknown routes answer Discord's 404 JSON and are kept in
``state.unknown_routes``.

The middleware holds every request to Discord's contract (:mod:`.contract`): a request the OpenAPI
document rejects is answered 400 code 50035 with an ``errors`` tree, before any handler runs, and recorded
as a violation; every answer is checked against the documented response. It also applies injected faults
(:mod:`.faults`) and rate limits (:mod:`.ratelimits`: bucket headers on every answer, 429s past the limit).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from ora.testing.discord import contract, payloads
from ora.testing.discord.contract import Problem, Violation
from ora.testing.discord.openapi import Operation
from ora.testing.discord.records import UploadedFile
from ora.testing.discord.responses import InteractionResponder, Result, validate_message
from ora.testing.discord.state import EmulatorState

__all__ = ["API_PREFIX", "RestApi", "read_body"]

API_PREFIX = "/api/v10"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadBody(Exception):
    pass


def _json(result: Result) -> web.Response:
    status, body = result
    if body is None:
        return web.Response(status=status)
    return web.json_response(body, status=status)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() in {"true", "1"}


def _snowflake(request: web.Request, key: str) -> int:
    try:
        return int(request.match_info[key])
    except ValueError:
        raise web.HTTPNotFound(
            text=json.dumps(payloads.error_body(50035, "Invalid Form Body")), content_type="application/json"
        ) from None


_BODY_KEY = web.RequestKey("ora.testing.discord.body", tuple)


async def read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """The JSON body (or multipart ``payload_json``) and any uploaded files (read once, then cached)."""
    cached: tuple[Any, list[UploadedFile], bool] | None = request.get(_BODY_KEY)
    if cached is None:
        cached = await _read_body(request)
        request[_BODY_KEY] = cached
    body, files, _ = cached
    return body, files


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile], bool]:
    if request.content_type.startswith("multipart/"):
        files: list[UploadedFile] = []
        body: Any = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read(decode=False)
            if part.name == "payload_json":
                try:
                    body = json.loads(data)
                except ValueError:
                    raise _BadBody from None
            else:
                files.append(
                    UploadedFile(
                        field=str(part.name),
                        filename=part.filename or "file",
                        content_type=part.headers.get("Content-Type"),
                        data=bytes(data),
                    )
                )
        return body, files, True
    raw = await request.read()
    if not raw:
        return None, [], False
    try:
        return json.loads(raw), [], True
    except ValueError:
        raise _BadBody from None


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


class RestApi:
    """aiohttp routes and middleware for ``/api/v10``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.responder = InteractionResponder(state)

    # ------------------------------------------------------------------ plumbing

    def routes(self) -> list[web.RouteDef]:
        """All REST routes; the catch-all comes last."""
        p = API_PREFIX
        bot = self._bot
        cmds = "/applications/{app}/commands"
        gcmds = "/applications/{app}/guilds/{guild}/commands"
        hook = "/webhooks/{app}/{token}"
        return [
            web.get(p + "/gateway", self.get_gateway),
            web.get(p + "/gateway/bot", bot(self.get_gateway_bot)),
            web.get(p + "/users/@me", bot(self.get_me)),
            web.get(p + "/users/{user}", bot(self.get_user)),
            web.get(p + "/oauth2/applications/@me", bot(self.get_application)),
            web.get(p + "/applications/@me", bot(self.get_application)),
            web.get(p + cmds, bot(self.list_commands)),
            web.put(p + cmds, bot(self.overwrite_commands)),
            web.post(p + cmds, bot(self.create_command)),
            web.get(p + cmds + "/{command}", bot(self.get_command)),
            web.patch(p + cmds + "/{command}", bot(self.edit_command)),
            web.delete(p + cmds + "/{command}", bot(self.delete_command)),
            web.get(p + gcmds, bot(self.list_commands)),
            web.put(p + gcmds, bot(self.overwrite_commands)),
            web.post(p + gcmds, bot(self.create_command)),
            web.get(p + gcmds + "/{command}", bot(self.get_command)),
            web.patch(p + gcmds + "/{command}", bot(self.edit_command)),
            web.delete(p + gcmds + "/{command}", bot(self.delete_command)),
            web.get(p + "/guilds/{guild}", bot(self.get_guild)),
            web.get(p + "/guilds/{guild}/channels", bot(self.get_guild_channels)),
            web.get(p + "/guilds/{guild}/roles", bot(self.get_guild_roles)),
            web.get(p + "/guilds/{guild}/members/{user}", bot(self.get_member)),
            web.get(p + "/channels/{channel}", bot(self.get_channel)),
            web.post(p + "/channels/{channel}/messages", bot(self.create_channel_message)),
            web.post(p + "/interactions/{interaction}/{token}/callback", self.interaction_callback),
            web.post(p + hook, self.execute_webhook),
            web.get(p + hook + "/messages/{message}", self.get_webhook_message),
            web.patch(p + hook + "/messages/{message}", self.edit_webhook_message),
            web.delete(p + hook + "/messages/{message}", self.delete_webhook_message),
            web.route("*", p + "/{tail:.*}", self.unknown),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Check the request against Discord's contract, apply faults and rate limits, check the answer."""
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        st = self.state
        method, path = request.method, request.path
        st.rest_requests.append((method, path))
        try:
            await read_body(request)
        except _BadBody:
            st.record_violation(
                Violation("request", method, path, None, (Problem((), "INVALID_JSON", "The body is not JSON."),))
            )
            return web.json_response(payloads.error_body(50109, "The request body contains invalid JSON."), status=400)
        body, _, has_body = request[_BODY_KEY]
        relative = path[len(API_PREFIX) :]
        check = contract.check_request(method, relative, request.query, request.content_type, body, has_body=has_body)
        op = check.operation
        if op is None:
            if check.problems:
                st.record_violation(Violation("request", method, relative, None, check.problems))
            return await handler(request)  # the catch-all: Discord's 404
        st.operations_seen[op.operation_id] = st.operations_seen.get(op.operation_id, 0) + 1
        matched = op.regex.match(relative)
        params = matched.groupdict() if matched else {}
        if check.problems:
            st.record_violation(Violation("request", method, op.template, op.operation_id, check.problems))
            self._note_rejection(params, op, check.problems)

        fault = st.rest_faults.take(method, path)
        if fault is not None and fault.fault == "drop":
            st.changed()
            _abort(request)
            return web.Response(status=500)  # never reaches the client
        if fault is not None and fault.status_body is not None:
            st.changed()
            status, error = fault.status_body
            return web.json_response(error, status=status)

        decision = st.rate_limits.admit(op, method, path, params, request.headers.get("Authorization"))
        if decision.rejection is not None:
            status, headers, limited = decision.rejection
            st.rate_limited.append((method, path))
            st.changed()
            return self._answer(op, web.json_response(limited, status=status, headers=headers))
        if check.problems:
            response: web.StreamResponse = web.json_response(contract.error_body(check.problems), status=400)
        else:
            response = await handler(request)
        response.headers.update(decision.headers)
        if fault is not None and fault.fault == "drop_after":
            st.changed()
            _abort(request)
            return response
        return self._answer(op, response)

    def _note_rejection(self, params: dict[str, str], op: Operation, problems: tuple[Problem, ...]) -> None:
        """Also note a rejected interaction request on its interaction record (``rec.errors``)."""
        token = params.get("interaction_token") or params.get("webhook_token")
        rec = self.state.interactions_by_token.get(token or "")
        if rec is not None:
            listed = "; ".join(str(p) for p in problems)
            rec.errors.append(f"{op.operation_id} rejected by Discord's API document: {listed}")
            rec.changed()

    def _answer(self, op: Operation, response: web.StreamResponse) -> web.StreamResponse:
        """Check what the emulator answers against the operation's documented response."""
        body: Any = None
        if isinstance(response, web.Response) and response.content_type == "application/json":
            raw = response.body
            if isinstance(raw, (bytes, bytearray)):
                body = json.loads(raw)
        problems = contract.check_response(op, response.status, body)
        if problems:
            self.state.record_violation(Violation("response", op.method, op.template, op.operation_id, problems))
        return response

    def _bot(self, handler: _Handler) -> _Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bot {self.state.token}":
                return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
            return await handler(request)

        return checked

    async def unknown(self, request: web.Request) -> web.Response:
        """Anything else: Discord's 404, remembered for debugging."""
        self.state.unknown_routes.append((request.method, request.path))
        self.state.changed()
        return web.json_response({"message": "404: Not Found", "code": 0}, status=404)

    # ------------------------------------------------------------------ gateway, users, application

    async def get_gateway(self, request: web.Request) -> web.Response:
        """``GET /gateway``."""
        return web.json_response({"url": self.state.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """``GET /gateway/bot``: one shard, the session start limit."""
        st = self.state
        return web.json_response(
            {
                "url": st.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": st.session_start_remaining,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_me(self, request: web.Request) -> web.Response:
        """``GET /users/@me``."""
        return web.json_response(payloads.own_user(self.state.bot_user))

    async def get_user(self, request: web.Request) -> web.Response:
        """``GET /users/{id}``."""
        user = self.state.known_user(_snowflake(request, "user"))
        if user is None:
            return web.json_response(payloads.error_body(10013, "Unknown User"), status=404)
        return web.json_response(payloads.user(user))

    async def get_application(self, request: web.Request) -> web.Response:
        """``GET /oauth2/applications/@me`` and ``GET /applications/@me``."""
        st = self.state
        return web.json_response(payloads.application(st.application_id, st.bot_user, st.owner))

    # ------------------------------------------------------------------ commands

    def _scope(self, request: web.Request) -> int | web.Response | None:
        if _snowflake(request, "app") != self.state.application_id:
            return web.json_response(payloads.error_body(10002, "Unknown Application"), status=404)
        if "guild" not in request.match_info:
            return None
        guild_id = _snowflake(request, "guild")
        if self.state.guild(guild_id) is None:
            return web.json_response(payloads.error_body(50001, "Missing Access"), status=403)
        return guild_id

    async def list_commands(self, request: web.Request) -> web.Response:
        """``GET .../commands``."""
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        store = self.state.command_store
        store.fetches[scope] = store.fetches.get(scope, 0) + 1
        self.state.changed()
        return web.json_response(store.commands(scope))

    async def overwrite_commands(self, request: web.Request) -> web.Response:
        """``PUT .../commands`` (bulk overwrite)."""
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        body, _ = await read_body(request)
        if not isinstance(body, list) or not all(isinstance(c, dict) and "name" in c for c in body):
            return web.json_response(payloads.error_body(50035, "Invalid Form Body"), status=400)
        result = self.state.command_store.overwrite(scope, body)
        self.state.changed()
        return web.json_response(result)

    async def create_command(self, request: web.Request) -> web.Response:
        """``POST .../commands`` (201 when new, 200 when it replaced one)."""
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        body, _ = await read_body(request)
        if not isinstance(body, dict) or "name" not in body:
            return web.json_response(payloads.error_body(50035, "Invalid Form Body"), status=400)
        cmd, created = self.state.command_store.upsert(scope, body)
        self.state.changed()
        return web.json_response(cmd, status=201 if created else 200)

    async def get_command(self, request: web.Request) -> web.Response:
        """``GET .../commands/{id}``."""
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        cmd = self.state.command_store.get(scope, _snowflake(request, "command"))
        if cmd is None:
            return web.json_response(payloads.error_body(10063, "Unknown application command"), status=404)
        return web.json_response(cmd)

    async def edit_command(self, request: web.Request) -> web.Response:
        """``PATCH .../commands/{id}``."""
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        body, _ = await read_body(request)
        cmd = self.state.command_store.edit(
            scope, _snowflake(request, "command"), body if isinstance(body, dict) else {}
        )
        if cmd is None:
            return web.json_response(payloads.error_body(10063, "Unknown application command"), status=404)
        self.state.changed()
        return web.json_response(cmd)

    async def delete_command(self, request: web.Request) -> web.Response:
        """``DELETE .../commands/{id}``."""
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        if not self.state.command_store.delete(scope, _snowflake(request, "command")):
            return web.json_response(payloads.error_body(10063, "Unknown application command"), status=404)
        self.state.changed()
        return web.Response(status=204)

    # ------------------------------------------------------------------ guilds, channels

    async def get_guild(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}``."""
        guild = self.state.guild(_snowflake(request, "guild"))
        if guild is None:
            return web.json_response(payloads.error_body(10004, "Unknown Guild"), status=404)
        body = payloads.guild(guild)
        if _flag(request, "with_counts"):
            body["approximate_member_count"] = 2 + len(guild.members)
            body["approximate_presence_count"] = 1
        return web.json_response(body)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}/channels``."""
        guild = self.state.guild(_snowflake(request, "guild"))
        if guild is None:
            return web.json_response(payloads.error_body(10004, "Unknown Guild"), status=404)
        return web.json_response([payloads.channel(c, guild.id) for c in guild.all_channels()])

    async def get_guild_roles(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}/roles``."""
        guild = self.state.guild(_snowflake(request, "guild"))
        if guild is None:
            return web.json_response(payloads.error_body(10004, "Unknown Guild"), status=404)
        return web.json_response([payloads.role(r) for r in guild.all_roles()])

    async def get_member(self, request: web.Request) -> web.Response:
        """``GET /guilds/{id}/members/{user}``."""
        guild = self.state.guild(_snowflake(request, "guild"))
        user = self.state.known_user(_snowflake(request, "user"))
        if guild is None:
            return web.json_response(payloads.error_body(10004, "Unknown Guild"), status=404)
        if user is None:
            return web.json_response(payloads.error_body(10007, "Unknown Member"), status=404)
        return web.json_response(payloads.member(user, guild.joined_at))

    async def get_channel(self, request: web.Request) -> web.Response:
        """``GET /channels/{id}``."""
        channel_id = _snowflake(request, "channel")
        for guild in self.state.guilds:
            channel = guild.channel(channel_id)
            if channel is not None:
                return web.json_response(payloads.channel(channel, guild.id))
        return web.json_response(payloads.error_body(10003, "Unknown Channel"), status=404)

    async def create_channel_message(self, request: web.Request) -> web.Response:
        """``POST /channels/{id}/messages`` (recorded in ``state.channel_messages``)."""
        st = self.state
        channel_id = _snowflake(request, "channel")
        guild = next((g for g in st.guilds if g.channel(channel_id) is not None), None)
        if guild is None:
            return web.json_response(payloads.error_body(10003, "Unknown Channel"), status=404)
        body, files = await read_body(request)
        if not isinstance(body, dict):
            body = {}
        invalid = validate_message(body, creating=True, files=len(files))
        if invalid is not None:
            return web.json_response(invalid[1], status=400)
        msg = payloads.message(
            message_id=st.ids.next(),
            channel_id=channel_id,
            author=st.bot_user,
            body=body,
            message_type=0,
            application_id=st.application_id,
        )
        msg.pop("webhook_id", None)
        st.channel_messages.append(msg)
        st.changed()
        return web.json_response(msg)

    # ------------------------------------------------------------------ interactions

    async def interaction_callback(self, request: web.Request) -> web.Response:
        """``POST /interactions/{id}/{token}/callback``."""
        body, files = await read_body(request)
        try:
            interaction_id = int(request.match_info["interaction"])
        except ValueError:
            return _json((404, payloads.error_body(10062, "Unknown interaction")))
        result = self.responder.callback(
            interaction_id, request.match_info["token"], body, files, with_response=_flag(request, "with_response")
        )
        self.state.changed()
        return _json(result)

    async def execute_webhook(self, request: web.Request) -> web.Response:
        """``POST /webhooks/{app}/{token}``: a follow-up message."""
        body, files = await read_body(request)
        result = self.responder.followup(
            _snowflake(request, "app"), request.match_info["token"], body, files, wait=_flag(request, "wait")
        )
        self.state.changed()
        return _json(result)

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        """``GET /webhooks/{app}/{token}/messages/{id|@original}``."""
        return _json(
            self.responder.get_message(
                _snowflake(request, "app"), request.match_info["token"], request.match_info["message"]
            )
        )

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        """``PATCH /webhooks/{app}/{token}/messages/{id|@original}``."""
        body, files = await read_body(request)
        result = self.responder.edit_message(
            _snowflake(request, "app"), request.match_info["token"], request.match_info["message"], body, files
        )
        self.state.changed()
        return _json(result)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        """``DELETE /webhooks/{app}/{token}/messages/{id|@original}``."""
        result = self.responder.delete_message(
            _snowflake(request, "app"), request.match_info["token"], request.match_info["message"]
        )
        self.state.changed()
        return _json(result)
