"""LINK_REDEEM_TOKEN: optional, a secret (redacted, never echoed), long enough not to be guessed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ora.app import configure
from ora.core.config import ConfigError, Configuration, environment
from ora.features.link.settings import LinkSettings


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Configuration:
    """Every feature's settings, as `python -m ora` reads them."""
    return configure(environ if environ is not None else environment(dotenv))[0]


BASE = {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"}
REDEEM_TOKEN = "a-long-enough-redeem-token-value"


def test_unset_by_default() -> None:
    assert load_settings(BASE).section(LinkSettings).redeem_token is None


def test_the_token_is_a_secret() -> None:
    settings = load_settings({**BASE, "LINK_REDEEM_TOKEN": REDEEM_TOKEN})
    assert settings.section(LinkSettings).redeem_token == REDEEM_TOKEN
    assert REDEEM_TOKEN not in repr(settings)
    assert REDEEM_TOKEN in settings.secrets()


@pytest.mark.parametrize("value", ["short-secret", "has a space in the middle ok"])
def test_a_weak_or_malformed_token_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, "LINK_REDEEM_TOKEN": value})
    rendered = raised.value.render()
    assert "LINK_REDEEM_TOKEN" in rendered
    assert value not in rendered
