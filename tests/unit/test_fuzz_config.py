"""Fuzzing the configuration parser: any environment gives a `Configuration` or one `ConfigError`, and no secret
leaks.

The variable names are read from the core's and every feature's settings code itself, so a variable added there
is fuzzed too (except ORA_EXTRA_FEATURES, which imports modules by name: tested on its own). Values mix
arbitrary text with plausible and edge-case values for each kind of variable, so both the error paths and the
success path are reached. Secrets carry a sentinel that must never appear in an error message or a repr.
"""

from __future__ import annotations

import inspect
import re

from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

import ora.core.config
from ora.app import FEATURES, configure
from ora.core.config import ConfigError, Configuration
from ora.features.chat.settings import ChatSettings

_SOURCES = [inspect.getsource(ora.core.config)] + [
    inspect.getsource(inspect.getmodule(feature.settings.read))  # type: ignore[arg-type]
    for feature in FEATURES
    if feature.settings is not None
]
VARIABLES = sorted(
    {name for source in _SOURCES for name in re.findall(r'read\.(?:parse|raw|required)\(\s*"([A-Z0-9_]+)"', source)}
    - {"ORA_EXTRA_FEATURES"}
)
SECRET_VARIABLES = (
    "DISCORD_BOT_TOKEN",
    "LLM_API_KEY",
    "GOOGLE_CLIENT_SECRET",
    "ORA_API_TOKEN",
    "LINK_REDEEM_TOKEN",
    "DATABASE_URL",
)
SENTINEL = "s3cr3t\u2603"
VALID_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-part-abcdefghijklmnop"

edge_values = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1",
        "65535",
        "65536",
        "1e309",
        "inf",
        "nan",
        "-0",
        "0.0001",
        "840",
        "841",
        "9" * 5000,  # int() refuses more than 4300 digits
        "²",  # str.isdigit() but not int()
        "１２３",  # full-width digits
        "123456789012345678",
        "18446744073709551616",
        "debug",
        "INFO",
        "private",
        "PUBLIC",
        "http://127.0.0.1:1234/v1",
        "https://example.invalid/",
        "http://[::1",  # urlsplit raises ValueError
        "http://[::1]:99999/",
        "http://",
        "ftp://example.invalid",
        "https://example.invalid/?q=1",
        "Bot abc.def.ghi",
        "a.b.c",
        "\x00",
        "line\nbreak",
        "/tmp/ora/db.sqlite",
    ]
)
values = st.one_of(edge_values, st.text(max_size=40), st.from_regex(r"\A-?[0-9]{1,25}(\.[0-9]{0,5})?\Z"))
secret_values = st.builds(
    lambda before, after: f"{before}{SENTINEL}{after}", st.text(max_size=20), st.text(max_size=20)
)
environments = st.dictionaries(
    st.one_of(st.sampled_from(VARIABLES), st.text(min_size=1, max_size=12)), values, max_size=len(VARIABLES)
)


def check(environ: dict[str, str]) -> Configuration | ConfigError:
    """The contract under test: a `Configuration` or a `ConfigError`, nothing else (any other exception fails)."""
    try:
        return configure(environ)[0]
    except ConfigError as error:
        caught = error
    assert caught.problems, "a ConfigError names at least one problem"
    assert caught.render().startswith("Configuration error")
    return caught


def test_the_parser_reads_the_variables_the_fuzzer_uses() -> None:
    assert {"DISCORD_BOT_TOKEN", "DISCORD_APP_ID", "WEB_PORT", "LLM_TIMEOUT"} <= set(VARIABLES)
    assert set(SECRET_VARIABLES) <= set(VARIABLES)
    assert {"DATABASE_URL", "DATASET_QUOTA_BYTES", "GOOGLE_ISSUER", "LINK_REDEEM_TOKEN"} <= set(VARIABLES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(environments)
@example({})
@example({"DISCORD_BOT_TOKEN": VALID_TOKEN, "DISCORD_APP_ID": "1", "WEB_PORT": "9" * 5000})
@example({"DISCORD_BOT_TOKEN": VALID_TOKEN, "DISCORD_APP_ID": "²", "ORA_DEV_GUILD_ID": "１２３"})
@example({"DISCORD_BOT_TOKEN": VALID_TOKEN, "DISCORD_APP_ID": "1", "LLM_BASE_URL": "http://[::1"})
def test_any_environment_gives_settings_or_a_config_error(environ: dict[str, str]) -> None:
    check(environ)


@settings(max_examples=200, deadline=None)
@given(environments, st.booleans())
def test_a_valid_token_and_app_id_with_other_noise_never_raise_anything_else(
    environ: dict[str, str], with_google: bool
) -> None:
    environ = environ | {"DISCORD_BOT_TOKEN": VALID_TOKEN, "DISCORD_APP_ID": "123456789012345678"}
    if with_google:
        environ |= {"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret"}
    result = check(environ)
    event(type(result).__name__)
    if isinstance(result, Configuration):
        assert result.core.discord_token == VALID_TOKEN
        assert 0 < result.core.web_port < 65536
        assert result.section(ChatSettings).llm_timeout > 0


@settings(max_examples=300, deadline=None)
@given(environments, st.dictionaries(st.sampled_from(SECRET_VARIABLES), secret_values, min_size=1))
@example({}, {"DISCORD_BOT_TOKEN": f"Bot {SENTINEL}.a.b"})
@example({}, {"DISCORD_BOT_TOKEN": f"{SENTINEL} with spaces"})
@example({"DISCORD_APP_ID": "x"}, {"DISCORD_BOT_TOKEN": f"MTIz.{SENTINEL}.x"})
def test_secrets_are_never_echoed(environ: dict[str, str], secrets: dict[str, str]) -> None:
    assume(all(SENTINEL not in value for value in environ.values()))
    result = check(environ | secrets)
    shown = result.render() if isinstance(result, ConfigError) else repr(result)
    assert SENTINEL not in shown
    if isinstance(result, ConfigError):
        assert SENTINEL not in str(result) and SENTINEL not in repr(result.problems)


def test_a_shaped_but_secret_token_is_not_echoed_next_to_other_problems() -> None:
    token = f"MTIzNDU2Nzg5MDEyMzQ1Njc4.{SENTINEL}.hmac"  # valid shape: accepted, then other problems reported
    error = check({"DISCORD_BOT_TOKEN": token, "WEB_PORT": "http"})
    assert isinstance(error, ConfigError)
    assert "WEB_PORT" in error.render() and "DISCORD_APP_ID" in error.render()
    assert SENTINEL not in error.render()
