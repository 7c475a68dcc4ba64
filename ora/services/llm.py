"""Client for OpenAI-compatible chat servers: LM Studio, Ollama, llama.cpp server, vLLM.

:meth:`LLMClient.stream_chat` streams ``POST {base_url}/chat/completions`` (``stream: true``) and yields
the answer as it grows, already stripped of reasoning (see :mod:`ora.text.reasoning`), then one
:class:`StreamDone`. Every failure is an :class:`LLMError` subclass with a stable ``code`` that the
Discord layer maps to a translated message. The API key never appears in an exception, repr or log.

Consume the stream with :func:`contextlib.aclosing` so that leaving early releases the connection::

    async with contextlib.aclosing(client.stream_chat(messages)) as events:
        async for event in events:
            ...
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final, Literal

import aiohttp
import attrs

from ora.text.reasoning import ReasoningFilter
from ora.text.sse import SSEEvent, SSEParser

__all__ = [
    "AnswerDelta",
    "ChatMessage",
    "LLMBadResponse",
    "LLMClient",
    "LLMEmptyAnswer",
    "LLMError",
    "LLMHTTPError",
    "LLMLengthExhausted",
    "LLMReasoningOnly",
    "LLMServerError",
    "LLMStreamCut",
    "LLMTimeout",
    "LLMUnreachable",
    "ProbeResult",
    "SSEEvent",
    "SSEParser",
    "StreamDone",
    "StreamEvent",
    "TimeoutKind",
    "Usage",
]

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
TimeoutKind = Literal["connect", "read", "total"]
ProbeStatus = Literal["ok", "unreachable", "timeout", "http_error", "bad_response"]

_MAX_ERROR_BODY: Final = 64 * 1024
_MAX_JSON_BODY: Final = 8 * 1024 * 1024
_MAX_SERVER_MESSAGE: Final = 300
_MODELS_FAILURE_BACKOFF: Final = 5.0
_RESERVED_BODY_KEYS: Final = frozenset({"model", "messages", "stream", "stream_options"})


# --------------------------------------------------------------------------------------------- errors


class LLMError(Exception):
    """Base of every failure of the LLM endpoint. ``partial_text`` is the answer shown before it."""

    code: ClassVar[str] = "llm_error"

    def __init__(self, detail: str, *, partial_text: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.partial_text = partial_text


class LLMUnreachable(LLMError):
    """No connection: refused, unknown host, reset before any response."""

    code = "unreachable"


class LLMTimeout(LLMError):
    """No connection in time (``connect``), no data for too long (``read``), or too slow overall (``total``)."""

    code = "timeout"

    def __init__(self, kind: TimeoutKind, timeout: float, *, partial_text: str = "") -> None:
        super().__init__(f"{kind} timeout after {timeout:g} s", partial_text=partial_text)
        self.kind: TimeoutKind = kind
        self.timeout = timeout


class LLMServerError(LLMError):
    """The server reported an error inside an otherwise successful stream."""

    code = "server_error"

    def __init__(self, server_message: str, *, detail: str | None = None, partial_text: str = "") -> None:
        super().__init__(detail or f"server error: {server_message}", partial_text=partial_text)
        self.server_message = server_message


class LLMHTTPError(LLMServerError):
    """An HTTP error status; ``server_message`` is the server's own ``error.message`` when it sent one."""

    code = "http_error"

    def __init__(self, status: int, server_message: str) -> None:
        super().__init__(server_message, detail=f"HTTP {status}: {server_message}")
        self.status = status


class LLMBadResponse(LLMError):
    """Malformed or unexpected JSON, or something that is not a chat completion at all."""

    code = "bad_response"


class LLMStreamCut(LLMError):
    """The stream ended before the answer did; ``partial_text`` keeps what arrived."""

    code = "stream_cut"


class LLMEmptyAnswer(LLMError):
    """The stream finished without any answer text."""

    code = "empty_answer"

    def __init__(self, detail: str, *, finish_reason: str | None, reasoning_seen: bool) -> None:
        super().__init__(detail)
        self.finish_reason = finish_reason
        self.reasoning_seen = reasoning_seen


class LLMReasoningOnly(LLMEmptyAnswer):
    """The model only reasoned and never answered."""

    code = "reasoning_only"


class LLMLengthExhausted(LLMEmptyAnswer):
    """``finish_reason: length`` before any answer (often: the token budget went on reasoning)."""

    code = "length_exhausted"


# ---------------------------------------------------------------------------------------- value types


@attrs.frozen
class ChatMessage:
    """One message of the conversation sent to the model."""

    role: Role = attrs.field(validator=attrs.validators.in_(("system", "user", "assistant")))
    content: str

    def to_json(self) -> dict[str, str]:
        """The OpenAI wire form."""
        return {"role": self.role, "content": self.content}


@attrs.frozen
class Usage:
    """Token counts, when the server reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@attrs.frozen
class AnswerDelta:
    """The visible answer grew (``delta`` appended) or was reset (``replaced``); ``text`` is all of it."""

    delta: str
    text: str
    replaced: bool = False


@attrs.frozen
class StreamDone:
    """The last event of a successful stream."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    model: str | None
    reasoning_seen: bool
    reasoning_chars: int

    @property
    def truncated_by_length(self) -> bool:
        """The answer stopped because it hit the token limit."""
        return self.finish_reason == "length"


StreamEvent = AnswerDelta | StreamDone


@attrs.frozen
class ProbeResult:
    """The endpoint's state for ``/health``; ``detail`` is a short English hint for the log."""

    status: ProbeStatus
    latency: float | None = None
    models: int | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ------------------------------------------------------------------------------------------- client


def _redact(text: str, secret: str) -> str:
    if len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    return text


def _shorten(text: str, limit: int = _MAX_SERVER_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_message(payload: object) -> str | None:
    """The server's own message: ``{"error": {"message"}}``, ``{"error": "…"}`` (Ollama), vLLM's
    ``{"object": "error", "message"}`` or FastAPI's ``{"detail"}``."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
        return json.dumps(error)[:_MAX_SERVER_MESSAGE]
    for key in ("message", "detail"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _parse_usage(value: object) -> Usage | None:
    if not isinstance(value, dict):
        return None

    def count(key: str) -> int | None:
        number = value.get(key)
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    return Usage(count("prompt_tokens"), count("completion_tokens"), count("total_tokens"))


class _StreamState:
    """Turns parsed chunks into events; raises :class:`LLMError` on anything that is not a completion."""

    def __init__(self, secret: str) -> None:
        self.secret = secret  # redacted from server messages
        self.filter = ReasoningFilter()
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.responded = False  # response headers arrived
        self.done = False

    def on_sse(self, event: SSEEvent) -> list[AnswerDelta]:
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            payload = json.loads(data)
        except ValueError:
            if event.event == "error":
                raise LLMServerError(_shorten(_redact(data, self.secret))) from None
            raise LLMBadResponse("malformed JSON in the stream") from None
        return self.on_payload(payload, key="delta")

    def on_payload(self, payload: object, *, key: Literal["delta", "message"]) -> list[AnswerDelta]:
        if not isinstance(payload, dict):
            raise LLMBadResponse(f"expected a JSON object, got {type(payload).__name__}")
        message = _error_message(payload) if "error" in payload else None
        if message is not None:
            raise LLMServerError(_shorten(_redact(message, self.secret)))
        if isinstance(model := payload.get("model"), str):
            self.model = model
        if (usage := _parse_usage(payload.get("usage"))) is not None:
            self.usage = usage
        choices = payload.get("choices")
        if choices is None and usage is not None:
            return []  # usage only, without even an empty "choices"
        if not isinstance(choices, list):
            raise LLMBadResponse("the response has no 'choices' list")
        if not choices:
            return []  # usage-only chunk (stream_options.include_usage)
        choice = choices[0]
        if not isinstance(choice, dict):
            raise LLMBadResponse("a choice is not a JSON object")
        if isinstance(reason := choice.get("finish_reason"), str):
            self.finish_reason = reason
        delta = choice.get(key)
        if delta is None:
            return []
        if not isinstance(delta, dict):
            raise LLMBadResponse(f"'{key}' is not a JSON object")
        try:
            update = self.filter.feed_delta(delta)
        except TypeError as exc:
            raise LLMBadResponse(str(exc)) from None
        if update.appended or update.replaced:
            return [AnswerDelta(delta=update.appended, text=self.filter.text, replaced=update.replaced)]
        return []

    def finish(self) -> list[StreamEvent]:
        update = self.filter.finish()
        events: list[StreamEvent] = []
        if update.appended or update.replaced:
            events.append(AnswerDelta(delta=update.appended, text=self.filter.text, replaced=update.replaced))
        if not self.done and self.finish_reason is None:
            raise LLMStreamCut("the stream ended before the answer was complete")
        filt = self.filter
        if not filt.has_answer:
            error: type[LLMEmptyAnswer] = LLMEmptyAnswer
            detail = "the model returned an empty answer"
            if self.finish_reason == "length":
                error, detail = LLMLengthExhausted, "the token limit was reached before any answer"
            elif filt.reasoning_seen:
                error, detail = LLMReasoningOnly, "the model reasoned but gave no answer"
            raise error(detail, finish_reason=self.finish_reason, reasoning_seen=filt.reasoning_seen)
        events.append(
            StreamDone(
                text=filt.text,
                finish_reason=self.finish_reason,
                usage=self.usage,
                model=self.model,
                reasoning_seen=filt.reasoning_seen,
                reasoning_chars=filt.reasoning_chars,
            )
        )
        return events


def _base_url(value: str) -> str:
    return value.rstrip("/")


@attrs.define
class LLMClient:
    """One OpenAI-compatible endpoint, with one :class:`aiohttp.ClientSession` (``start``/``close``).

    Timeouts, in seconds: ``connect_timeout`` to open the TCP connection, ``read_timeout`` for silence
    between chunks (also the wait for the first byte, which includes prompt processing), and
    ``total_timeout`` for a whole answer. ``request_usage`` asks for the final usage chunk
    (``stream_options.include_usage``, accepted by LM Studio, Ollama, llama.cpp and vLLM).
    """

    base_url: str = attrs.field(converter=_base_url)
    api_key: str = attrs.field(default="", repr=False)
    model: str = "openai/gpt-oss-20b"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    total_timeout: float = 300.0
    models_ttl: float = 30.0
    probe_timeout: float = 3.0
    request_usage: bool = True
    _session: aiohttp.ClientSession | None = attrs.field(default=None, init=False, repr=False)
    _models: list[str] | None = attrs.field(default=None, init=False, repr=False)
    _models_checked: float = attrs.field(default=float("-inf"), init=False, repr=False)
    _models_failed: bool = attrs.field(default=False, init=False, repr=False)
    _models_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False, repr=False)

    async def start(self) -> None:
        """Open the HTTP session (idempotent)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(raise_for_status=False)

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> LLMClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ----------------------------------------------------------------------------------- chat

    async def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        model: str | None = None,
        *,
        options: Mapping[str, object] | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream an answer: :class:`AnswerDelta` events, then one :class:`StreamDone`.

        ``options`` adds request fields such as ``max_tokens`` or ``temperature``. Raises an
        :class:`LLMError` subclass on failure, with ``partial_text`` set to the answer shown so far.
        """
        session = self._require_session()
        body = self._chat_body(messages, model, options)
        state = _StreamState(self.api_key)
        started = time.monotonic()
        log.debug("LLM request: model=%s, %d messages", body["model"], len(messages))
        try:
            async with session.post(
                f"{self.base_url}/chat/completions",
                json=body,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(
                    total=self.total_timeout, sock_connect=self.connect_timeout, sock_read=self.read_timeout
                ),
            ) as response:
                state.responded = True
                if response.status >= 400:
                    raise LLMHTTPError(response.status, await self._server_message(response))
                if response.content_type == "application/json":
                    payload = await self._read_json(response)
                    for event in state.on_payload(payload, key="message"):
                        yield event
                    state.done = True
                elif response.content_type != "text/event-stream":
                    raise LLMBadResponse(f"unexpected content type {response.content_type!r}")
                else:
                    parser = SSEParser()
                    async for chunk in response.content.iter_any():
                        try:
                            sse_events = parser.feed(chunk)
                        except ValueError as exc:
                            raise LLMBadResponse(str(exc)) from None
                        for sse in sse_events:
                            for event in state.on_sse(sse):
                                yield event
                            if state.done:
                                break
                        if state.done:
                            break
            for final in state.finish():
                yield final
        except LLMError as exc:
            exc.partial_text = exc.partial_text or state.filter.text
            log.debug("LLM request failed: %s (%s)", exc.code, exc.detail)
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = self._translate(exc, responded=state.responded, partial_text=state.filter.text)
            log.debug("LLM request failed: %s (%s)", error.code, error.detail)
            # The cause is dropped: aiohttp exceptions can carry the request headers (the API key).
            raise error from None
        log.debug("LLM answer complete in %.2f s: finish=%s", time.monotonic() - started, state.finish_reason)

    def _chat_body(
        self, messages: Sequence[ChatMessage], model: str | None, options: Mapping[str, object] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {key: value for key, value in (options or {}).items() if key not in _RESERVED_BODY_KEYS}
        body["model"] = model or self.model
        body["messages"] = [message.to_json() for message in messages]
        body["stream"] = True
        if self.request_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    # --------------------------------------------------------------------------------- models

    async def list_models(self) -> list[str]:
        """Model ids from ``GET {base_url}/models``, cached for ``models_ttl`` seconds.

        Never raises: on failure, the last known list (possibly empty) is returned.
        """
        if self._models_fresh():
            return list(self._models or [])
        async with self._models_lock:
            if not self._models_fresh():
                try:
                    await self._refresh_models(self.probe_timeout)
                except LLMError as exc:
                    log.warning("Could not list LLM models: %s (%s)", exc.code, exc.detail)
            return list(self._models or [])

    async def probe(self) -> ProbeResult:
        """A bounded health check (``probe_timeout``) of the endpoint; never raises."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.probe_timeout + 1):  # belt and braces over aiohttp's timeout
                models = await self._refresh_models(self.probe_timeout)
        except LLMError as exc:
            return ProbeResult(status=_probe_status(exc), detail=exc.detail)
        except TimeoutError:
            return ProbeResult(status="timeout", detail=f"no answer within {self.probe_timeout:g} s")
        return ProbeResult(status="ok", latency=time.monotonic() - started, models=len(models))

    def _models_fresh(self) -> bool:
        ttl = _MODELS_FAILURE_BACKOFF if self._models_failed else self.models_ttl
        return time.monotonic() - self._models_checked < ttl

    async def _refresh_models(self, timeout: float) -> list[str]:
        try:
            models = await self._fetch_models(timeout)
        except LLMError:
            self._models_failed = True
            self._models_checked = time.monotonic()
            raise
        self._models, self._models_failed = models, False
        self._models_checked = time.monotonic()
        return models

    async def _fetch_models(self, timeout: float) -> list[str]:
        session = self._require_session()
        connect_timeout = min(timeout, self.connect_timeout)
        try:
            async with session.get(
                f"{self.base_url}/models",
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
            ) as response:
                if response.status >= 400:
                    raise LLMHTTPError(response.status, await self._server_message(response))
                payload = await self._read_json(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._translate(
                exc, responded=False, timeouts={"connect": connect_timeout, "read": timeout, "total": timeout}
            ) from None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise LLMBadResponse("the model list has no 'data' list")
        return list(dict.fromkeys(_model_ids(data)))

    # -------------------------------------------------------------------------------- helpers

    def _translate(
        self,
        exc: aiohttp.ClientError | TimeoutError,
        *,
        responded: bool,
        partial_text: str = "",
        timeouts: Mapping[TimeoutKind, float] | None = None,
    ) -> LLMError:
        """Map an aiohttp failure to an :class:`LLMError` whose text names no header."""
        limits = timeouts or {
            "connect": self.connect_timeout,
            "read": self.read_timeout,
            "total": self.total_timeout,
        }
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return LLMTimeout("connect", limits["connect"])
        if isinstance(exc, aiohttp.SocketTimeoutError):
            return LLMTimeout("read", limits["read"], partial_text=partial_text)
        if isinstance(exc, TimeoutError):
            return LLMTimeout("total", limits["total"], partial_text=partial_text)
        if isinstance(exc, aiohttp.ClientConnectorError):
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            return LLMUnreachable(f"cannot connect to {self.base_url}: {reason}")
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError) and responded:
            return LLMStreamCut(f"connection lost mid-answer ({type(exc).__name__})", partial_text=partial_text)
        if isinstance(exc, aiohttp.ClientConnectionError):
            return LLMUnreachable(f"connection to {self.base_url} lost ({type(exc).__name__})")
        return LLMBadResponse(f"request failed ({type(exc).__name__})")

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("LLMClient.start() has not been called")
        return self._session

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream, application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _server_message(self, response: aiohttp.ClientResponse) -> str:
        raw = await _read_capped(response, _MAX_ERROR_BODY)
        text = raw.decode("utf-8", errors="replace")
        try:
            message = _error_message(json.loads(text))
        except ValueError:
            message = None
        return _shorten(_redact(message or text or response.reason or "", self.api_key))

    async def _read_json(self, response: aiohttp.ClientResponse) -> object:
        raw = await _read_capped(response, _MAX_JSON_BODY + 1)
        if len(raw) > _MAX_JSON_BODY:
            raise LLMBadResponse("the response is too large")
        try:
            return json.loads(raw)
        except ValueError:
            raise LLMBadResponse("the response is not valid JSON") from None


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read the body, but no more than ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while size < limit and (chunk := await response.content.read(limit - size)):
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _model_ids(entries: Iterable[object]) -> Iterable[str]:
    for entry in entries:
        if isinstance(entry, dict) and isinstance(model_id := entry.get("id"), str) and model_id:
            yield model_id


def _probe_status(exc: LLMError) -> ProbeStatus:
    if isinstance(exc, LLMUnreachable):
        return "unreachable"
    if isinstance(exc, LLMTimeout):
        return "timeout"
    if isinstance(exc, LLMHTTPError):
        return "http_error"
    return "bad_response"
