"""The web server's and login routes' settings: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ora.app import configure
from ora.core.config import ConfigError, Configuration, environment


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Configuration:
    """Every feature's settings, as `python -m ora` reads them."""
    return configure(environ if environ is not None else environment(dotenv))[0]


BASE = {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"}


def test_defaults_bound_every_socket() -> None:
    settings = load_settings(BASE)
    assert (settings.core.web_read_timeout, settings.core.web_idle_timeout, settings.core.web_max_connections) == (
        10.0,
        30.0,
        256,
    )
    assert settings.core.web_trusted_proxies == ()
    assert settings.core.login_rate_limit == 30


def test_values_are_read() -> None:
    settings = load_settings(
        BASE
        | {
            "WEB_READ_TIMEOUT": "2.5",
            "WEB_IDLE_TIMEOUT": "5",
            "WEB_MAX_CONNECTIONS": "64",
            "WEB_TRUSTED_PROXIES": " 127.0.0.1, ::1 ,",
            "LOGIN_RATE_LIMIT": "0",
        }
    )
    assert (settings.core.web_read_timeout, settings.core.web_idle_timeout, settings.core.web_max_connections) == (
        2.5,
        5.0,
        64,
    )
    assert settings.core.web_trusted_proxies == ("127.0.0.1", "::1")
    assert settings.core.login_rate_limit == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_READ_TIMEOUT", "0"),
        ("WEB_IDLE_TIMEOUT", "soon"),
        ("WEB_MAX_CONNECTIONS", "0"),
        ("WEB_TRUSTED_PROXIES", "127.0.0.1, proxy.example"),
        ("LOGIN_RATE_LIMIT", "-1"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(BASE | {name: value})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{name} is invalid")
