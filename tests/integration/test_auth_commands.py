"""/login, /whoami, /privacy set and /unlink against a real store (both backends), with a stand-in for lightbulb's
Context.

The end-to-end version (real process, Discord emulator) is tests/e2e/test_account.py.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import attrs
import hikari
import lightbulb
import pytest

from ora.app import full_catalog
from ora.core.config import Settings
from ora.core.replies import Replies, UserFacingError
from ora.core.store import Store, digest
from ora.core.store.users import UserPreferences
from ora.features.account import commands as account
from ora.features.account.queries import AccountQueries
from ora.features.account.settings import LoginSettings

USER = 1_300_000_000_000_000_300


class FakeContext:
    """Just what the account commands and `Replies` touch."""

    def __init__(self, locale: str = "en-US", user_id: int = USER) -> None:
        self.user = SimpleNamespace(id=hikari.Snowflake(user_id), username="tester")
        self.interaction = SimpleNamespace(id=hikari.Snowflake(1), locale=hikari.Locale(locale))
        self.sent: list[tuple[str, bool]] = []

    async def respond(self, content: str, *, ephemeral: bool = False, **_: Any) -> int:
        self.sent.append((content, ephemeral))
        return len(self.sent)

    @property
    def last(self) -> tuple[str, bool]:
        return self.sent[-1]


def make_settings(**values: Any) -> dict[str, Any]:
    """Values of the core's `Settings` and of `LoginSettings` (Google configured unless said otherwise)."""
    return {"google_client_id": "id", "google_client_secret": "secret", "web_port": 8765} | values


async def run(command: type[Any], ctx: FakeContext, store: Store, values: dict[str, Any], **options: Any) -> None:
    """Invoke `command` with the services its `invoke` asks for, as dependency injection would give them."""
    login_fields = {field.name for field in attrs.fields(LoginSettings)}
    login = LoginSettings(**{key: value for key, value in values.items() if key in login_fields})
    core = {key: value for key, value in values.items() if key not in login_fields}
    settings = Settings(discord_token="t", discord_app_id=1, **core)
    available = {
        "replies": Replies(UserPreferences(store), settings, full_catalog()),
        "store": AccountQueries(store),
        "preferences": UserPreferences(store),
        "settings": settings,
        "login": login,
    }
    wanted = inspect.signature(command.invoke._func).parameters
    services = {name: value for name, value in available.items() if name in wanted}
    instance = command()
    if command is account.PrivacySet:
        mode = options.pop("mode")
        # What lightbulb does when it resolves options (keyed by the option's resolved name).
        options = account.PrivacySet._command_data.options.values()
        instance._resolved_option_cache = {option._localized_name: mode for option in options}
        instance._current_context = ctx
    async with asyncio.timeout(5):
        await instance.invoke(cast(lightbulb.Context, ctx), **services)


async def test_login_hands_out_a_fresh_one_time_url(store: Store) -> None:
    settings = make_settings(state_ttl=600)
    urls = []
    for _ in range(2):
        ctx = FakeContext()
        await run(account.Login, ctx, store, settings)
        text, ephemeral = ctx.last
        assert ephemeral
        assert "10 minutes" in text
        assert str(USER) in text
        (url,) = re.findall(r"<(http[^>]+)>", text)
        urls.append(url)
    assert urls[0] != urls[1]
    for url in urls:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:8765/auth/discord"
        state = parse_qs(parts.query)["state"][0]
        assert len(state) >= 22  # at least 128 bits
        assert await AccountQueries(store).peek_login_state(state) == USER
        # Only the digest is stored.
        hashes = {row["state_hash"] for row in await store.fetch_all("SELECT state_hash FROM login_states")}
        assert digest(state) in hashes
        assert state not in hashes


async def test_login_uses_public_base_url(store: Store) -> None:
    settings = make_settings(public_base_url="https://ora.example")
    ctx = FakeContext()
    await run(account.Login, ctx, store, settings)
    assert "<https://ora.example/auth/discord?state=" in ctx.last[0]


async def test_login_not_configured(store: Store) -> None:
    settings = make_settings(google_client_id=None, google_client_secret=None)
    for locale, expected in (("en-US", "not configured"), ("ja", "設定されていません")):
        ctx = FakeContext(locale)
        await run(account.Login, ctx, store, settings)
        assert ctx.last[1]
        assert expected in ctx.last[0]
    assert await store.fetch_all("SELECT state_hash FROM login_states") == []


async def test_login_mentions_an_existing_link(store: Store) -> None:
    settings = make_settings()
    await AccountQueries(store).upsert_google_sub(USER, "sub-1", "old@example.com")
    ctx = FakeContext()
    await run(account.Login, ctx, store, settings)
    assert "`old@example.com`" in ctx.last[0]
    assert "replaces" in ctx.last[0]


async def test_whoami_privacy_and_unlink(store: Store) -> None:
    settings = make_settings(privacy_default="private")

    ctx = FakeContext()
    await run(account.WhoAmI, ctx, store, settings)
    text, ephemeral = ctx.last
    assert "No Google account is linked" in text
    assert "the bot's default" in text
    assert ephemeral

    await AccountQueries(store).upsert_google_sub(USER, "10987", "me_and_you@example.com")
    await run(account.WhoAmI, ctx, store, settings)
    text, _ = ctx.last
    assert "`me_and_you@example.com`" in text  # inline code: the underscores stay literal
    assert "`10987`" in text

    await run(account.PrivacySet, ctx, store, settings, mode="public")
    text, ephemeral = ctx.last
    assert ephemeral
    assert "public" in text
    await run(account.WhoAmI, ctx, store, settings)
    text, ephemeral = ctx.last
    assert ephemeral  # /whoami is always private: the e-mail and sub never reach the channel
    assert "`me_and_you@example.com`" in text
    assert "the bot's default" not in text

    await run(account.Unlink, ctx, store, settings)
    text, ephemeral = ctx.last
    assert ephemeral
    assert "no longer linked" in text
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert user.google_sub is None
    assert user.privacy_mode == "public"  # unlinking keeps the privacy choice
    await run(account.Unlink, ctx, store, settings)
    assert "nothing changed" in ctx.last[0]


async def test_whoami_is_private_even_when_public_is_the_default(store: Store) -> None:
    settings = make_settings(privacy_default="public")
    await AccountQueries(store).upsert_google_sub(USER, "10987", "me@example.com")
    ctx = FakeContext()
    await run(account.WhoAmI, ctx, store, settings)
    text, ephemeral = ctx.last
    assert "`me@example.com`" in text
    assert ephemeral


async def test_privacy_set_refuses_forged_values(store: Store) -> None:
    settings = make_settings()
    with pytest.raises(UserFacingError):
        await run(account.PrivacySet, FakeContext(), store, settings, mode="everyone")
    assert await UserPreferences(store).get_privacy_mode(USER) is None


async def test_japanese_replies(store: Store) -> None:
    settings = make_settings()
    ctx = FakeContext("ja")
    await run(account.WhoAmI, ctx, store, settings)
    assert "リンクされていません" in ctx.last[0]
    await run(account.PrivacySet, ctx, store, settings, mode="private")
    assert "非公開" in ctx.last[0]


async def test_command_definitions_localize(store: Store) -> None:
    provider = full_catalog().localization_provider()
    builders = [
        await command.as_command_builder(hikari.Locale.EN_US, provider)
        for command in (account.Login, account.WhoAmI, account.privacy, account.Unlink)
    ]
    assert [builder.name for builder in builders] == ["login", "whoami", "privacy", "unlink"]
    for builder in builders:
        assert builder.description_localizations[hikari.Locale.JA]
    (set_option,) = builders[2].options
    assert set_option.name == "set"
    (mode,) = set_option.options or []
    assert [choice.value for choice in mode.choices or []] == ["private", "public"]
    assert [choice.name_localizations[hikari.Locale.JA] for choice in mode.choices or []] == [
        "非公開 (自分だけ)",
        "公開 (チャンネル全員)",
    ]
