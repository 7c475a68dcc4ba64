"""LLMClient against the local FakeLLMServer: dialects, SSE quirks, faults, timeouts, models."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ora.features.chat.llm.client import (
    AnswerDelta,
    ChatMessage,
    LLMBadResponse,
    LLMClient,
    LLMEmptyAnswer,
    LLMError,
    LLMHTTPError,
    LLMIncomplete,
    LLMLengthExhausted,
    LLMReasoningOnly,
    LLMServerError,
    LLMStreamCut,
    LLMTimeout,
    LLMUnreachable,
    SSEEvent,
    SSEParser,
    StreamDone,
    StreamEvent,
)
from ora.testing.llm import FakeLLMServer

API_KEY = "sk-test-0123456789abcdef"
ANSWER = "Hello! こんにちは。 Here is `code` and <b>html</b> too."
REASONING = "The user greets me; <think>-like text and <|channel|> must not leak."
PROMPT = [ChatMessage("system", "Be brief."), ChatMessage("user", "hi")]
BOUND = 5.0  # seconds: every wait in this module is bounded by this


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeLLMServer) -> AsyncIterator[LLMClient]:
    async with LLMClient(
        server.base_url, api_key=API_KEY, connect_timeout=1.0, read_timeout=0.5, total_timeout=BOUND
    ) as llm:
        yield llm


async def collect(client: LLMClient, **kwargs: Any) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    async with asyncio.timeout(BOUND):
        async with contextlib.aclosing(client.stream_chat(PROMPT, **kwargs)) as stream:
            async for event in stream:
                events.append(event)
    return events


async def failure(client: LLMClient, **kwargs: Any) -> LLMError:
    with pytest.raises(LLMError) as info:
        await collect(client, **kwargs)
    return info.value


def assert_no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), repr(exc.args), getattr(exc, "partial_text", "")):
        assert API_KEY not in text
    assert exc.__cause__ is None or API_KEY not in repr(exc.__cause__)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A listening port whose accept queue is full, so a new connection hangs in SYN-SENT."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# ---------------------------------------------------------------------------------------- answers


@pytest.mark.parametrize("dialect", ["lmstudio", "ollama", "llamacpp", "vllm", "think-tags", "harmony", "plain"])
async def test_each_dialect_yields_only_the_answer(server: FakeLLMServer, client: LLMClient, dialect: str) -> None:
    server.script(answer=ANSWER, reasoning=REASONING, dialect=dialect, chunk_size=3)
    events = await collect(client)
    deltas = [e for e in events if isinstance(e, AnswerDelta)]
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert "".join(d.delta for d in deltas) == ANSWER
    assert done.text == deltas[-1].text == ANSWER
    assert done.reasoning_seen == (dialect != "plain")
    assert done.finish_reason == "stop"
    assert done.usage is not None and done.usage.total_tokens
    assert not done.truncated_by_length


async def test_request_body_and_authorization(server: FakeLLMServer, client: LLMClient) -> None:
    await collect(client, model="qwen/qwen3-8b", options={"max_tokens": 64, "stream": False})
    request = server.last_request
    assert request.path == "/v1/chat/completions"
    assert request.authorization == f"Bearer {API_KEY}"
    assert request.body == {
        "model": "qwen/qwen3-8b",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
    }


async def test_default_model_and_no_usage_request(server: FakeLLMServer) -> None:
    async with LLMClient(server.base_url, model="my-model", request_usage=False) as llm:
        events = await collect(llm)
    assert server.last_request.body["model"] == "my-model"
    assert "stream_options" not in server.last_request.body
    assert server.last_request.authorization is None
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.usage is None


@pytest.mark.parametrize(
    "quirks",
    [
        {"crlf": True},
        {"keepalive": True},
        {"multiline_data": True},
        {"write_size": 1},
        {"write_size": 7, "crlf": True, "keepalive": True, "multiline_data": True},
    ],
)
async def test_sse_quirks(server: FakeLLMServer, client: LLMClient, quirks: dict[str, Any]) -> None:
    server.script(answer=ANSWER, reasoning=REASONING, dialect="think-tags", chunk_size=5, **quirks)
    done = (await collect(client))[-1]
    assert isinstance(done, StreamDone)
    assert done.text == ANSWER


async def test_json_answer_to_a_stream_request(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(answer=ANSWER, reasoning=REASONING, dialect="llamacpp", force_json=True)
    events = await collect(client)
    assert [type(e) for e in events] == [AnswerDelta, StreamDone]
    assert events[-1].text == ANSWER


async def test_usage_only_chunks_and_missing_done_are_fine(server: FakeLLMServer, client: LLMClient) -> None:
    for fault in ("usage_only_chunk", "no_done"):
        server.script(answer=ANSWER, fault=fault)
        done = (await collect(client))[-1]
        assert isinstance(done, StreamDone)
        assert done.text == ANSWER


async def test_truncated_answer_is_flagged(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(answer="Partial ans", finish_reason="length")
    done = (await collect(client))[-1]
    assert isinstance(done, StreamDone)
    assert done.truncated_by_length


async def test_leaving_early_releases_the_connection(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(answer=ANSWER * 20, chunk_size=2)
    async with asyncio.timeout(BOUND):
        async with contextlib.aclosing(client.stream_chat(PROMPT)) as stream:
            async for _event in stream:
                break
    server.script(answer="again")
    done = (await collect(client))[-1]
    assert isinstance(done, StreamDone)
    assert done.text == "again"


async def test_first_token_event(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(answer=ANSWER, reasoning=REASONING, dialect="lmstudio")
    await collect(client)
    assert server.first_token_sent.is_set()
    assert server.first_token_at is not None


# ------------------------------------------------------------------------------------ empty answers


@pytest.mark.parametrize(
    ("script", "error", "reasoning_seen"),
    [
        ({"answer": ""}, LLMEmptyAnswer, False),
        ({"answer": "  \n "}, LLMEmptyAnswer, False),
        ({"answer": "", "reasoning": "hmm", "dialect": "ollama"}, LLMReasoningOnly, True),
        ({"answer": "", "reasoning": "hmm", "dialect": "think-tags"}, LLMReasoningOnly, True),
        ({"answer": "", "reasoning": "hmm", "finish_reason": "length"}, LLMLengthExhausted, True),
        ({"answer": "", "finish_reason": "length"}, LLMLengthExhausted, False),
    ],
)
async def test_empty_answers(
    server: FakeLLMServer,
    client: LLMClient,
    script: dict[str, Any],
    error: type[LLMEmptyAnswer],
    reasoning_seen: bool,
) -> None:
    server.script(**script)
    exc = await failure(client)
    assert type(exc) is error
    assert isinstance(exc, LLMEmptyAnswer)
    assert exc.reasoning_seen is reasoning_seen


# ------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("fault", "error", "code", "keeps_partial"),
    [
        ("http500", LLMHTTPError, "http_error", False),
        ("http_error_string", LLMHTTPError, "http_error", False),
        ("html_response", LLMBadResponse, "bad_response", False),
        ("malformed_chunk", LLMBadResponse, "bad_response", True),
        ("unexpected_json", LLMBadResponse, "bad_response", True),
        ("error_in_stream", LLMServerError, "server_error", True),
        ("drop_mid_stream", LLMStreamCut, "stream_cut", True),
        ("end_mid_stream", LLMStreamCut, "stream_cut", True),
        ("hang", LLMTimeout, "timeout", False),
        ("hang_after_first", LLMTimeout, "timeout", True),
    ],
)
async def test_fault_maps_to_its_own_error(
    server: FakeLLMServer,
    client: LLMClient,
    fault: str,
    error: type[LLMError],
    code: str,
    keeps_partial: bool,
) -> None:
    server.script(answer=ANSWER, fault=fault, chunk_size=4, error_message=f"boom (key {API_KEY})")
    exc = await failure(client)
    assert type(exc) is error
    assert exc.code == code
    assert bool(exc.partial_text) is keeps_partial
    assert ANSWER.startswith(exc.partial_text)
    assert_no_secret(exc)


async def test_http_error_carries_the_server_message(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(fault="http500", error_status=503, error_message="Model is loading")
    exc = await failure(client)
    assert isinstance(exc, LLMHTTPError)
    assert (exc.status, exc.server_message) == (503, "Model is loading")


async def test_ollama_string_error(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(fault="http_error_string", error_status=404, error_message='model "x" not found')
    exc = await failure(client)
    assert isinstance(exc, LLMHTTPError)
    assert (exc.status, exc.server_message) == (404, 'model "x" not found')


async def test_server_echoing_the_key_is_redacted(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(fault="http500", error_status=401, error_message=f"invalid key {API_KEY}")
    exc = await failure(client)
    assert isinstance(exc, LLMHTTPError)
    assert exc.server_message == "invalid key [redacted]"


async def test_stream_cut_keeps_what_arrived(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(answer="0123456789" * 10, fault="drop_mid_stream", chunk_size=10)
    exc = await failure(client)
    assert isinstance(exc, LLMStreamCut)
    assert len(exc.partial_text) >= 10
    assert ("0123456789" * 10).startswith(exc.partial_text)


# ---------------------------------------------------------------------------------------- timeouts


async def test_read_timeout(server: FakeLLMServer) -> None:
    server.script(fault="hang_after_first", answer=ANSWER)
    async with LLMClient(server.base_url, read_timeout=0.2, total_timeout=BOUND) as llm:
        started = time.monotonic()
        exc = await failure(llm)
    assert isinstance(exc, LLMTimeout)
    assert (exc.kind, exc.timeout) == ("read", 0.2)
    assert time.monotonic() - started < 2


async def test_total_timeout(server: FakeLLMServer) -> None:
    server.script(answer=ANSWER, chunk_size=1, delay_per_chunk=0.05)
    async with LLMClient(server.base_url, read_timeout=2.0, total_timeout=0.4) as llm:
        exc = await failure(llm)
    assert isinstance(exc, LLMTimeout)
    assert exc.kind == "total"
    assert exc.partial_text
    assert ANSWER.startswith(exc.partial_text)


async def test_connect_timeout() -> None:
    with full_backlog() as port:
        async with LLMClient(f"http://127.0.0.1:{port}/v1", connect_timeout=0.2, read_timeout=0.5) as llm:
            exc = await failure(llm)
    assert isinstance(exc, LLMTimeout)
    if exc.kind != "connect":
        pytest.skip("this kernel accepted the connection despite the full backlog")
    assert exc.timeout == 0.2


async def test_connection_refused() -> None:
    async with LLMClient(f"http://127.0.0.1:{closed_port()}/v1", api_key=API_KEY) as llm:
        exc = await failure(llm)
    assert isinstance(exc, LLMUnreachable)
    assert exc.code == "unreachable"
    assert_no_secret(exc)


async def test_stop_releases_hanging_handlers() -> None:
    fake = FakeLLMServer()
    await fake.start()
    try:
        fake.script(fault="hang_after_first")
        async with LLMClient(fake.base_url, read_timeout=BOUND, total_timeout=BOUND) as llm:
            task = asyncio.create_task(collect(llm))
            async with asyncio.timeout(BOUND):
                await fake.first_token_sent.wait()
            started = time.monotonic()
            await fake.stop()
            assert time.monotonic() - started < 2
            with pytest.raises(LLMError):
                await task
    finally:
        await fake.stop()


# ------------------------------------------------------------------------------------- secrets


async def test_key_never_in_repr_or_logs(
    server: FakeLLMServer, client: LLMClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert API_KEY not in repr(client)
    caplog.set_level(logging.DEBUG)
    server.script(fault="http500", error_message=f"bad {API_KEY}")
    await failure(client)
    server.script(answer=ANSWER)
    await collect(client)
    await client.list_models()
    assert API_KEY not in caplog.text


async def test_not_started() -> None:
    llm = LLMClient("http://127.0.0.1:1/v1")
    with pytest.raises(RuntimeError, match="start"):
        await anext(llm.stream_chat(PROMPT))


def test_chat_message_role_is_checked() -> None:
    with pytest.raises(ValueError, match="role"):
        ChatMessage("robot", "hi")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- models


async def test_models_are_listed_and_cached(server: FakeLLMServer, client: LLMClient) -> None:
    assert await client.list_models() == ["openai/gpt-oss-20b", "qwen/qwen3-8b"]
    server.models = ["changed"]
    assert await client.list_models() == ["openai/gpt-oss-20b", "qwen/qwen3-8b"]
    assert sum(r.path == "/v1/models" for r in server.requests) == 1
    assert server.last_request.authorization == f"Bearer {API_KEY}"


async def test_models_refresh_after_ttl(server: FakeLLMServer) -> None:
    async with LLMClient(server.base_url, models_ttl=0) as llm:
        assert await llm.list_models() == ["openai/gpt-oss-20b", "qwen/qwen3-8b"]
        server.models = ["changed"]
        assert await llm.list_models() == ["changed"]


@pytest.mark.parametrize("fault", ["http500", "malformed", "hang"])
async def test_models_failure_keeps_the_stale_list(server: FakeLLMServer, fault: str) -> None:
    async with LLMClient(server.base_url, models_ttl=0, probe_timeout=0.3) as llm:
        assert await llm.list_models() == ["openai/gpt-oss-20b", "qwen/qwen3-8b"]
        server.models_fault = fault  # type: ignore[assignment]
        async with asyncio.timeout(BOUND):
            assert await llm.list_models() == ["openai/gpt-oss-20b", "qwen/qwen3-8b"]


async def test_models_failure_without_cache_is_empty() -> None:
    async with LLMClient(f"http://127.0.0.1:{closed_port()}/v1") as llm:
        assert await llm.list_models() == []


async def test_probe(server: FakeLLMServer, client: LLMClient) -> None:
    result = await client.probe()
    assert result.ok
    assert result.models == 2
    assert result.latency is not None


@pytest.mark.parametrize(
    ("fault", "status"), [("http500", "http_error"), ("malformed", "bad_response"), ("hang", "timeout")]
)
async def test_probe_failures(server: FakeLLMServer, fault: str, status: str) -> None:
    server.models_fault = fault  # type: ignore[assignment]
    async with LLMClient(server.base_url, probe_timeout=0.3) as llm:
        started = time.monotonic()
        result = await llm.probe()
    assert result.status == status
    assert not result.ok
    assert time.monotonic() - started < 2


async def test_probe_unreachable() -> None:
    async with LLMClient(f"http://127.0.0.1:{closed_port()}/v1") as llm:
        assert (await llm.probe()).status == "unreachable"


# ---------------------------------------------------------------- dialects of real servers (issue 9)

CONTEXT_ERROR = "the request exceeds the available context size, try increasing it"
THOUGHT = "Okay, the user greets me, so I should greet them back. "
R1_TEMPLATE = "{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"


def answer_deltas(events: list[StreamEvent]) -> list[AnswerDelta]:
    return [event for event in events if isinstance(event, AnswerDelta)]


@pytest.mark.parametrize(
    ("message", "error_type", "context"), [(CONTEXT_ERROR, "exceed_context_size_error", True), ("boom", "x", False)]
)
async def test_error_field_in_a_stream_is_the_servers_error(
    server: FakeLLMServer, client: LLMClient, message: str, error_type: str, context: bool
) -> None:
    server.script(fault="error_field", error_status=400, error_message=f"{message} {API_KEY}", error_type=error_type)
    exc = await failure(client)
    assert type(exc) is LLMServerError
    assert exc.server_message == f"{message} [redacted]"
    assert exc.error_type == error_type
    assert exc.context_exceeded is context


async def test_done_without_finish_reason_is_incomplete(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(answer=ANSWER, fault="no_finish_reason")
    exc = await failure(client)
    assert type(exc) is LLMIncomplete
    assert exc.partial_text == ANSWER


@pytest.mark.parametrize("how", ["forced", "props"])
async def test_template_that_opens_think_never_shows_reasoning(how: str) -> None:
    async with (
        FakeLLMServer(props=how == "props", chat_template=R1_TEMPLATE) as fake,
        LLMClient(fake.base_url, read_timeout=BOUND, total_timeout=BOUND) as llm,
    ):
        await llm.context_size()  # fetches the server's facts, as /chat does before it streams
        fake.script(answer=ANSWER, reasoning=THOUGHT * 8, dialect="think-template", chunk_size=7)
        events = await collect(llm, think_prefix="always" if how == "forced" else None)
    deltas = answer_deltas(events)
    assert deltas
    assert not any(delta.replaced or "greets" in delta.text for delta in deltas)
    assert events[-1] == StreamDone(ANSWER, "stop", events[-1].usage, "openai/gpt-oss-20b", True, len(THOUGHT * 8) + 1)


async def test_a_model_seen_opening_think_is_held_from_then_on(server: FakeLLMServer) -> None:
    async with LLMClient(server.base_url, read_timeout=BOUND, total_timeout=BOUND, think_hold=0.2) as llm:
        assert llm.think_policy("openai/gpt-oss-20b") == "maybe"
        server.script(
            answer=ANSWER, reasoning=THOUGHT * 6, dialect="think-template", chunk_size=6, delay_per_chunk=0.01
        )
        first = answer_deltas(await collect(llm))
        assert "greets" in first[0].text  # held for 0.2 s only, then shown ...
        assert any(delta.replaced for delta in first)  # ... and retracted at the orphan </think>
        assert llm.think_policy("openai/gpt-oss-20b") == "yes"
        second = answer_deltas(await collect(llm))
        assert not any(delta.replaced or "greets" in delta.text for delta in second)
        server.script(answer=ANSWER, dialect="plain")
        await collect(llm, model="qwen/qwen3-8b")
        assert llm.think_policy("qwen/qwen3-8b") == "no"  # answered without it: shown at once from then on


async def test_held_text_is_shown_when_the_stream_goes_quiet(server: FakeLLMServer) -> None:
    server.script(answer=ANSWER, chunk_size=6, fault="hang_after_first")
    llm = LLMClient(server.base_url, read_timeout=BOUND, total_timeout=BOUND, think_hold=0.2)
    async with llm, asyncio.timeout(2), contextlib.aclosing(llm.stream_chat(PROMPT)) as stream:
        first = await anext(stream)
    assert isinstance(first, AnswerDelta)
    assert first.text == ANSWER[:6]


async def test_wrong_key_shows_although_the_model_list_needs_none() -> None:
    async with (
        FakeLLMServer(api_key="the-right-key") as fake,
        LLMClient(fake.base_url, api_key=API_KEY, probe_timeout=1.0) as llm,
    ):
        assert await llm.list_models() == fake.models  # llama-server lists models without a key
        assert (await llm.probe()).ok  # nothing has needed the key yet
        exc = await failure(llm)
        assert isinstance(exc, LLMHTTPError)
        assert (exc.status, exc.unauthorized) == (401, True)
        assert llm.auth_failure is not None
        assert (llm.auth_failure.status, llm.auth_failure.source) == (401, "chat")
        assert (await llm.probe()).status == "unauthorized"
        fake.api_key = API_KEY
        await collect(llm)
        assert llm.auth_failure is None


async def test_probe_finds_a_wrong_key_through_props() -> None:
    async with (
        FakeLLMServer(api_key="the-right-key", props=True) as fake,
        LLMClient(fake.base_url, api_key=API_KEY, probe_timeout=1.0) as llm,
    ):
        result = await llm.probe()
    assert result.status == "unauthorized"
    assert llm.auth_failure is not None
    assert llm.auth_failure.source == "props"
    assert API_KEY not in result.detail


@pytest.mark.parametrize("where", ["props", "lmstudio_api", None])
async def test_context_size_is_read_where_the_server_publishes_it(where: str | None) -> None:
    published = {where: True} if where else {}
    async with FakeLLMServer(context_size=4096, **published) as fake, LLMClient(fake.base_url) as llm:
        assert await llm.context_size("qwen/qwen3-8b") == (4096 if where else None)
    assert [r.path for r in fake.requests] == ["/props", "/api/v0/models"]


@pytest.mark.parametrize("style", ["http", "sse_field"])
async def test_context_size_error_is_recognised(style: str) -> None:
    async with (
        FakeLLMServer(context_size=5, context_error=style) as fake,  # type: ignore[arg-type]
        LLMClient(fake.base_url, facts_ttl=3600) as llm,
    ):
        assert await llm.context_size() is None
        exc = await failure(llm)
        assert isinstance(exc, LLMServerError)
        assert exc.context_exceeded
        assert isinstance(exc, LLMHTTPError) is (style == "http")
        # llama.cpp today names its context in the error: later requests are trimmed to fit it.
        assert await llm.context_size() == (5 if style == "http" else None)


async def test_leaving_an_endless_stream_closes_the_connection(server: FakeLLMServer, client: LLMClient) -> None:
    server.script(fault="endless", chunk_size=50, delay_per_chunk=0.002)
    async with asyncio.timeout(BOUND), contextlib.aclosing(client.stream_chat(PROMPT, think_prefix="never")) as stream:
        async for event in stream:
            assert isinstance(event, AnswerDelta)
            if len(event.text) > 3000:
                break
    async with asyncio.timeout(BOUND):
        await server.client_gone.wait()


# ------------------------------------------------------------------------------------ SSE parser

SSE_STREAM = (
    "\ufeff: keep-alive\r\n\r\n"
    'data: {"a": "日本語"}\n\n'
    "event: error\r"
    "data: line one\r"
    "data:line two\r\r"
    "id: 7\nretry: 100\ndata: [DONE]\r\n\r\n"
    "data: incomplete"
).encode()
SSE_EVENTS = [
    SSEEvent('{"a": "日本語"}'),
    SSEEvent("line one\nline two", event="error"),
    SSEEvent("[DONE]"),
]


def test_sse_parser_whole() -> None:
    assert SSEParser().feed(SSE_STREAM) == SSE_EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(SSE_STREAM)), max_size=20))
def test_sse_parser_any_split(cuts: list[int]) -> None:
    parser = SSEParser()
    bounds = [0, *sorted(cuts), len(SSE_STREAM)]
    events: list[SSEEvent] = []
    for start, end in itertools.pairwise(bounds):
        events.extend(parser.feed(SSE_STREAM[start:end]))
    assert events == SSE_EVENTS


def test_sse_parser_keeps_llama_cpps_error_field() -> None:
    events = SSEParser().feed(b'error: {"code": 400, "message": "too long"}\n\ndata: [DONE]\n\n')
    assert events == [SSEEvent('{"code": 400, "message": "too long"}', event="error"), SSEEvent("[DONE]")]


def test_sse_parser_limits_buffer() -> None:
    with pytest.raises(ValueError, match="too large"):
        SSEParser(max_buffer=100).feed(b"data: " + b"x" * 200)
