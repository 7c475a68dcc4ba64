"""A local OpenAI-compatible chat server for tests and benchmarks.

:class:`FakeLLMServer` listens on ``127.0.0.1`` (a free port) and serves ``POST /v1/chat/completions``
(SSE when ``stream`` is true, JSON otherwise) and ``GET /v1/models``. A test scripts the next answers with
:meth:`FakeLLMServer.script`: the answer and reasoning, the server dialect (where the reasoning goes),
chunking and pacing, SSE quirks, and faults::

    async with FakeLLMServer() as server:
        server.script(answer="こんにちは", reasoning="The user greets me.", dialect="llamacpp")
        client = LLMClient(base_url=server.base_url, api_key="k")
        ...
        assert server.requests[-1].authorization == "Bearer k"

SSE quirks: ``crlf`` line ends, ``keepalive`` comments, ``multiline_data`` (one JSON over several
``data:`` lines), ``write_size`` (the byte stream written in pieces that small, so UTF-8 sequences and
lines are split between TCP reads). ``first_token_sent`` / ``first_token_at`` mark when the first
answer text went out, for benchmarks that time from the first token.

Dialects (where the reasoning travels, and each server's chunk details):

* ``lmstudio`` — ``delta.reasoning`` (LM Studio, gpt-oss); ``ollama`` — ``delta.reasoning`` with
  ``content: ""`` alongside; ``llamacpp`` — ``delta.reasoning_content`` with ``content: null``;
  ``vllm`` — ``delta.reasoning_content`` (vLLM before the field was renamed ``reasoning``);
* ``think-tags`` — ``<think>…</think>`` inside the content; ``think-template`` — a chat template that opens
  ``<think>`` in the prompt (DeepSeek-R1 style), so the content is ``reasoning</think>answer`` with no
  opening tag; ``harmony`` — gpt-oss harmony markers in the content; ``plain`` — no reasoning at all.

Server behaviours (constructor arguments, also plain attributes a test may change):

* ``api_key`` — chat requests and ``/props`` need ``Authorization: Bearer <api_key>`` (401 otherwise), but
  ``/v1/models`` answers without it, as llama-server does;
* ``context_size`` — a request whose messages exceed it (``len // 4`` tokens each, plus 4 per message) is
  refused: ``context_error="http"`` answers 400 ``exceed_context_size_error`` with ``n_ctx`` (llama.cpp
  today), ``"sse_field"`` answers 200 with an ``error:`` SSE field then ``data: [DONE]`` (llama.cpp builds
  before late 2025);
* ``props`` — serve llama.cpp's ``GET /props`` (``default_generation_settings.n_ctx`` when
  ``publish_context``, and ``chat_template``); ``lmstudio_api`` — serve LM Studio's ``GET /api/v0/models``
  (``loaded_context_length`` when ``publish_context``). Without them those paths are 404.

:attr:`FakeLLMServer.client_gone` is set when a client stops reading a stream (it disconnected), and
:attr:`FakeLLMServer.chat_requests` lists only the chat requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any, Literal

import attrs
from aiohttp import web

__all__ = ["Dialect", "FakeLLMServer", "Fault", "RecordedRequest", "Script"]

Dialect = Literal["lmstudio", "ollama", "llamacpp", "vllm", "think-tags", "think-template", "harmony", "plain"]
Fault = Literal[
    "http500",  # an error status with {"error": {"message", "type"}} (OpenAI / LM Studio / llama.cpp)
    "http_error_string",  # an error status with {"error": "…"} (Ollama)
    "html_response",  # 200 with an HTML page (a proxy or the wrong port)
    "malformed_chunk",  # a truncated JSON chunk after the first one
    "unexpected_json",  # valid JSON that is not a completion chunk, after the first one
    "error_in_stream",  # {"error": {...}} as an SSE event after the first chunk (llama.cpp, vLLM)
    "hang",  # never answers, not even headers
    "hang_after_first",  # sends the first chunk, then nothing
    "drop_mid_stream",  # aborts the TCP connection halfway through
    "end_mid_stream",  # ends the response cleanly halfway through (no finish_reason, no [DONE])
    "usage_only_chunk",  # extra usage-only chunks (empty "choices") before and after the answer
    "no_done",  # complete answer with finish_reason, but no "data: [DONE]"
    "error_field",  # 200, then `error: {"code", "message", "type"}` as an SSE field and "data: [DONE]" (old llama.cpp)
    "no_finish_reason",  # the answer, then "data: [DONE]", but no chunk carries a finish_reason
    "endless",  # the answer repeated for ever (pace it with delay_per_chunk), until the client goes away
]
ContextError = Literal["http", "sse_field"]
ModelsFault = Literal["http500", "malformed", "hang"]

_REASONING_FIELD: dict[str, str] = {
    "lmstudio": "reasoning",
    "ollama": "reasoning",
    "llamacpp": "reasoning_content",
    "vllm": "reasoning_content",
}
_FINGERPRINT: dict[str, str] = {
    "lmstudio": "openai/gpt-oss-20b",
    "ollama": "fp_ollama",
    "llamacpp": "b6497-cd08fc3e",
    "vllm": "",
}


@attrs.define
class Script:
    """What the server answers next (see :meth:`FakeLLMServer.script`)."""

    answer: str = "Hello! How can I help you today?"
    reasoning: str = ""
    dialect: Dialect = "lmstudio"
    chunk_size: int = 8
    delay_per_chunk: float = 0.0
    finish_reason: str = "stop"
    fault: Fault | None = None
    error_status: int = 500
    error_message: str = "Internal server error"
    crlf: bool = False
    keepalive: bool = False
    multiline_data: bool = False
    write_size: int | None = None
    model: str | None = None
    force_json: bool = False  # answer with one JSON completion even when a stream was asked for
    error_type: str = "server_error"  # the "type" of an error_field fault


@attrs.frozen
class RecordedRequest:
    """A request the server received; ``body`` is the parsed JSON (``None`` for GET)."""

    method: str
    path: str
    body: Any
    authorization: str | None


class FakeLLMServer:
    """An aiohttp server speaking the OpenAI chat-completions protocol the way local servers do."""

    def __init__(
        self,
        *,
        models: tuple[str, ...] = ("openai/gpt-oss-20b", "qwen/qwen3-8b"),
        api_key: str | None = None,
        context_size: int | None = None,
        context_error: ContextError = "http",
        props: bool = False,
        lmstudio_api: bool = False,
        publish_context: bool = True,
        chat_template: str | None = None,
    ) -> None:
        self.models: list[str] = list(models)
        self.models_fault: ModelsFault | None = None
        self.api_key = api_key
        self.context_size = context_size
        self.context_error: ContextError = context_error
        self.props = props
        self.lmstudio_api = lmstudio_api
        self.publish_context = publish_context
        self.chat_template = chat_template
        self.requests: list[RecordedRequest] = []
        self.first_token_sent = asyncio.Event()
        self.first_token_at: float | None = None  # time.perf_counter() when the first answer text went out
        self.client_gone = asyncio.Event()
        self._script = Script()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` — what ``LLM_BASE_URL`` would be."""
        if self._port is None:
            raise RuntimeError("FakeLLMServer is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/props", self._props)
        app.router.add_get("/api/v0/models", self._lmstudio_models)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop at once, releasing handlers that hang or pace their output."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -------------------------------------------------------------------------------- control

    def script(self, **changes: Any) -> Script:
        """Set what the next answers look like; unspecified fields take :class:`Script` defaults."""
        self._script = Script(**changes)
        self.reset_first_token()
        return self._script

    def reset_first_token(self) -> None:
        """Re-arm :attr:`first_token_sent` for the next request."""
        self.first_token_sent.clear()
        self.first_token_at = None

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == "/v1/chat/completions"]

    # ------------------------------------------------------------------------------- handlers

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._record(request, None)
        if self.models_fault == "http500":
            return web.json_response({"error": {"message": "models unavailable", "type": "server_error"}}, status=500)
        if self.models_fault == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if self.models_fault == "hang":
            await self._stopping.wait()
            return web.Response(status=503)
        data = [{"id": name, "object": "model", "owned_by": "organization_owner"} for name in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _props(self, request: web.Request) -> web.StreamResponse:
        """llama.cpp's ``GET /props`` (it needs the API key, unlike ``/v1/models``)."""
        self._record(request, None)
        if not self.props:
            return web.Response(status=404, text="File Not Found")
        if (refused := self._refuse_key(request)) is not None:
            return refused
        settings: dict[str, Any] = {"id": 0, "n_predict": -1, "temperature": 0.8}
        if self.publish_context and self.context_size is not None:
            settings["n_ctx"] = self.context_size
        body: dict[str, Any] = {"default_generation_settings": settings, "total_slots": 1, "build_info": "b6497"}
        if self.chat_template is not None:
            body["chat_template"] = self.chat_template
        return web.json_response(body)

    async def _lmstudio_models(self, request: web.Request) -> web.StreamResponse:
        """LM Studio's ``GET /api/v0/models``."""
        self._record(request, None)
        if not self.lmstudio_api:
            return web.Response(status=404, text="Unexpected endpoint or method.")
        if (refused := self._refuse_key(request)) is not None:
            return refused
        data: list[dict[str, Any]] = []
        for name in self.models:
            entry: dict[str, Any] = {"id": name, "object": "model", "type": "llm", "state": "loaded"}
            entry["max_context_length"] = 131072
            if self.publish_context and self.context_size is not None:
                entry["loaded_context_length"] = self.context_size
            data.append(entry)
        return web.json_response({"object": "list", "data": data})

    def _refuse_key(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return web.json_response(
            {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}, status=401
        )

    def _context_overflow(self, body: dict[str, Any]) -> int | None:
        """The prompt's token count when it does not fit in ``context_size``."""
        messages = body.get("messages")
        if self.context_size is None or not isinstance(messages, list):
            return None
        tokens = sum(len(str(m.get("content", ""))) // 4 + 4 for m in messages if isinstance(m, dict))
        return tokens if tokens > self.context_size else None

    async def _refuse_context(self, request: web.Request, tokens: int) -> web.StreamResponse:
        error = {
            "code": 400,
            "message": f"request ({tokens} tokens) exceeds the available context size ({self.context_size} tokens), "
            "try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": tokens,
            "n_ctx": self.context_size,
        }
        if self.context_error == "http":
            return web.json_response({"error": error}, status=400)
        # Old llama.cpp: no n_ctx in the error, and the words before the context size changed since.
        old = {"code": 400, "message": "the request exceeds the available context size, try increasing it"}
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        await response.write(f"error: {json.dumps({**old, 'type': 'exceed_context_size_error'})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self._record(request, body)
        script = self._script
        if (refused := self._refuse_key(request)) is not None:
            return refused
        if not isinstance(body, dict):
            return web.json_response(
                {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}, status=400
            )
        if (tokens := self._context_overflow(body)) is not None:
            return await self._refuse_context(request, tokens)
        if script.fault == "http500":
            return web.json_response(
                {"error": {"message": script.error_message, "type": "server_error", "param": None, "code": None}},
                status=script.error_status,
            )
        if script.fault == "http_error_string":
            return web.json_response({"error": script.error_message}, status=script.error_status)
        if script.fault == "html_response":
            return web.Response(text="<html><body>It works!</body></html>", content_type="text/html")
        if script.fault == "hang":
            await self._stopping.wait()
            return web.Response(status=503)
        model = script.model or str(body.get("model") or self.models[0])
        if not body.get("stream") or script.force_json:
            return web.json_response(_completion(script, model))
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return await self._stream(request, script, model, include_usage=include_usage)

    async def _stream(
        self, request: web.Request, script: Script, model: str, *, include_usage: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await self._stream_frames(request, response, script, model, include_usage=include_usage)
        except ConnectionError:
            self.client_gone.set()  # the client stopped reading and closed the connection
        return response

    async def _stream_frames(
        self, request: web.Request, response: web.StreamResponse, script: Script, model: str, *, include_usage: bool
    ) -> None:
        if script.fault == "error_field":
            error = {"code": script.error_status, "message": script.error_message, "type": script.error_type}
            await self._send(response, f"error: {json.dumps(error)}\n\n".encode(), script)
            await self._send(response, _sse("[DONE]", script), script)
            await response.write_eof()
            return
        if script.fault == "endless":
            await self._stream_endless(response, script, model)
            return
        frames = list(_chunks(script, model, include_usage=include_usage))
        if script.fault == "usage_only_chunk":
            frames.insert(0, _usage_chunk(script, model, frames[0]["id"]))
            if not include_usage:
                frames.append(_usage_chunk(script, model, frames[0]["id"]))
        half = max(1, len(frames) // 2)
        for index, frame in enumerate(frames):
            if index and not await self._pause(script.delay_per_chunk):
                return
            if index == half and script.fault == "drop_mid_stream":
                if request.transport is not None:
                    request.transport.abort()
                return
            if index == half and script.fault == "end_mid_stream":
                await response.write_eof()
                return
            await self._send(response, _sse(json.dumps(frame, ensure_ascii=False), script), script)
            if not self.first_token_sent.is_set() and _has_content(frame):
                self.first_token_at = time.perf_counter()
                self.first_token_sent.set()
            if index == 0 and script.fault is not None:
                injected = _injected_fault(script)
                if injected is not None:
                    await self._send(response, injected, script)
                if script.fault == "hang_after_first":
                    await self._stopping.wait()
                    return
        if script.fault != "no_done":
            await self._send(response, _sse("[DONE]", script), script)
        await response.write_eof()

    async def _stream_endless(self, response: web.StreamResponse, script: Script, model: str) -> None:
        """Content for ever: the answer again and again, ``chunk_size`` characters per chunk."""
        text = _content_text(script) or "more "
        position = 0
        while await self._pause(max(script.delay_per_chunk, 0.001)):
            piece = (text * 2)[position : position + script.chunk_size]
            position = (position + script.chunk_size) % len(text)
            frame = _frame(model, {"content": piece})
            await self._send(response, _sse(json.dumps(frame, ensure_ascii=False), script), script)
            if not self.first_token_sent.is_set():
                self.first_token_at = time.perf_counter()
                self.first_token_sent.set()

    # -------------------------------------------------------------------------------- helpers

    def _record(self, request: web.Request, body: Any) -> None:
        auth = request.headers.get("Authorization")
        self.requests.append(RecordedRequest(request.method, request.path, body, auth))

    async def _pause(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless the server stops first; return whether to carry on."""
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return not self._stopping.is_set()

    async def _send(self, response: web.StreamResponse, data: bytes, script: Script) -> None:
        size = script.write_size or len(data)
        for start in range(0, len(data), size):
            await response.write(data[start : start + size])


# ---------------------------------------------------------------------------------------- payloads


def _pieces(text: str, size: int) -> Iterator[str]:
    size = max(1, size)
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _content_text(script: Script) -> str:
    """The answer as it appears in ``content`` (with reasoning inline for the in-band dialects)."""
    if script.dialect == "think-tags" and script.reasoning:
        return f"<think>\n{script.reasoning}\n</think>\n\n{script.answer}"
    if script.dialect == "think-template":
        return f"{script.reasoning}\n</think>\n\n{script.answer}"
    if script.dialect == "harmony":
        analysis = f"<|channel|>analysis<|message|>{script.reasoning}<|end|>" if script.reasoning else ""
        return f"{analysis}<|start|>assistant<|channel|>final<|message|>{script.answer}<|return|>"
    return script.answer


def _chunks(script: Script, model: str, *, include_usage: bool) -> Iterator[dict[str, Any]]:
    chunk_id = f"chatcmpl-{secrets.token_hex(12)}"
    created = int(time.time())
    fingerprint = _FINGERPRINT.get(script.dialect, model)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    role_sent = False

    def with_role(delta: dict[str, Any]) -> dict[str, Any]:
        nonlocal role_sent
        if not role_sent:
            role_sent = True
            return {"role": "assistant", **delta}
        return delta

    field = _REASONING_FIELD.get(script.dialect)
    if field is not None:
        for piece in _pieces(script.reasoning, script.chunk_size):
            if script.dialect == "ollama":
                yield chunk(with_role({"content": "", field: piece}))
            elif script.dialect == "llamacpp":
                yield chunk(with_role({"content": None, field: piece}))
            else:
                yield chunk(with_role({field: piece}))
    for piece in _pieces(_content_text(script), script.chunk_size):
        yield chunk(with_role({"content": piece}))
    if not role_sent:
        yield chunk(with_role({"content": ""}))
    yield chunk({}, None if script.fault == "no_finish_reason" else script.finish_reason)
    if include_usage:
        yield _usage_chunk(script, model, chunk_id)


def _frame(model: str, delta: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-endless",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
    }


def _usage_chunk(script: Script, model: str, chunk_id: str) -> dict[str, Any]:
    completion_tokens = max(1, (len(script.answer) + len(script.reasoning)) // 4)
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": _FINGERPRINT.get(script.dialect, model),
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": completion_tokens, "total_tokens": 12 + completion_tokens},
    }


def _completion(script: Script, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": _content_text(script)}
    field = _REASONING_FIELD.get(script.dialect)
    if field is not None and script.reasoning:
        message[field] = script.reasoning
    usage = _usage_chunk(script, model, "")["usage"]
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": script.finish_reason}],
        "usage": usage,
    }


def _has_content(frame: dict[str, Any]) -> bool:
    choices = frame.get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


def _sse(data: str, script: Script) -> bytes:
    eol = "\r\n" if script.crlf else "\n"
    lines = [data]
    if script.multiline_data and data.startswith("{"):
        # indent=1 puts line breaks only between JSON tokens, so the joined data lines still parse.
        lines = json.dumps(json.loads(data), indent=1, ensure_ascii=False).split("\n")
    event = "".join(f"data: {line}{eol}" for line in lines) + eol
    if script.keepalive:
        event = f": keep-alive{eol}{eol}" + event
    return event.encode()


def _injected_fault(script: Script) -> bytes | None:
    if script.fault == "malformed_chunk":
        return _sse(
            '{"id": "chatcmpl-x", "object": "chat.completion.chunk", "choices": [{"delta": {"content": "oo', script
        )
    if script.fault == "unexpected_json":
        return _sse(json.dumps({"status": "ok", "result": [1, 2, 3]}), script)
    if script.fault == "error_in_stream":
        return _sse(
            json.dumps({"error": {"message": script.error_message, "type": "server_error", "code": 500}}), script
        )
    return None
