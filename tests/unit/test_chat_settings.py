"""The /chat settings of issue 9: documented defaults, and each bad value named."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ora.app import configure
from ora.core.config import ConfigError, Configuration, environment
from ora.features.chat.settings import ChatSettings


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Configuration:
    """Every feature's settings, as `python -m ora` reads them."""
    return configure(environ if environ is not None else environment(dotenv))[0]


TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-part-abcdefghijklmnop"
BASE = {"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_APP_ID": "123456789012345678"}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.section(ChatSettings).llm_max_tokens == 4096
    assert settings.section(ChatSettings).llm_models == ()
    assert settings.section(ChatSettings).llm_think_prefix == "auto"
    assert (settings.section(ChatSettings).chat_max_answer_chars, settings.section(ChatSettings).chat_max_messages) == (
        8000,
        5,
    )


def test_values_are_read() -> None:
    settings = load_settings(
        {
            **BASE,
            "LLM_MAX_TOKENS": "0",
            "LLM_MODELS": " a/b , c ,, a/b ",
            "LLM_THINK_PREFIX": "Always",
            "CHAT_MAX_ANSWER_CHARS": "20000",
            "CHAT_MAX_MESSAGES": "10",
        }
    )
    assert settings.section(ChatSettings).llm_max_tokens == 0
    assert settings.section(ChatSettings).llm_models == ("a/b", "c")
    assert settings.section(ChatSettings).llm_think_prefix == "always"
    assert (settings.section(ChatSettings).chat_max_answer_chars, settings.section(ChatSettings).chat_max_messages) == (
        20000,
        10,
    )


def test_each_bad_value_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                **BASE,
                "LLM_MAX_TOKENS": "-1",
                "LLM_THINK_PREFIX": "sometimes",
                "CHAT_MAX_ANSWER_CHARS": "50",
                "CHAT_MAX_MESSAGES": "500",
            }
        )
    text = str(caught.value)
    for name in ("LLM_MAX_TOKENS", "LLM_THINK_PREFIX", "CHAT_MAX_ANSWER_CHARS", "CHAT_MAX_MESSAGES"):
        assert name in text
