"""/chat end to end: `python -m ora` + the Discord emulator + a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio

import pytest

from ora.testing.discord import DiscordEmulator, User
from ora.testing.llm import FakeLLMServer
from ora.testing.process import BotProcess
from tests.e2e.conftest import StartBot

LONG_ANSWER = (
    "Here is the plan.\n\n"
    + "\n".join(f"Line {index}: " + "words " * 12 for index in range(40))
    + "\n\n```python\n"
    + "\n".join(f"print('row {index}')  # " + "x" * 40 for index in range(40))
    + "\n```\n\nThat is all."
)


@pytest.fixture
async def chat_bot(start_bot: StartBot, llm: FakeLLMServer) -> BotProcess:
    return await start_bot(LLM_BASE_URL=llm.base_url, LLM_READ_TIMEOUT="2", LLM_CONNECT_TIMEOUT="2")


async def test_answer_streams_into_edits_of_a_deferred_reply(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    answer = "Streaming " + "is nice. " * 40
    llm.script(answer=answer, chunk_size=12, delay_per_chunk=0.1)  # about 3 s of streaming
    rec = await emulator.send_command("chat", {"prompt": "Tell me about streaming"})
    initial = await rec.wait_initial()
    assert initial["type"] == 5  # deferred at once
    assert rec.ephemeral  # PRIVACY_DEFAULT is private
    await rec.wait_message(lambda message: message["content"] == answer.strip(), timeout=15)
    assert 2 <= len(rec.edits) <= 6  # streamed (more than one edit), paced (about one per second)
    assert rec.followups == []
    assert rec.errors == []
    sent = llm.last_request.body
    assert sent["stream"] is True
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "Tell me about streaming"}
    assert llm.last_request.authorization == "Bearer lm-studio"


async def test_long_answer_continues_in_followups_without_breaking_code(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    llm.script(answer=LONG_ANSWER, chunk_size=400)
    rec = await emulator.send_command("chat", {"prompt": "long please"})
    await rec.wait_for(lambda r: r.all_content().endswith("That is all."), timeout=15)  # the final edit: no cursor
    messages = [str(message["content"]) for message in rec.all_messages()]
    assert len(messages) >= 3
    assert all(len(content) <= 2000 for content in messages)
    for content in messages:
        assert content.count("```") % 2 == 0, content[-200:]
    reopened = [content for content in messages if content.startswith("```python")]
    assert reopened, "a part that starts inside the code block reopens it with its language"
    words = "\n".join(messages).replace("```python", "").replace("```", "").split()
    assert words == LONG_ANSWER.replace("```python", "").replace("```", "").split()
    assert all(followup.get("flags", 0) & 64 for followup in rec.followups)


@pytest.mark.parametrize("dialect", ["lmstudio", "llamacpp", "think-tags", "harmony"])
async def test_reasoning_is_never_shown_as_the_answer(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess, dialect: str
) -> None:
    llm.script(answer="The answer is 42.", reasoning="SECRET CHAIN OF THOUGHT about numbers", dialect=dialect)
    rec = await emulator.send_command("chat", {"prompt": "question"})
    await rec.wait_message(lambda m: m["content"] == "The answer is 42.", timeout=15)
    assert "SECRET" not in rec.all_content()
    assert all("SECRET" not in str(edit) for edit in rec.edits)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ({"fault": "http500", "error_message": "model not loaded"}, "model not loaded"),
        ({"fault": "malformed_chunk"}, "unexpected response"),
        ({"fault": "unexpected_json"}, "unexpected response"),
        ({"fault": "hang"}, "stopped sending anything for 2 s"),
        ({"answer": "", "reasoning": "thinking only"}, "only produced reasoning"),
        ({"answer": "", "reasoning": "long thoughts", "finish_reason": "length"}, "token limit"),
    ],
)
async def test_each_llm_failure_gets_its_own_clear_ephemeral_message(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess, script: dict[str, str], expected: str
) -> None:
    llm.script(**script)
    rec = await emulator.send_command("chat", {"prompt": "hello"})
    # A fault after some text keeps that text and adds the reason; the message may show the text first.
    await rec.wait_message(lambda m: expected in m["content"], timeout=15)
    assert rec.ephemeral
    await chat_bot.wait_for_line(r"/chat for user \d+ failed", timeout=5)


async def test_unreachable_llm_is_reported(emulator: DiscordEmulator, bot: BotProcess) -> None:
    rec = await emulator.send_command("chat", {"prompt": "hello"}, locale="ja")
    message = await rec.wait_message(timeout=15)
    assert "LLM サーバーに接続できません" in message["content"]


async def test_stream_dropped_mid_answer_keeps_what_arrived(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess, bot_env: dict[str, str]
) -> None:
    llm.script(answer="First half of the answer. Second half never comes.", chunk_size=5, fault="drop_mid_stream")
    rec = await emulator.send_command("chat", {"prompt": "hello"})
    message = await rec.wait_message(lambda m: "cut off" in m["content"], timeout=15)
    assert message["content"].startswith("First")
    # A cut answer is not remembered: the next prompt goes without it.
    llm.script(answer="ok")
    rec = await emulator.send_command("chat", {"prompt": "again"})
    await rec.wait_message(lambda m: m["content"] == "ok", timeout=15)
    assert [m["role"] for m in llm.last_request.body["messages"]] == ["system", "user"]


async def test_public_user_gets_public_answer_and_private_error(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    await start_bot(LLM_BASE_URL=llm.base_url, PRIVACY_DEFAULT="public")
    rec = await emulator.send_command("chat", {"prompt": "hi"})
    await rec.wait_message(lambda m: m["content"] == "Hello! How can I help you today?", timeout=15)
    assert not rec.ephemeral
    llm.script(fault="http500", error_message="boom")
    rec = await emulator.send_command("chat", {"prompt": "hi"}, user=User(id=31337, username="second"))
    followups = await rec.wait_followups(1, timeout=15)
    assert "boom" in followups[0]["content"]
    assert followups[0]["flags"] & 64
    assert rec.original_deleted


async def test_memory_survives_a_restart_and_reset_forgets(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    first = await start_bot(LLM_BASE_URL=llm.base_url)
    llm.script(answer="Your name is Aiko.")
    rec = await emulator.send_command("chat", {"prompt": "My name is Aiko. What is my name?"})
    await rec.wait_message(lambda m: "Aiko" in m["content"], timeout=15)
    assert await first.stop() == 0

    await start_bot(LLM_BASE_URL=llm.base_url)
    llm.script(answer="Still Aiko.")
    rec = await emulator.send_command("chat", {"prompt": "And now?"})
    await rec.wait_message(lambda m: "Still" in m["content"], timeout=15)
    roles = [(m["role"], m["content"]) for m in llm.last_request.body["messages"][1:]]
    assert roles == [
        ("user", "My name is Aiko. What is my name?"),
        ("assistant", "Your name is Aiko."),
        ("user", "And now?"),
    ]
    # Another user in the same channel does not see Aiko's memory.
    rec = await emulator.send_command("chat", {"prompt": "Who am I?"}, user=User(id=777, username="other"))
    await rec.wait_message(timeout=15)
    assert len(llm.last_request.body["messages"]) == 2
    rec = await emulator.send_command("chat", {"prompt": "Fresh start", "reset": True})
    await rec.wait_message(timeout=15)
    assert len(llm.last_request.body["messages"]) == 2


async def test_model_option_and_autocomplete(
    emulator: DiscordEmulator, llm: FakeLLMServer, chat_bot: BotProcess
) -> None:
    rec = await emulator.send_autocomplete("chat", {"prompt": "x", "model": "qw"}, focused="model")
    await rec.wait_initial()
    assert [choice["value"] for choice in rec.autocomplete_choices or []] == ["qwen/qwen3-8b"]
    rec = await emulator.send_command("chat", {"prompt": "x", "model": "qwen/qwen3-8b"})
    await rec.wait_message(timeout=15)
    assert llm.last_request.body["model"] == "qwen/qwen3-8b"
    llm.models_fault = "http500"
    rec = await emulator.send_autocomplete("chat", {"prompt": "x", "model": ""}, focused="model")
    await rec.wait_initial()  # a failing /models still answers (from the cache)
    assert [choice["value"] for choice in rec.autocomplete_choices or []] == llm.models


async def test_hung_llm_blocks_neither_ping_nor_other_users_and_busy_is_clear(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    await start_bot(LLM_BASE_URL=llm.base_url, LLM_READ_TIMEOUT="30", CHAT_MAX_CONCURRENT="5")
    llm.script(fault="hang")
    hung = [
        await emulator.send_command("chat", {"prompt": "hi"}, user=User(id=9000 + index, username=f"u{index}"))
        for index in range(5)
    ]
    await asyncio.gather(*(rec.wait_initial() for rec in hung))
    ping = await emulator.send_command("ping")
    assert (await ping.wait_initial(timeout=2))["type"] == 4
    again = await emulator.send_command("chat", {"prompt": "me again"}, user=User(id=9000, username="u0"))
    body = await again.wait_initial(timeout=3)
    assert "already have an answer in progress" in body["data"]["content"]
    someone = await emulator.send_command("chat", {"prompt": "hi"}, user=User(id=8000, username="new"))
    body = await someone.wait_initial(timeout=3)
    assert "too many questions" in body["data"]["content"]


async def test_shutdown_mid_answer_says_it_was_interrupted_and_exits_0(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    bot = await start_bot(LLM_BASE_URL=llm.base_url, LLM_READ_TIMEOUT="30")
    llm.script(answer="Partial words arrive and then", chunk_size=6, fault="hang_after_first")
    streaming = await emulator.send_command("chat", {"prompt": "hi"})
    await streaming.wait_message(lambda m: m["content"].startswith("Partia"), timeout=10)
    llm.script(fault="hang")
    waiting = await emulator.send_command("chat", {"prompt": "hi"}, user=User(id=4444, username="waiting"))
    await waiting.wait_initial()
    assert await bot.stop(timeout=10) == 0
    kept = await streaming.wait_message(lambda m: "interrupted" in m["content"], timeout=5)
    assert kept["content"].startswith("Partia")
    notice = await waiting.wait_message(lambda m: "interrupted" in m["content"], timeout=5)
    assert waiting.ephemeral
    assert "restarting" in notice["content"]
