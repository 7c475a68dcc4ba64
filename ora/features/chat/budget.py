"""Fit the remembered exchanges into the model's context (pure, no I/O).

Tokens are estimated from characters, conservatively (a real tokenizer is server-side): ASCII text at
3 characters a token (English averages about 4), any other character a token of its own (Japanese and
other scripts often take one or more tokens per character), and a few tokens per message for the chat
template's markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ora.features.chat.queries import ChatTurn

__all__ = ["answer_reserve", "estimate_tokens", "fit_history"]

_ASCII_CHARS_PER_TOKEN = 3
_TOKENS_PER_MESSAGE = 8


def estimate_tokens(text: str) -> int:
    ascii_chars = sum(1 for char in text if char < "\x80")
    return math.ceil(ascii_chars / _ASCII_CHARS_PER_TOKEN) + (len(text) - ascii_chars) + _TOKENS_PER_MESSAGE


def answer_reserve(context_tokens: int, max_tokens: int) -> int:
    """Tokens kept free for the answer: ``max_tokens`` (a quarter of the context when unset), at most half."""
    wanted = max_tokens if max_tokens > 0 else context_tokens // 4
    return min(wanted, context_tokens // 2)


def fit_history(
    system_prompt: str, history: Sequence[ChatTurn], prompt: str, context_tokens: int | None, reserve: int
) -> list[ChatTurn]:
    """The newest exchanges that fit in ``context_tokens`` beside the system prompt, the prompt and
    ``reserve`` tokens for the answer (all of them when the context is unknown). Oldest first."""
    if context_tokens is None:
        return list(history)
    room = context_tokens - reserve - estimate_tokens(system_prompt) - estimate_tokens(prompt)
    kept: list[ChatTurn] = []
    for turn in reversed(history):
        room -= estimate_tokens(turn.prompt) + estimate_tokens(turn.answer)
        if room < 0:
            break
        kept.append(turn)
    kept.reverse()
    return kept
