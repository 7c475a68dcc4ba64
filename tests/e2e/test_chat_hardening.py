"""/chat against the ways real LLM servers misbehave (issue 9): runaway answers, reasoning the template opens,
llama.cpp's in-stream errors, context overflows, refused API keys, unknown models, and busy-after-answer.

`python -m ora` + the Discord emulator + the local OpenAI-compatible fake, as in test_chat.py.
"""

from __future__ import annotations

import asyncio

import pytest

from ora.testing.discord import DiscordEmulator, InteractionRecord
from ora.testing.llm import FakeLLMServer
from ora.testing.process import BotProcess
from tests.e2e.conftest import StartBot

R1_TEMPLATE = "{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
BUSY = "already have an answer in progress"


@pytest.fixture
async def chat_bot(start_bot: StartBot, llm: FakeLLMServer) -> BotProcess:
    return await start_bot(LLM_BASE_URL=llm.base_url, LLM_READ_TIMEOUT="5", LLM_CONNECT_TIMEOUT="2")


def contents(rec: InteractionRecord) -> list[str]:
    return [str(message.get("content") or "") for message in rec.all_messages()]


def everything_shown(rec: InteractionRecord) -> str:
    """Every text the bot ever sent for this interaction: edits and follow-ups, not only what is left."""
    return "\n".join(str(body.get("content") or "") for body in [*rec.edits, *rec.followups])


async def round_trip(emulator: DiscordEmulator) -> None:
    """A /ping answered: everything the bot sent before it has been seen by the emulator."""
    await (await emulator.send_command("ping")).wait_initial(timeout=5)


# ------------------------------------------------------------------------ item 3: busy after the answer


async def test_next_chat_is_accepted_the_moment_the_answer_is_final(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    for turn in range(5):
        answer = f"Answer number {turn}."
        llm.script(answer=answer, chunk_size=6)
        rec = await emulator.send_command("chat", {"prompt": f"Question {turn}"})
        # The moment the final text is visible (or a refusal), the next /chat goes out.
        await rec.wait_for(lambda r, a=answer: r.final_content() == a or BUSY in r.final_content(), timeout=15)
        assert BUSY not in rec.final_content(), f"turn {turn} was refused right after the previous answer"
        if turn:
            sent = llm.chat_requests[-1].body["messages"]
            assert {"role": "assistant", "content": f"Answer number {turn - 1}."} in sent


# ---------------------------------------------------------------- item 4: retracted reasoning is removed


async def test_reasoning_retracted_late_leaves_no_message_behind(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    # "never" streams at once, as before the fix: the late </think> then retracts what was shown.
    await start_bot(LLM_BASE_URL=llm.base_url, LLM_THINK_PREFIX="never")
    reasoning = "I consider the question with care and weigh each option. " * 78  # about 4,500 characters
    llm.script(
        answer="The real answer.", reasoning=reasoning, dialect="think-template", chunk_size=300, delay_per_chunk=0.2
    )
    rec = await emulator.send_command("chat", {"prompt": "hi"})
    await rec.wait_for(lambda r: len(r.followup_messages) >= 1, timeout=15)  # the reasoning filled two messages
    await rec.wait_for(lambda r: contents(r) == ["The real answer."], timeout=15)
    await round_trip(emulator)
    assert contents(rec) == ["The real answer."]


# ----------------------------------------------------------- item 27: templates that open <think> themselves


@pytest.mark.parametrize("how", ["published template", "LLM_THINK_PREFIX=always", "learned"])
async def test_reasoning_of_a_template_that_opens_think_is_never_shown(
    emulator: DiscordEmulator, start_bot: StartBot, how: str
) -> None:
    async with FakeLLMServer(props=how == "published template", chat_template=R1_TEMPLATE) as llm:
        await start_bot(
            LLM_BASE_URL=llm.base_url, **({"LLM_THINK_PREFIX": "always"} if how == "LLM_THINK_PREFIX=always" else {})
        )
        reasoning = "Okay, the user asks why the sky looks blue. " * 22  # about 970 characters, over 3 s
        llm.script(
            answer="Rayleigh scattering.",
            reasoning=reasoning,
            dialect="think-template",
            chunk_size=20,
            delay_per_chunk=0.06,
        )
        if how == "learned":  # the first answer of a model not seen yet shows it a moment (then retracts it)
            first = await emulator.send_command("chat", {"prompt": "Why is the sky blue?"})
            await first.wait_message(lambda m: m["content"] == "Rayleigh scattering.", timeout=20)
        rec = await emulator.send_command("chat", {"prompt": "Why is the sky blue?"})
        await rec.wait_message(lambda m: m["content"] == "Rayleigh scattering.", timeout=20)
    assert "the user asks" not in everything_shown(rec)


# ---------------------------------------------------------------------------- item 8: runaway answers


async def test_runaway_answer_is_capped_stops_reading_and_says_so(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    bot = await start_bot(LLM_BASE_URL=llm.base_url, LLM_TIMEOUT="30", PRIVACY_DEFAULT="public")
    llm.script(fault="endless", answer="All work and no play makes Jack a dull boy. ", chunk_size=400)
    rec = await emulator.send_command("chat", {"prompt": "Go on for ever"})
    await rec.wait_for(lambda r: "cut here" in r.all_content(), timeout=15)
    async with asyncio.timeout(5):
        await llm.client_gone.wait()  # the bot stopped reading the stream
    assert llm.chat_requests[-1].body["max_tokens"] == 4096
    shown = contents(rec)
    print(f"runaway answer: {len(shown)} messages, {sum(map(len, shown))} characters")
    assert 1 <= len(shown) <= 5  # CHAT_MAX_MESSAGES
    assert sum(map(len, shown)) <= 8000 + 300  # CHAT_MAX_ANSWER_CHARS, plus the note
    assert shown[-1].endswith("messages.*")
    assert all(content.count("```") % 2 == 0 for content in shown)
    sent = len(rec.edits) + len(rec.followups)
    await round_trip(emulator)
    await bot.wait_for_line(r"passed a cap", timeout=5)
    assert len(rec.edits) + len(rec.followups) == sent  # nothing more after the final edit


async def test_nothing_is_posted_after_the_answer_timed_out(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    await start_bot(LLM_BASE_URL=llm.base_url, LLM_TIMEOUT="3", CHAT_MAX_ANSWER_CHARS="50000", CHAT_MAX_MESSAGES="30")
    llm.script(fault="endless", answer="Slow and steady words. ", chunk_size=40, delay_per_chunk=0.01)
    rec = await emulator.send_command("chat", {"prompt": "Go on for ever"})
    await rec.wait_for(lambda r: "longer than the 3 s limit" in r.all_content(), timeout=10)
    sent = len(rec.edits) + len(rec.followups)
    await round_trip(emulator)
    await round_trip(emulator)
    assert len(rec.edits) + len(rec.followups) == sent


# ------------------------------------------------------------------------ item 13: /chat model is checked


async def test_only_models_the_server_lists_are_accepted(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    rec = await emulator.send_command("chat", {"prompt": "x", "model": "evil\x1b[31m`model`"})
    message = await rec.wait_message(lambda m: "no model" in m["content"], timeout=15)
    assert rec.ephemeral
    assert "`openai/gpt-oss-20b`" in message["content"]
    assert "`qwen/qwen3-8b`" in message["content"]
    assert "\x1b" not in message["content"]
    assert not llm.chat_requests
    rec = await emulator.send_command("chat", {"prompt": "x", "model": "qwen/qwen3-8b"})
    await rec.wait_message(lambda m: m["content"] == "Hello! How can I help you today?", timeout=15)
    assert llm.chat_requests[-1].body["model"] == "qwen/qwen3-8b"


async def test_an_allowlist_decides_and_without_any_list_only_the_default_goes(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    allowed = await start_bot(LLM_BASE_URL=llm.base_url, LLM_MODELS="only/this-one")
    rec = await emulator.send_autocomplete("chat", {"prompt": "x", "model": ""}, focused="model")
    await rec.wait_initial()
    assert [choice["value"] for choice in rec.autocomplete_choices or []] == ["openai/gpt-oss-20b", "only/this-one"]
    rec = await emulator.send_command("chat", {"prompt": "x", "model": "only/this-one"})
    await rec.wait_message(lambda m: m["content"] == "Hello! How can I help you today?", timeout=15)
    assert llm.chat_requests[-1].body["model"] == "only/this-one"
    rec = await emulator.send_command("chat", {"prompt": "x", "model": "qwen/qwen3-8b"})  # listed, not allowed
    message = await rec.wait_message(lambda m: "no model" in m["content"], timeout=15)
    assert "only/this-one" in message["content"]
    assert await allowed.stop() == 0

    llm.models_fault = "http500"
    await start_bot(LLM_BASE_URL=llm.base_url)
    rec = await emulator.send_command("chat", {"prompt": "x", "model": "qwen/qwen3-8b"})
    message = await rec.wait_message(lambda m: "only the default model" in m["content"], timeout=15)
    assert "`openai/gpt-oss-20b`" in message["content"]
    assert llm.chat_requests[-1].body["model"] == "only/this-one"  # nothing more was sent


# ------------------------------------------------------------- item 26: llama.cpp's in-stream dialects


async def test_an_error_field_in_the_stream_reaches_the_user(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    llm.script(fault="error_field", error_message="the slot crashed while decoding", error_type="server_error")
    rec = await emulator.send_command("chat", {"prompt": "hello"})
    await rec.wait_message(lambda m: "the slot crashed while decoding" in m["content"], timeout=15)
    assert "empty answer" not in rec.all_content()


async def test_done_without_finish_reason_is_shown_as_cut_and_not_remembered(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    llm.script(answer="Half an answer", fault="no_finish_reason")
    rec = await emulator.send_command("chat", {"prompt": "hello"})
    message = await rec.wait_message(lambda m: "without saying it was complete" in m["content"], timeout=15)
    assert message["content"].startswith("Half an answer")
    llm.script(answer="ok")
    rec = await emulator.send_command("chat", {"prompt": "again"})
    await rec.wait_message(lambda m: m["content"] == "ok", timeout=15)
    assert [m["role"] for m in llm.chat_requests[-1].body["messages"]] == ["system", "user"]


# ------------------------------------------------------------------------ item 28: a refused API key


async def test_health_reports_a_refused_api_key(emulator: DiscordEmulator, start_bot: StartBot) -> None:
    async with FakeLLMServer(api_key="the-right-key") as llm:
        await start_bot(LLM_BASE_URL=llm.base_url, LLM_API_KEY="a-wrong-key")
        health = await emulator.send_command("health")
        before = await health.wait_message(lambda m: "LLM endpoint" in m["content"], timeout=15)
        assert "LLM endpoint: OK" in before["content"]  # llama-server lists its models without a key
        rec = await emulator.send_command("chat", {"prompt": "hello"})
        await rec.wait_message(lambda m: "refused the bot's API key (HTTP 401)" in m["content"], timeout=15)
        health = await emulator.send_command("health")
        after = await health.wait_message(lambda m: "LLM endpoint" in m["content"], timeout=15)
    assert "LLM endpoint: API key refused (HTTP 401 on POST /chat/completions)" in after["content"]
    assert "a-wrong-key" not in after["content"]


async def test_health_finds_a_refused_key_before_any_chat_through_props(
    emulator: DiscordEmulator, start_bot: StartBot
) -> None:
    async with FakeLLMServer(api_key="the-right-key", props=True) as llm:
        await start_bot(LLM_BASE_URL=llm.base_url, LLM_API_KEY="a-wrong-key")
        health = await emulator.send_command("health")
        message = await health.wait_message(lambda m: "LLM endpoint" in m["content"], timeout=15)
    assert "LLM endpoint: API key refused (HTTP 401 on GET /props)" in message["content"]


# ---------------------------------------------------------------------- item 29: the context budget


async def test_context_overflow_is_retried_without_history_and_says_so(
    emulator: DiscordEmulator, start_bot: StartBot
) -> None:
    # Old llama.cpp: the overflow is an `error:` field at HTTP 200, and it names no context size.
    async with FakeLLMServer(context_size=800, context_error="sse_field") as llm:
        await start_bot(LLM_BASE_URL=llm.base_url)
        llm.script(answer="word " * 400)  # about 500 of the fake's tokens per remembered exchange
        for turn in range(4):
            asked = len(llm.chat_requests)
            rec = await emulator.send_command("chat", {"prompt": f"Question {turn}"})
            final = ("word " * 400).strip() if turn < 2 else "a fresh conversation.*"
            await rec.wait_for(lambda r, end=final: r.all_content().endswith(end), timeout=15)
            if turn < 2:
                assert "fit" not in rec.all_content()
                continue
            # From the third turn, two exchanges overflow: answered without them, and told how to start afresh.
            assert "no longer fit in the model's context" in rec.all_content()
            assert "`/chat reset:true`" in rec.all_content()
            retried = llm.chat_requests[asked:]
            assert len(retried) == 2
            assert [m["role"] for m in retried[1].body["messages"]] == ["system", "user"]


@pytest.mark.parametrize("published_by", ["props", "lmstudio_api"])
async def test_a_published_context_trims_history_before_it_overflows(
    emulator: DiscordEmulator, start_bot: StartBot, published_by: str
) -> None:
    async with FakeLLMServer(context_size=1200, **{published_by: True}) as llm:
        await start_bot(LLM_BASE_URL=llm.base_url)
        llm.script(answer="word " * 200)  # about 260 of the fake's tokens per exchange: six overflow 1,200
        for turn in range(6):
            rec = await emulator.send_command("chat", {"prompt": f"Question {turn}"})
            await rec.wait_message(lambda m: m["content"] == ("word " * 200).strip(), timeout=15)
        assert len(llm.chat_requests) == 6  # never refused, never retried
        last = llm.chat_requests[-1].body["messages"]
        assert 4 <= len(last) < 2 + 2 * 5  # some history went, trimmed to fit
