"""Settings parsing: every problem reported at once, secrets never echoed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from ora.app import configure
from ora.core.config import ConfigError, Configuration, environment
from ora.features.account.settings import LoginSettings
from ora.features.chat.settings import ChatSettings
from ora.features.datasets.settings import DatasetSettings


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Configuration:
    """Every feature's settings, as `python -m ora` reads them."""
    return configure(environ if environ is not None else environment(dotenv))[0]


TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-part-abcdefghijklmnop"
BASE = {"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_APP_ID": "123456789012345678"}


def test_minimal_configuration_gets_documented_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.core.discord_app_id == 123456789012345678
    assert settings.core.discord_rest_url == "https://discord.com/api/v10"
    assert settings.core.db_path == Path("ora_bot.db")
    assert settings.section(DatasetSettings).directory == Path("datasets")
    assert settings.section(ChatSettings).llm_base_url == "http://127.0.0.1:1234/v1"
    assert settings.section(ChatSettings).llm_api_key == "lm-studio"
    assert settings.section(ChatSettings).llm_model == "openai/gpt-oss-20b"
    assert settings.core.privacy_default == "private"
    assert (settings.core.web_host, settings.core.web_port) == ("127.0.0.1", 8080)
    assert settings.section(LoginSettings).google_issuer == "https://accounts.google.com"
    assert settings.section(LoginSettings).state_ttl == 900
    assert settings.core.log_level == logging.INFO
    assert settings.core.dev_guild_id is None
    assert not settings.section(LoginSettings).configured
    assert settings.core.web_base_url == "http://127.0.0.1:8080"


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "DISCORD_APP_ID": "not-a-number",
                "ORA_DEV_GUILD_ID": "-5",
                "DISCORD_REST_URL": "ftp://example",
                "LOG_LEVEL": "LOUD",
                "PRIVACY_DEFAULT": "maybe",
                "WEB_PORT": "70000",
                "LLM_TIMEOUT": "0",
                "GOOGLE_CLIENT_ID": "only-the-id",
            }
        )
    text = str(caught.value)
    for name in (
        "DISCORD_BOT_TOKEN",
        "DISCORD_APP_ID",
        "ORA_DEV_GUILD_ID",
        "DISCORD_REST_URL",
        "LOG_LEVEL",
        "PRIVACY_DEFAULT",
        "WEB_PORT",
        "LLM_TIMEOUT",
        "GOOGLE_CLIENT_SECRET",
    ):
        assert name in text, name
    assert len(caught.value.problems) == 9


def test_malformed_token_is_reported_without_its_value() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, "DISCORD_BOT_TOKEN": "secret part\nwith newline"})
    assert "DISCORD_BOT_TOKEN" in str(caught.value)
    assert "secret part" not in str(caught.value)


@pytest.mark.parametrize("token", ["not-a-token-at-all", f"Bot {TOKEN}", "bm90LWRpZ2l0cw.AGVtdQ.rest"])
def test_token_shape_is_checked_without_echoing_it(token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, "DISCORD_BOT_TOKEN": token})
    assert "DISCORD_BOT_TOKEN" in str(caught.value)
    assert token not in str(caught.value)


def test_secrets_are_not_in_the_repr() -> None:
    settings = load_settings(
        {
            **BASE,
            "LLM_API_KEY": "sk-very-secret-key",
            "GOOGLE_CLIENT_ID": "id",
            "GOOGLE_CLIENT_SECRET": "google-secret-value",
        }
    )
    shown = repr(settings)
    assert TOKEN not in shown
    assert "sk-very-secret-key" not in shown
    assert "google-secret-value" not in shown
    assert set(settings.secrets()) == {TOKEN, "sk-very-secret-key", "google-secret-value"}


@pytest.mark.parametrize(("raw", "level"), [("debug", 10), ("INFO", 20), ("10", 10), ("Warning", 30)])
def test_log_level_by_name_or_number(raw: str, level: int) -> None:
    assert load_settings({**BASE, "LOG_LEVEL": raw}).core.log_level == level


def test_dataset_dir_defaults_beside_the_database() -> None:
    settings = load_settings({**BASE, "ORA_BOT_DB": "/data/ora_bot.db"})
    assert settings.section(DatasetSettings).directory == Path("/data/datasets")


def test_public_base_url_and_trailing_slash() -> None:
    settings = load_settings({**BASE, "PUBLIC_BASE_URL": "https://ora.example.com/", "ORA_DEV_GUILD_ID": "42"})
    assert settings.core.web_base_url == "https://ora.example.com"
    assert settings.core.dev_guild_id == 42


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DISCORD_BOT_TOKEN={TOKEN}\nDISCORD_APP_ID=111111111111111111\nLLM_MODEL=from-file\n")
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    monkeypatch.setenv("DISCORD_APP_ID", "222222222222222222")
    settings = load_settings(dotenv=dotenv)
    assert settings.core.discord_token == TOKEN
    assert settings.core.discord_app_id == 222222222222222222
    assert settings.section(ChatSettings).llm_model == "from-file"
