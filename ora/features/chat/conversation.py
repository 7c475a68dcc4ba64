"""The messages sent to the model: system prompt, remembered exchanges, then the new prompt."""

from __future__ import annotations

from collections.abc import Sequence

from ora.features.chat.llm.client import ChatMessage
from ora.features.chat.queries import ChatTurn


def build_messages(system_prompt: str, history: Sequence[ChatTurn], prompt: str) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    if system_prompt.strip():
        messages.append(ChatMessage("system", system_prompt))
    for turn in history:
        messages.append(ChatMessage("user", turn.prompt))
        messages.append(ChatMessage("assistant", turn.answer))
    messages.append(ChatMessage("user", prompt))
    return messages
