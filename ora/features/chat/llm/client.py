"""Client for OpenAI-compatible chat servers: LM Studio, Ollama, llama.cpp server, vLLM.

:meth:`LLMClient.stream_chat` streams ``POST {base_url}/chat/completions`` (``stream: true``) and yields
the answer as it grows, already stripped of reasoning (see :mod:`ora.features.chat.llm.reasoning`), then one
:class:`StreamDone`. Every failure is an :class:`LLMError` subclass with a stable ``code`` that the
Discord layer maps to a translated message. The API key never appears in an exception, repr or log.

Consume the stream with :func:`contextlib.aclosing` so that leaving early releases the connection::

    async with contextlib.aclosing(client.stream_chat(messages)) as events:
        async for event in events:
            ...

Templates that open ``<think>`` in the prompt (DeepSeek-R1 style) make the content start inside reasoning,
with only a closing ``</think>`` to show where it ends. ``think_prefix`` says how to treat that: ``always``
(hold the content back until ``</think>``), ``never`` (show it at once; text shown before an orphan
``</think>`` is retracted), or ``auto``: ``always`` for a model seen doing it (or when llama.cpp's
``/props`` template opens ``<think>``), ``never`` for a model seen answering without it (or whose template
does not), and for a model not seen yet the content is held back for ``think_hold`` seconds at most.
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

from ora.core.http import SessionHandle
from ora.features.chat.llm.facts import (
    ErrorDetails,
    context_from_lmstudio_models,
    context_from_openai_models,
    context_from_props,
    error_details,
    is_context_error,
    template_opens_think,
)
from ora.features.chat.llm.reasoning import FilterUpdate, ReasoningFilter
from ora.features.chat.llm.sse import SSEEvent, SSEParser

__all__ = [
    "AnswerDelta",
    "AuthFailure",
    "ChatMessage",
    "LLMBadResponse",
    "LLMClient",
    "LLMEmptyAnswer",
    "LLMError",
    "LLMHTTPError",
    "LLMIncomplete",
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
    "ThinkPrefix",
    "TimeoutKind",
    "Usage",
]

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
TimeoutKind = Literal["connect", "read", "total"]
ProbeStatus = Literal["ok", "unreachable", "timeout", "http_error", "bad_response", "unauthorized"]
ThinkPrefix = Literal["auto", "always", "never"]
_ThinkPolicy = Literal["yes", "maybe", "no"]
AuthSource = Literal["chat", "models", "props"]

_MAX_ERROR_BODY: Final = 64 * 1024
_MAX_JSON_BODY: Final = 8 * 1024 * 1024
_MAX_SERVER_MESSAGE: Final = 300
_MODELS_FAILURE_BACKOFF: Final = 5.0
_RESERVED_BODY_KEYS: Final = frozenset({"model", "messages", "stream", "stream_options"})
_AUTH_STATUSES: Final = frozenset({401, 403})
_MAX_LEARNED_MODELS: Final = 256
#: How long the content of a model not seen yet is held back, in case it starts inside reasoning.
DEFAULT_THINK_HOLD: Final = 1.5


# --------------------------------------------------------------------------------------------- errors


class LLMError(Exception):
    """Base of every failure of the LLM endpoint. ``partial_text`` is the answer shown before it."""

    code: ClassVar[str] = "llm_error"

    def __init__(self, detail: str, *, partial_text: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.partial_text = partial_text

    @property
    def context_exceeded(self) -> bool:
        """Whether the server said the request does not fit in the model's context."""
        return False


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
    """The server reported an error inside an otherwise successful stream.

    ``error_type`` is the server's ``type`` (e.g. llama.cpp's ``exceed_context_size_error``) and
    ``context_size`` the context it names, when it does.
    """

    code = "server_error"

    def __init__(
        self,
        server_message: str,
        *,
        detail: str | None = None,
        partial_text: str = "",
        error_type: str | None = None,
        context_size: int | None = None,
    ) -> None:
        super().__init__(detail or f"server error: {server_message}", partial_text=partial_text)
        self.server_message = server_message
        self.error_type = error_type
        self.context_size = context_size

    @property
    def context_exceeded(self) -> bool:
        return is_context_error(self.server_message, self.error_type)


class LLMHTTPError(LLMServerError):
    """An HTTP error status; ``server_message`` is the server's own ``error.message`` when it sent one."""

    code = "http_error"

    def __init__(
        self, status: int, server_message: str, *, error_type: str | None = None, context_size: int | None = None
    ) -> None:
        super().__init__(
            server_message,
            detail=f"HTTP {status}: {server_message}",
            error_type=error_type,
            context_size=context_size,
        )
        self.status = status

    @property
    def unauthorized(self) -> bool:
        """401 or 403: the server refused the API key."""
        return self.status in _AUTH_STATUSES


class LLMBadResponse(LLMError):
    """Malformed or unexpected JSON, or something that is not a chat completion at all."""

    code = "bad_response"


class LLMStreamCut(LLMError):
    """The stream ended before the answer did; ``partial_text`` keeps what arrived."""

    code = "stream_cut"


class LLMIncomplete(LLMStreamCut):
    """The stream ended (``[DONE]``) without a ``finish_reason``: the answer cannot be taken as complete."""

    code = "incomplete"


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
class AuthFailure:
    """The last time the server refused the API key: HTTP ``status``, on which request, when (epoch)."""

    status: int
    source: AuthSource
    at: float


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


def _parse_usage(value: object) -> Usage | None:
    if not isinstance(value, dict):
        return None

    def count(key: str) -> int | None:
        number = value.get(key)
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    return Usage(count("prompt_tokens"), count("completion_tokens"), count("total_tokens"))


def _merge(first: FilterUpdate, second: FilterUpdate) -> FilterUpdate:
    """Two successive updates as one (``second`` never replaces: it is a release)."""
    return FilterUpdate(appended=first.appended + second.appended, replaced=first.replaced or second.replaced)


class _StreamState:
    """Turns parsed chunks into events; raises :class:`LLMError` on anything that is not a completion.

    ``policy`` is whether the content may start inside reasoning: ``yes`` holds it back until it is decided,
    ``maybe`` for at most ``hold`` seconds from the first held text, ``no`` not at all.
    """

    def __init__(self, secret: str, *, policy: _ThinkPolicy = "no", hold: float = DEFAULT_THINK_HOLD) -> None:
        self.secret = secret  # redacted from server messages
        self.policy: _ThinkPolicy = policy
        self.hold = hold
        self.filter = ReasoningFilter(undecided=policy != "no")
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.responded = False  # response headers arrived
        self.done = False
        self._hold_until: float | None = None

    @property
    def partial_text(self) -> str:
        """The answer so far, for an error: held-back text counts only when it was held just in case."""
        if self.filter.undecided:
            return self.filter.held_text if self.policy == "maybe" else ""
        return self.filter.text

    def server_error(self, details: ErrorDetails, fallback: str) -> LLMServerError:
        return LLMServerError(
            _shorten(_redact(details.message or fallback, self.secret)),
            error_type=details.type,
            context_size=details.context_size,
        )

    def on_sse(self, event: SSEEvent) -> list[AnswerDelta]:
        if event.event == "error":
            try:
                payload: object = json.loads(event.data)
            except ValueError:
                payload = None
            raise self.server_error(error_details(payload), event.data.strip() or "error event") from None
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            payload = json.loads(data)
        except ValueError:
            raise LLMBadResponse("malformed JSON in the stream") from None
        return self.on_payload(payload, key="delta")

    def on_payload(self, payload: object, *, key: Literal["delta", "message"]) -> list[AnswerDelta]:
        if not isinstance(payload, dict):
            raise LLMBadResponse(f"expected a JSON object, got {type(payload).__name__}")
        if "error" in payload and (details := error_details(payload)).message is not None:
            raise self.server_error(details, "")
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
        return self._events(_merge(update, self._release_if_held_long_enough()))

    def _release_if_held_long_enough(self) -> FilterUpdate:
        if self.policy != "maybe" or not self.filter.undecided or not self.filter.held_text:
            return FilterUpdate()
        now = time.monotonic()
        if self._hold_until is None:
            self._hold_until = now + self.hold
        return self.filter.release() if now >= self._hold_until else FilterUpdate()

    def hold_remaining(self) -> float | None:
        """Seconds until held-back text is shown anyway, or ``None`` when no such wait is running."""
        if self._hold_until is None or not self.filter.undecided:
            return None
        return self._hold_until - time.monotonic()

    def release_held(self) -> list[AnswerDelta]:
        """The hold ran out while the stream was silent: show the held text."""
        return self._events(self.filter.release())

    def _events(self, update: FilterUpdate) -> list[AnswerDelta]:
        if update.appended or update.replaced:
            return [AnswerDelta(delta=update.appended, text=self.filter.text, replaced=update.replaced)]
        return []

    def finish(self) -> list[StreamEvent]:
        # Text still held back at a token limit was reasoning the limit cut short (unless held just in case).
        held_is_answer = self.policy == "maybe" or self.finish_reason != "length"
        events: list[StreamEvent] = list(self._events(self.filter.finish(held_is_answer=held_is_answer)))
        if self.finish_reason is None:
            if not self.done:
                raise LLMStreamCut("the stream ended before the answer was complete")
            raise LLMIncomplete("the stream ended without a finish reason")
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


def _server_root(base_url: str) -> str:
    """``http://host:8080/v1`` → ``http://host:8080``: where llama.cpp's /props and LM Studio's /api/v0 live."""
    return base_url.removesuffix("/v1")


@attrs.define
class LLMClient:
    """One OpenAI-compatible endpoint, on the bot's shared HTTP session (``session``), or on one of its own
    opened by ``start`` and closed by ``close`` when none is given.

    Timeouts, in seconds: ``connect_timeout`` to open the TCP connection, ``read_timeout`` for silence
    between chunks (also the wait for the first byte, which includes prompt processing), and
    ``total_timeout`` for a whole answer. ``request_usage`` asks for the final usage chunk
    (``stream_options.include_usage``, accepted by LM Studio, Ollama, llama.cpp and vLLM).

    ``auth_failure`` is the last refusal of the API key (401/403), from a chat request, the model list or
    llama.cpp's ``/props`` (which, unlike its ``/v1/models``, needs the key); a successful chat request
    clears it. :meth:`context_size` is the model's context in tokens, when the server publishes it or an
    error named it.
    """

    base_url: str = attrs.field(converter=_base_url)
    api_key: str = attrs.field(default="", repr=False)
    model: str = "openai/gpt-oss-20b"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    total_timeout: float = 300.0
    models_ttl: float = 30.0
    facts_ttl: float = 60.0
    probe_timeout: float = 3.0
    request_usage: bool = True
    think_prefix: ThinkPrefix = "auto"
    think_hold: float = DEFAULT_THINK_HOLD
    auth_failure: AuthFailure | None = attrs.field(default=None, init=False)
    session: aiohttp.ClientSession | None = attrs.field(default=None, repr=False, kw_only=True)
    _http: SessionHandle = attrs.field(init=False, repr=False)
    _models: list[str] | None = attrs.field(default=None, init=False, repr=False)
    _models_checked: float = attrs.field(default=float("-inf"), init=False, repr=False)
    _models_failed: bool = attrs.field(default=False, init=False, repr=False)
    _models_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False, repr=False)
    _facts_checked: float = attrs.field(default=float("-inf"), init=False, repr=False)
    _facts_lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False, repr=False)
    _props_context: int | None = attrs.field(default=None, init=False, repr=False)
    _template_opens_think: bool | None = attrs.field(default=None, init=False, repr=False)
    _published_contexts: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)
    _learned_contexts: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)
    _opens_think: dict[str, bool] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._http = SessionHandle(self.session, owner="LLMClient")

    async def start(self) -> None:
        """Open a session of its own unless the shared one was given (idempotent)."""
        await self._http.start()

    async def close(self) -> None:
        """Close its own session, if any (idempotent)."""
        await self._http.close()

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
        think_prefix: ThinkPrefix | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream an answer: :class:`AnswerDelta` events, then one :class:`StreamDone`.

        ``options`` adds request fields such as ``max_tokens`` or ``temperature``; ``think_prefix``
        overrides the client's (see the module's documentation). Raises an :class:`LLMError` subclass on
        failure, with ``partial_text`` set to the answer so far.
        """
        session = self._require_session()
        body = self._chat_body(messages, model, options)
        state = _StreamState(self.api_key, policy=self.think_policy(body["model"], think_prefix), hold=self.think_hold)
        started = time.monotonic()
        log.debug("LLM request: model=%s, %d messages, think=%s", body["model"], len(messages), state.policy)
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
                    self._note_status(response.status, "chat")
                    raise await self._http_error(response)
                self.auth_failure = None
                if response.content_type == "application/json":
                    payload = await self._read_json(response)
                    for event in state.on_payload(payload, key="message"):
                        yield event
                    state.done = True
                elif response.content_type != "text/event-stream":
                    raise LLMBadResponse(f"unexpected content type {response.content_type!r}")
                else:
                    parser = SSEParser()
                    while chunk := await _read_chunk(response, state):
                        if chunk is _HOLD_EXPIRED:
                            for event in state.release_held():
                                yield event
                            continue
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
            exc.partial_text = exc.partial_text or state.partial_text
            if isinstance(exc, LLMServerError) and exc.context_exceeded and exc.context_size:
                self._remember(self._learned_contexts, body["model"], exc.context_size)
            log.debug("LLM request failed: %s (%s)", exc.code, exc.detail)
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = self._translate(exc, responded=state.responded, partial_text=state.partial_text)
            log.debug("LLM request failed: %s (%s)", error.code, error.detail)
            # The cause is dropped: aiohttp exceptions can carry the request headers (the API key).
            raise error from None
        finally:
            self._learn_think_prefix(body["model"], state)
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

    # ---------------------------------------------------------------------- reasoning prefix

    def think_policy(self, model: str, think_prefix: ThinkPrefix | None = None) -> _ThinkPolicy:
        """Whether ``model``'s content may start inside reasoning: ``yes``, ``maybe`` or ``no``."""
        prefix = think_prefix or self.think_prefix
        if prefix == "always":
            return "yes"
        if prefix == "never":
            return "no"
        known = self._opens_think.get(model, self._template_opens_think)
        if known is None:
            return "maybe"
        return "yes" if known else "no"

    def _learn_think_prefix(self, model: str, state: _StreamState) -> None:
        if state.filter.orphan_close_seen:
            if not self._opens_think.get(model):
                log.info("model %s starts its answers inside reasoning (its template opens <think>)", model)
            self._remember(self._opens_think, model, True)
        elif state.policy == "maybe" and state.finish_reason == "stop" and state.filter.has_answer:
            self._remember(self._opens_think, model, False)

    @staticmethod
    def _remember(table: dict[str, Any], key: str, value: object) -> None:
        table.pop(key, None)
        table[key] = value
        while len(table) > _MAX_LEARNED_MODELS:
            del table[next(iter(table))]

    # ------------------------------------------------------------------------- server facts

    async def context_size(self, model: str | None = None) -> int | None:
        """The context of ``model`` in tokens, when known: named by a context-size error, else published
        by the server (refreshed every ``facts_ttl`` seconds; never raises)."""
        await self._refresh_facts()
        model = model or self.model
        return self._learned_contexts.get(model) or self._published_contexts.get(model) or self._props_context

    async def _refresh_facts(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._facts_checked < self.facts_ttl:
            return
        async with self._facts_lock:
            if not force and time.monotonic() - self._facts_checked < self.facts_ttl:
                return
            root = _server_root(self.base_url)
            props, lmstudio = await asyncio.gather(
                self._get_optional_json(f"{root}/props", "props"),
                self._get_optional_json(f"{root}/api/v0/models", "models"),
            )
            self._facts_checked = time.monotonic()
        if props is not None:
            self._props_context = context_from_props(props)
            self._template_opens_think = template_opens_think(props)
        if lmstudio is not None:
            self._published_contexts.update(context_from_lmstudio_models(lmstudio))

    async def _get_optional_json(self, url: str, source: AuthSource) -> object | None:
        """GET an endpoint only some servers have; ``None`` when it is missing or fails."""
        session = self._require_session()
        try:
            async with session.get(
                url,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=self.probe_timeout, sock_connect=self.probe_timeout),
            ) as response:
                self._note_status(response.status, source)
                if response.status >= 400 or response.content_type != "application/json":
                    return None
                return await self._read_json(response)
        except (LLMError, aiohttp.ClientError, TimeoutError) as exc:
            log.debug("no server facts from %s: %s", url.rsplit("/", 1)[-1], type(exc).__name__)
            return None

    def _note_status(self, status: int, source: AuthSource) -> None:
        if status in _AUTH_STATUSES:
            if self.auth_failure is None:
                log.warning("the LLM server refused the API key (HTTP %d on %s)", status, source)
            self.auth_failure = AuthFailure(status=status, source=source, at=time.time())

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

    @property
    def models_known(self) -> bool:
        """Whether the model list was ever fetched (it may be stale)."""
        return self._models is not None

    async def probe(self) -> ProbeResult:
        """A bounded health check (``probe_timeout``) of the endpoint; never raises.

        Also fetches the server's facts (llama.cpp's ``/props`` needs the API key, so a wrong key shows),
        and reports ``unauthorized`` while the last request that needed the key was refused.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.probe_timeout + 1):  # belt and braces over aiohttp's timeout
                models, _ = await asyncio.gather(
                    self._refresh_models(self.probe_timeout), self._refresh_facts(force=True)
                )
        except LLMError as exc:
            return ProbeResult(status=_probe_status(exc), detail=exc.detail)
        except TimeoutError:
            return ProbeResult(status="timeout", detail=f"no answer within {self.probe_timeout:g} s")
        latency = time.monotonic() - started
        if (failure := self.auth_failure) is not None:
            detail = f"API key refused: HTTP {failure.status} on {failure.source}"
            return ProbeResult(status="unauthorized", latency=latency, models=len(models), detail=detail)
        return ProbeResult(status="ok", latency=latency, models=len(models))

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
                    self._note_status(response.status, "models")
                    raise await self._http_error(response)
                payload = await self._read_json(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._translate(
                exc, responded=False, timeouts={"connect": connect_timeout, "read": timeout, "total": timeout}
            ) from None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise LLMBadResponse("the model list has no 'data' list")
        self._published_contexts.update(context_from_openai_models(data))
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
        return self._http.session

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream, application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _http_error(self, response: aiohttp.ClientResponse) -> LLMHTTPError:
        raw = await _read_capped(response, _MAX_ERROR_BODY)
        text = raw.decode("utf-8", errors="replace")
        try:
            details = error_details(json.loads(text))
        except ValueError:
            details = ErrorDetails(None)
        message = _shorten(_redact(details.message or text or response.reason or "", self.api_key))
        return LLMHTTPError(response.status, message, error_type=details.type, context_size=details.context_size)

    async def _read_json(self, response: aiohttp.ClientResponse) -> object:
        raw = await _read_capped(response, _MAX_JSON_BODY + 1)
        if len(raw) > _MAX_JSON_BODY:
            raise LLMBadResponse("the response is too large")
        try:
            return json.loads(raw)
        except ValueError:
            raise LLMBadResponse("the response is not valid JSON") from None


_HOLD_EXPIRED: Final = b"\0hold expired"  # a sentinel: compared by identity, never parsed


async def _read_chunk(response: aiohttp.ClientResponse, state: _StreamState) -> bytes:
    """The next bytes of the stream (``b""`` at its end), or :data:`_HOLD_EXPIRED` when held-back text is
    due to be shown before more arrives."""
    wait = state.hold_remaining()
    if wait is None:
        return await response.content.readany()
    if wait <= 0:
        return _HOLD_EXPIRED
    timer = asyncio.timeout(wait)
    try:
        async with timer:
            return await response.content.readany()
    except TimeoutError:
        if timer.expired():
            return _HOLD_EXPIRED
        raise  # aiohttp's own read timeout


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
        return "unauthorized" if exc.unauthorized else "http_error"
    return "bad_response"
