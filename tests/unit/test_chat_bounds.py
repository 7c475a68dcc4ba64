"""The pure parts of /chat's bounds: answer caps, context budget, server facts, cursor, slots."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ora.features.chat.budget import answer_reserve, estimate_tokens, fit_history
from ora.features.chat.caps import AnswerCaps
from ora.features.chat.llm.facts import (
    context_from_lmstudio_models,
    context_from_props,
    error_details,
    is_context_error,
    template_opens_think,
)
from ora.features.chat.pacing import STREAMING_CURSOR, EditPacer, with_cursor
from ora.features.chat.queries import ChatTurn
from ora.features.chat.splitting import split_message

NOTE = "⚠️ *cut*"

# ------------------------------------------------------------------------------------------- caps


def test_short_answer_is_shown_whole_with_its_notes() -> None:
    rendered = AnswerCaps(8000, 5).render("Hello", ["note"], NOTE)
    assert (rendered.display, rendered.body, rendered.cut) == ("Hello\n\nnote", "Hello", False)


def test_answer_over_the_character_cap_is_cut_at_a_word_and_says_so() -> None:
    body = "word " * 3000
    rendered = AnswerCaps(1000, 5).render(body, [], NOTE)
    assert rendered.cut
    assert len(rendered.body) <= 1000
    assert rendered.body.endswith("word")
    assert rendered.display == f"{rendered.body}\n\n{NOTE}"


def test_answer_over_the_message_cap_keeps_the_note_in_the_last_message() -> None:
    body = "\n".join(f"line {index} " + "x" * 60 for index in range(400))  # about 27,000 characters
    caps = AnswerCaps(100_000, 3)
    assert caps.exceeded(body)
    rendered = caps.render(body, ["token note"], NOTE)
    parts = split_message(rendered.display)
    assert len(parts) == 3
    assert parts[-1].endswith(f"token note\n\n{NOTE}")
    assert len(rendered.body) > 5000  # the messages are filled, not emptied


def test_a_cut_inside_a_code_block_closes_it() -> None:
    body = "Code:\n```python\n" + "print('x')\n" * 500
    rendered = AnswerCaps(1500, 5).render(body, [], NOTE)
    assert rendered.body.endswith("\n```")
    assert rendered.display.count("```") % 2 == 0
    assert rendered.display.endswith(NOTE)


@given(st.text(alphabet=st.sampled_from("ab `\n"), max_size=6000), st.integers(1, 4), st.integers(200, 5000))
def test_rendering_always_respects_both_caps(body: str, messages: int, chars: int) -> None:
    caps = AnswerCaps(chars, messages)
    rendered = caps.render(body, ["a note"], NOTE)
    assert len(split_message(rendered.display)) <= messages
    assert len(rendered.body) <= chars
    assert rendered.cut or rendered.body == body


def test_exceeded() -> None:
    caps = AnswerCaps(5000, 2)
    assert not caps.exceeded("x" * 3000)
    assert caps.exceeded("x" * 5001)
    assert caps.exceeded("y " * 2400)  # 4,800 characters, three messages


# ----------------------------------------------------------------------------------------- budget


def test_token_estimate_is_conservative_for_english_and_japanese() -> None:
    assert estimate_tokens("a" * 3000) >= 1000
    assert estimate_tokens("日本語" * 100) >= 300


def test_history_is_trimmed_oldest_first_to_fit_the_context() -> None:
    history = [ChatTurn(prompt=f"q{index} " + "x" * 1200, answer="y" * 1200) for index in range(5)]
    kept = fit_history("system", history, "p" * 3000, 4096, answer_reserve(4096, 512))
    assert kept == history[-3:]  # each exchange is about 820 tokens; 4096 - 512 - ~1020 leaves room for three
    assert fit_history("system", history, "prompt", None, 0) == history
    assert fit_history("system", history, "p" * 30_000, 4096, 512) == []


def test_answer_reserve() -> None:
    assert answer_reserve(8192, 1024) == 1024
    assert answer_reserve(4096, 4096) == 2048  # never more than half the context
    assert answer_reserve(4096, 0) == 1024


# ----------------------------------------------------------------------------------- server facts

R1_TEMPLATE = (
    "{% for message in messages %}...{% endfor %}"
    "{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)
QWEN3_TEMPLATE = (
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)


def test_template_that_opens_think_is_recognised() -> None:
    assert template_opens_think({"chat_template": R1_TEMPLATE}) is True
    assert template_opens_think({"chat_template": QWEN3_TEMPLATE}) is False
    assert template_opens_think({"chat_template": "{{ messages }}"}) is False
    assert template_opens_think({"default_generation_settings": {}}) is None


def test_published_context_sizes() -> None:
    assert context_from_props({"default_generation_settings": {"n_ctx": 8192}}) == 8192
    assert context_from_props({"default_generation_settings": {"n_ctx": "big"}}) is None
    lmstudio = {
        "data": [
            {"id": "loaded", "state": "loaded", "loaded_context_length": 4096, "max_context_length": 131072},
            {"id": "on-disk", "state": "not-loaded", "max_context_length": 32768},
            {"id": "odd"},
        ]
    }
    assert context_from_lmstudio_models(lmstudio) == {"loaded": 4096, "on-disk": 32768}


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        (
            {
                "error": {
                    "code": 400,
                    "message": "request (5000 tokens) exceeds the available context size "
                    "(4096 tokens), try increasing it",
                    "type": "exceed_context_size_error",
                    "n_ctx": 4096,
                }
            },
            4096,
        ),
        ({"code": 400, "message": "the request exceeds the available context size, try increasing it"}, None),
        ({"object": "error", "message": "This model's maximum context length is 2048 tokens. However..."}, 2048),
        ({"error": "Trying to keep the first 5000 tokens ... loaded with context length of only 4096 tokens"}, 4096),
    ],
)
def test_context_errors_are_recognised_with_the_size_they_name(payload: object, size: int | None) -> None:
    details = error_details(payload)
    assert details.message
    assert is_context_error(details.message, details.type)
    assert details.context_size == size


def test_other_errors_are_not_context_errors() -> None:
    details = error_details({"error": {"message": "model not loaded", "type": "server_error"}})
    assert not is_context_error(details.message or "", details.type)


# ---------------------------------------------------------------------------------- cursor, slots


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Hello", f"Hello\u00a0{STREAMING_CURSOR}"),
        ("Hello \n", f"Hello\u00a0{STREAMING_CURSOR}"),
        ("Code:\n```python", f"Code:\n```python\n{STREAMING_CURSOR}"),
        ("x\n```", f"x\n```\n{STREAMING_CURSOR}"),
    ],
)
def test_cursor_never_spoils_a_fence_line(text: str, shown: str) -> None:
    assert with_cursor(text) == shown


words = st.lists(st.sampled_from(["a", "bb", "word", "```", "```py", "\n", "\n\n", "  "]), min_size=1, max_size=1500)


@given(words)
@example(["word"] * 400)  # a cursor alone in a second message once left the first showing the final text
def test_no_moment_of_a_publication_shows_the_final_messages(pieces: list[str]) -> None:
    """Messages are edited one after the other: no moment of an intermediate publication (its first messages
    edited, the rest still older intermediate text with a cursor, or not there yet) shows the final text."""
    text = " ".join(pieces)
    final = split_message(text)
    shown = split_message(with_cursor(text))
    for edited in range(len(shown) + 1):
        assert shown[:edited] != final or not final


async def test_finishing_waits_for_the_publication_in_progress() -> None:
    """Cancelling a publication halfway could lose a follow-up Discord created, and post it twice."""
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[tuple[str, str]] = []

    async def publish(text: str) -> None:
        calls.append(("start", text))
        if len(calls) == 1:
            started.set()
            await release.wait()
        calls.append(("end", text))

    pacer = EditPacer(publish, in_progress=with_cursor)
    pacer.start()
    pacer.update("Hello")
    async with asyncio.timeout(2):
        await started.wait()
        finishing = asyncio.create_task(pacer.finish("Hello world"))
        for _ in range(5):  # let finish() run as far as it goes before the publication ends
            await asyncio.sleep(0)
        release.set()
        await finishing
    shown = with_cursor("Hello")
    assert calls == [("start", shown), ("end", shown), ("start", "Hello world"), ("end", "Hello world")]
