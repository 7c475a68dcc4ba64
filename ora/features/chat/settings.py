"""The chat feature's settings: the LLM endpoint and the bounds of an answer."""

from __future__ import annotations

from typing import Literal

import attrs

from ora.core.config import (
    Settings,
    SettingsReader,
    SettingsSection,
    http_url,
    int_between,
    names,
    non_negative_int,
    one_of,
    positive_float,
    positive_int,
)

ThinkPrefix = Literal["auto", "always", "never"]
THINK_PREFIXES: tuple[ThinkPrefix, ...] = ("auto", "always", "never")
DEFAULT_SYSTEM_PROMPT = "You are ORA, a helpful assistant in a Discord community. Answer concisely."
MAX_ANSWER_SECONDS = 840


@attrs.frozen(kw_only=True)
class ChatSettings:
    llm_base_url: str = "http://127.0.0.1:1234/v1"
    llm_api_key: str = attrs.field(default="lm-studio", repr=False)
    llm_model: str = "openai/gpt-oss-20b"
    llm_connect_timeout: float = 5.0
    llm_read_timeout: float = 60.0
    llm_timeout: float = 300.0
    llm_system_prompt: str = DEFAULT_SYSTEM_PROMPT
    llm_max_tokens: int = 4096
    llm_models: tuple[str, ...] = ()
    llm_think_prefix: ThinkPrefix = "auto"
    chat_max_answer_chars: int = 8000
    chat_max_messages: int = 5
    chat_history_turns: int = 6
    chat_history_chars: int = 6000
    chat_max_concurrent: int = 4
    chat_max_per_user: int = 1

    def secrets(self) -> list[str]:
        return [self.llm_api_key] if self.llm_api_key else []


def answer_timeout(value: str) -> float:
    seconds = positive_float(value)
    if seconds > MAX_ANSWER_SECONDS:
        raise ValueError(f"at most {MAX_ANSWER_SECONDS} seconds: Discord's interaction token expires after 15 minutes")
    return seconds


def answer_chars(value: str) -> int:
    number = positive_int(value)
    if number < 200:
        raise ValueError("expected at least 200 characters")
    return number


def read_settings(read: SettingsReader, _: Settings) -> ChatSettings:
    return ChatSettings(
        llm_base_url=read.parse("LLM_BASE_URL", http_url, "http://127.0.0.1:1234/v1"),
        llm_api_key=read.raw("LLM_API_KEY") or "lm-studio",
        llm_model=read.raw("LLM_MODEL") or "openai/gpt-oss-20b",
        llm_connect_timeout=read.parse("LLM_CONNECT_TIMEOUT", positive_float, 5.0),
        llm_read_timeout=read.parse("LLM_READ_TIMEOUT", positive_float, 60.0),
        llm_timeout=read.parse("LLM_TIMEOUT", answer_timeout, 300.0),
        llm_system_prompt=read.raw("LLM_SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
        llm_max_tokens=read.parse("LLM_MAX_TOKENS", non_negative_int, 4096),
        llm_models=read.parse("LLM_MODELS", names, tuple[str, ...]()),
        llm_think_prefix=read.parse("LLM_THINK_PREFIX", one_of(THINK_PREFIXES), "auto"),
        chat_max_answer_chars=read.parse("CHAT_MAX_ANSWER_CHARS", answer_chars, 8000),
        chat_max_messages=read.parse("CHAT_MAX_MESSAGES", int_between(1, 50, "a number of messages"), 5),
        chat_history_turns=read.parse("CHAT_HISTORY_TURNS", non_negative_int, 6),
        chat_history_chars=read.parse("CHAT_HISTORY_CHARS", non_negative_int, 6000),
        chat_max_concurrent=read.parse("CHAT_MAX_CONCURRENT", positive_int, 4),
        chat_max_per_user=read.parse("CHAT_MAX_PER_USER", positive_int, 1),
    )


SECTION = SettingsSection(ChatSettings, read_settings)
