"""Tests for splitting long answers into Discord messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ora.features.chat.splitting import MIN_LIMIT, SplitPart, fence_language, plan_split, split_message


def check_reassembly(original: str, plan: list[SplitPart]) -> None:
    """Without the added fence lines, the parts are the original in order, apart from whitespace."""
    pos = 0
    for part in plan:
        index = original.find(part.body, pos)
        assert index >= 0, part
        assert original[pos:index].strip() == "", (original[pos:index], part)
        pos = index + len(part.body)
    assert original[pos:].strip() == ""


def check_fences(plan: list[SplitPart]) -> None:
    """Fences are balanced in every part, and a reopened block keeps its language."""
    open_language: str | None = None
    for part in plan:
        if part.prefix:
            assert open_language is not None
            assert part.prefix in (f"```{open_language}\n", "```\n")
        else:
            assert open_language is None
        lines = part.text.split("\n")
        assert sum(fence_language(line) is not None for line in lines) % 2 == 0, part.text
        open_language = None
        for line in (part.prefix + part.body).split("\n"):
            if (language := fence_language(line)) is not None:
                open_language = language if open_language is None else None


def check_all(text: str, limit: int) -> list[str]:
    plan = plan_split(text, limit)
    parts = split_message(text, limit)
    assert parts == [p.text for p in plan]
    for part in parts:
        assert 0 < len(part) <= limit
        assert part.strip()
    check_reassembly(text, plan)
    return parts


def test_short_text_is_one_part() -> None:
    assert split_message("Hello!") == ["Hello!"]


def test_exactly_the_limit_is_one_part() -> None:
    text = "a" * 2000
    assert split_message(text) == [text]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", " \n \t\n"])
def test_blank_text_gives_no_parts(text: str) -> None:
    assert split_message(text) == []


def test_limit_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        split_message("x", MIN_LIMIT - 1)


def test_splits_at_line_boundaries() -> None:
    lines = [f"line {i:02d} " + "x" * 20 for i in range(10)]
    parts = check_all("\n".join(lines), 70)
    assert parts == ["\n".join(lines[i : i + 2]) for i in range(0, 10, 2)]


def test_long_line_splits_at_words() -> None:
    text = " ".join(f"word{i}" for i in range(40))
    parts = check_all(text, 50)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert " ".join(parts) == text


def test_fills_the_current_part_before_a_long_paragraph() -> None:
    parts = check_all("Intro.\n" + "lorem ipsum " * 20, 60)
    assert parts[0].startswith("Intro.\nlorem ipsum")


def test_single_overlong_word_is_cut() -> None:
    word = "x" * 120
    assert split_message(word, 50) == ["x" * 50, "x" * 50, "x" * 20]


def test_japanese_prose_is_cut_after_punctuation() -> None:
    text = "これは日本語の文章です。" * 20  # no spaces at all
    parts = check_all(text, 100)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


def test_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})  # いち" for i in range(30))
    text = f"Here you go:\n```python\n{code}\n```\nDone."
    parts = check_all(text, 120)
    assert len(parts) > 2
    for part in parts[1:]:
        assert part.startswith("```python\n") or part == parts[-1]
    for part in parts[:-1]:
        assert part.endswith("\n```")
    check_fences(plan_split(text, 120))
    # The added lines count towards the limit.
    assert max(len(p) for p in parts) <= 120


def test_long_line_inside_code_block() -> None:
    text = "```js\n" + "const x = " + "1 + " * 100 + "1;\n```"
    parts = check_all(text, 80)
    assert all(p.startswith("```js") and p.endswith("```") for p in parts)
    check_fences(plan_split(text, 80))


def test_unclosed_code_block_is_closed_in_the_last_part() -> None:
    parts = check_all("```py\nprint(1)", 2000)
    assert parts == ["```py\nprint(1)\n```"]


def test_over_long_language_is_not_repeated() -> None:
    text = "```" + "x" * 30 + "\n" + "\n".join(["code line"] * 20) + "\n```"
    plan = plan_split(text, 40)
    assert all(p.prefix in ("", "```\n") for p in plan)
    check_fences(plan)


def test_inline_triple_backticks_do_not_start_a_part() -> None:
    text = "word " * 30 + "```inline``` " + "word " * 30
    for part in check_all(text, 40):
        assert not part.startswith("```")


# ------------------------------------------------------------------------------------ properties

words = st.one_of(
    st.text(st.characters(categories=["L", "N", "P", "S"], exclude_characters="`"), min_size=1, max_size=30),
    st.sampled_from(["こんにちは。", "日本語の文章、", "`code`", "**bold**", "https://example.com/a/b?c=d"]),
)
prose_lines = st.lists(words, max_size=12).map(" ".join)
fence_lines = st.sampled_from(["```", "```python", "```js", "``` ", "````", "  ```ts", "```c++"])
markdown = st.lists(st.one_of(prose_lines, prose_lines, fence_lines, st.just("")), max_size=40).map("\n".join)
limits = st.integers(min_value=MIN_LIMIT, max_value=300)


@given(markdown, limits)
def test_markdown_parts_fit_reassemble_and_balance(text: str, limit: int) -> None:
    check_all(text, limit)
    check_fences(plan_split(text, limit))


@given(st.text(), limits)
def test_any_text_parts_fit_and_reassemble(text: str, limit: int) -> None:
    check_all(text, limit)


@given(markdown)
def test_discord_limit(text: str) -> None:
    parts = check_all(text * 20, 2000)
    check_fences(plan_split(text * 20))
    assert all(len(p) <= 2000 for p in parts)
