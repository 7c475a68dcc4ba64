"""Tests for the incremental reasoning filter."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ora.features.chat.llm.reasoning import ReasoningFilter, split_delta

MARKERS = (
    "<think>",
    "</think>",
    "<|start|>",
    "<|channel|>",
    "<|message|>",
    "<|constrain|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
)


def run(chunks: list[str]) -> ReasoningFilter:
    """Feed chunks and check that the streamed deltas add up to the final text."""
    f = ReasoningFilter()
    shown = ""
    for chunk in [*chunks, None]:
        update = f.feed(chunk) if chunk is not None else f.finish()
        shown = update.appended if update.replaced else shown + update.appended
    assert shown == f.text
    return f


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_plain_text_passes_through() -> None:
    f = run(["Hello, ", "world", "!"])
    assert f.text == "Hello, world!"
    assert not f.reasoning_seen
    assert f.reasoning_chars == 0


def test_think_block_is_removed() -> None:
    f = run(["<think>The user says hi.</think>\n\nHello!"])
    assert f.text == "Hello!"
    assert f.reasoning_seen
    assert f.reasoning_chars == len("The user says hi.")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_think_tags_split_across_chunks(size: int) -> None:
    text = "<think>\nhmm, <b>bold</b> idea\n</think>\n\nThe answer is 42."
    f = run([text[i : i + size] for i in range(0, len(text), size)])
    assert f.text == "The answer is 42."


def test_every_two_way_split_of_harmony() -> None:
    text = (
        "<|channel|>analysis<|message|>Need to answer.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>こんにちは！<|return|>"
    )
    for cut in range(len(text) + 1):
        assert run([text[:cut], text[cut:]]).text == "こんにちは！", cut


def test_unclosed_think_is_all_reasoning() -> None:
    f = run(["<think>", "still thinking when the tokens ran out"])
    assert f.text == ""
    assert not f.has_answer
    assert f.reasoning_seen


def test_orphan_close_tag_retracts_what_was_shown() -> None:
    f = ReasoningFilter()
    assert f.feed("Okay, the user wants").appended == "Okay, the user wants"
    update = f.feed(" a poem.</think>\n\nRoses are red")
    assert update.replaced
    assert update.appended == "Roses are red"
    assert f.text == "Roses are red"
    assert f.reasoning_seen
    assert f.reasoning_chars == len("Okay, the user wants a poem.")


def test_only_the_first_orphan_close_tag_retracts() -> None:
    f = run(["<think>a</think>Answer with a literal </think> tag"])
    assert f.text == "Answer with a literal  tag"


def test_harmony_commentary_and_constrain_are_hidden() -> None:
    text = (
        "<|start|>assistant<|channel|>analysis<|message|>think<|end|>"
        '<|start|>assistant<|channel|>commentary to=functions.x <|constrain|>json<|message|>{"a":1}<|call|>'
        "<|start|>assistant<|channel|>final<|message|>Done.<|return|>"
    )
    f = run(list(text))
    assert f.text == "Done."
    assert f.reasoning_chars == len("think") + len('{"a":1}')


def test_stray_harmony_markers_without_final_channel() -> None:
    f = run(["<|channel|>analysis<|message|>only thinking"])
    assert f.text == ""
    assert f.reasoning_seen


def test_message_without_channel_is_visible() -> None:
    assert run(["<|start|>assistant<|message|>Hi<|end|>"]).text == "Hi"


def test_angle_brackets_that_are_not_markers_are_kept() -> None:
    f = run(["if a <", " b and <div> or <|x|> then", " <thi"])
    assert f.text == "if a < b and <div> or <|x|> then <thi"


def test_partial_marker_is_held_back_until_resolved() -> None:
    f = ReasoningFilter()
    assert f.feed("Answer <|st").appended == "Answer "
    assert f.feed("art|>assistant<|channel|>final<|message|>!").appended == "!"


def test_leading_whitespace_is_dropped() -> None:
    assert run(["\n\n  ", " Hi\n"]).text == "Hi\n"


def test_split_delta_reads_all_reasoning_fields() -> None:
    parts = split_delta({"role": "assistant", "content": None, "reasoning_content": "a", "reasoning": "b"})
    assert parts.content == ""
    assert parts.reasoning == "ab"
    assert split_delta({"reasoning_details": [{"x": 1}]}).reasoning == ""


def test_split_delta_rejects_non_string_content() -> None:
    with pytest.raises(TypeError):
        split_delta({"content": ["not", "a", "string"]})


def test_feed_delta_counts_field_reasoning() -> None:
    f = ReasoningFilter()
    f.feed_delta({"role": "assistant", "content": "", "reasoning": "The user"})
    update = f.feed_delta({"content": "Hello"})
    assert update.appended == "Hello"
    assert f.reasoning_seen
    assert f.reasoning_chars == len("The user")


# ------------------------------------------------------------------------------------ properties

plain = st.text(st.characters(exclude_categories=["Cs"]), max_size=80).filter(
    lambda s: not any(m in s for m in MARKERS)
)
no_close = st.text(max_size=80).filter(lambda s: "</think>" not in s)
no_harmony = st.text(max_size=80).filter(lambda s: "<|" not in s)
cuts = st.lists(st.integers(min_value=0, max_value=400), max_size=12)


@given(plain, cuts)
def test_text_without_markers_is_unchanged(text: str, positions: list[int]) -> None:
    f = run(chunked(text, positions))
    assert f.text == text.lstrip()
    assert not f.reasoning_seen


@given(no_close, plain, cuts)
def test_think_block_never_leaks(reasoning: str, answer: str, positions: list[int]) -> None:
    text = f"<think>{reasoning}</think>{answer}"
    f = run(chunked(text, positions))
    assert f.text == answer.lstrip()
    assert f.reasoning_seen


@given(no_harmony, plain, cuts)
def test_harmony_analysis_never_leaks(reasoning: str, answer: str, positions: list[int]) -> None:
    text = f"<|channel|>analysis<|message|>{reasoning}<|end|><|start|>assistant<|channel|>final<|message|>{answer}"
    f = run(chunked(text, positions))
    assert f.text == answer.lstrip()
    assert f.reasoning_chars == len(reasoning)


@given(plain, plain, cuts)
def test_missing_open_tag_shows_only_what_follows(reasoning: str, answer: str, positions: list[int]) -> None:
    f = run(chunked(f"{reasoning}</think>{answer}", positions))
    assert f.text == answer.lstrip()


# -------------------------------------------------- templates that open <think> (undecided content)


def test_undecided_content_before_an_orphan_close_tag_is_never_shown() -> None:
    f = ReasoningFilter(undecided=True)
    assert f.feed("Okay, the user wants").appended == ""
    update = f.feed(" a poem.\n</think>\n\nRoses are red")
    assert not update.replaced  # nothing had been shown, so nothing is retracted
    assert update.appended == "Roses are red"
    assert f.text == "Roses are red"
    assert f.orphan_close_seen
    assert f.reasoning_chars == len("Okay, the user wants a poem.\n")
    assert f.feed(" and a literal </think> stays out").appended == " and a literal  stays out"


def test_undecided_content_is_answer_once_a_reasoning_field_shows_up() -> None:
    f = ReasoningFilter(undecided=True)
    assert f.feed_delta({"content": "Hel"}).appended == ""
    assert f.feed_delta({"reasoning_content": "thinking", "content": "lo"}).appended == "Hello"
    assert f.feed("!").appended == "!"
    assert not f.undecided


@pytest.mark.parametrize(
    ("chunks", "text"),
    [
        (["<think>hmm</think>Hi"], "Hi"),
        (["<|channel|>analysis<|message|>hmm<|end|><|start|>assistant<|channel|>final<|message|>Hi"], "Hi"),
    ],
)
def test_explicit_reasoning_markers_decide_undecided_content(chunks: list[str], text: str) -> None:
    f = ReasoningFilter(undecided=True)
    for chunk in chunks:
        f.feed(chunk)
    assert not f.undecided
    assert f.text == text


def test_release_and_finish_decide_what_was_held() -> None:
    released = ReasoningFilter(undecided=True)
    released.feed("  A plain")
    assert released.release().appended == "A plain"
    assert released.feed(" answer").appended == " answer"
    assert released.feed("</think>").replaced  # still retracted if it turns out to be reasoning after all

    shown = ReasoningFilter(undecided=True)
    shown.feed("Short answer")
    assert shown.finish().appended == "Short answer"

    hidden = ReasoningFilter(undecided=True)
    hidden.feed("reasoning cut by the token limit")
    assert hidden.finish(held_is_answer=False).appended == ""
    assert not hidden.has_answer
    assert hidden.reasoning_seen


@given(plain, plain, cuts)
def test_undecided_reasoning_is_never_appended(reasoning: str, answer: str, positions: list[int]) -> None:
    f = ReasoningFilter(undecided=True)
    shown = ""
    for chunk in chunked(f"{reasoning}\n</think>\n\n{answer}", positions):
        update = f.feed(chunk)
        assert not update.replaced
        shown += update.appended
    shown += f.finish().appended
    assert shown == f.text == answer.lstrip()
