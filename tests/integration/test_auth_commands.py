"""/login, /whoami, /privacy set and /unlink against a real Store, with a stand-in for lightbulb's Context.

The end-to-end version (real process, Discord emulator) is tests/e2e/test_account.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import hikari
import lightbulb
import pytest

from ora.config import Settings
from ora.extensions import account
from ora.i18n import Catalog
from ora.replies import Replies, UserFacingError
from ora.store import Store, digest

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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "ora.db")
    yield store
    await store.close()


def make_settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "discord_token": "t",
        "discord_app_id": 1,
        "google_client_id": "id",
        "google_client_secret": "secret",
        "web_port": 8765,
    }
    return Settings(**(base | values))


async def run(command: type[Any], ctx: FakeContext, **services: Any) -> None:
    instance = command()
    if command is account.PrivacySet:
        mode = services.pop("mode")
        # What lightbulb does when it resolves options (keyed by the option's resolved name).
        options = account.PrivacySet._command_data.options.values()
        instance._resolved_option_cache = {option._localized_name: mode for option in options}
        instance._current_context = ctx
    async with asyncio.timeout(5):
        await instance.invoke(cast(lightbulb.Context, ctx), **services)


async def test_login_hands_out_a_fresh_one_time_url(store: Store) -> None:
    settings = make_settings(login_state_ttl=600)
    replies = Replies(store, settings, Catalog.load())
    urls = []
    for _ in range(2):
        ctx = FakeContext()
        await run(account.Login, ctx, replies=replies, store=store, settings=settings)
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
        assert await store.peek_login_state(state) == USER
        # Only the digest is stored.
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            hashes = {row[0] for row in db.execute("SELECT state_hash FROM login_states")}
        assert digest(state) in hashes
        assert state not in hashes


async def test_login_uses_public_base_url(store: Store) -> None:
    settings = make_settings(public_base_url="https://ora.example")
    ctx = FakeContext()
    await run(account.Login, ctx, replies=Replies(store, settings, Catalog.load()), store=store, settings=settings)
    assert "<https://ora.example/auth/discord?state=" in ctx.last[0]


async def test_login_not_configured(store: Store) -> None:
    settings = make_settings(google_client_id=None, google_client_secret=None)
    for locale, expected in (("en-US", "not configured"), ("ja", "設定されていません")):
        ctx = FakeContext(locale)
        await run(account.Login, ctx, replies=Replies(store, settings, Catalog.load()), store=store, settings=settings)
        assert ctx.last[1]
        assert expected in ctx.last[0]
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        assert db.execute("SELECT COUNT(*) FROM login_states").fetchone() == (0,)


async def test_login_mentions_an_existing_link(store: Store) -> None:
    settings = make_settings()
    await store.upsert_google_sub(USER, "sub-1", "old@example.com")
    ctx = FakeContext()
    await run(account.Login, ctx, replies=Replies(store, settings, Catalog.load()), store=store, settings=settings)
    assert "`old@example.com`" in ctx.last[0]
    assert "replaces" in ctx.last[0]


async def test_whoami_privacy_and_unlink(store: Store) -> None:
    settings = make_settings(privacy_default="private")
    replies = Replies(store, settings, Catalog.load())

    ctx = FakeContext()
    await run(account.WhoAmI, ctx, replies=replies, store=store, settings=settings)
    text, ephemeral = ctx.last
    assert "No Google account is linked" in text
    assert "the bot's default" in text
    assert ephemeral

    await store.upsert_google_sub(USER, "10987", "me_and_you@example.com")
    await run(account.WhoAmI, ctx, replies=replies, store=store, settings=settings)
    text, _ = ctx.last
    assert "`me_and_you@example.com`" in text  # inline code: the underscores stay literal
    assert "`10987`" in text

    await run(account.PrivacySet, ctx, replies=replies, store=store, mode="public")
    text, ephemeral = ctx.last
    assert ephemeral
    assert "public" in text
    await run(account.WhoAmI, ctx, replies=replies, store=store, settings=settings)
    text, ephemeral = ctx.last
    assert ephemeral  # /whoami is always private: the e-mail and sub never reach the channel
    assert "`me_and_you@example.com`" in text
    assert "the bot's default" not in text

    await run(account.Unlink, ctx, replies=replies, store=store)
    text, ephemeral = ctx.last
    assert ephemeral
    assert "no longer linked" in text
    user = await store.get_user(USER)
    assert user is not None
    assert user.google_sub is None
    assert user.privacy_mode == "public"  # unlinking keeps the privacy choice
    await run(account.Unlink, ctx, replies=replies, store=store)
    assert "nothing changed" in ctx.last[0]


async def test_whoami_is_private_even_when_public_is_the_default(store: Store) -> None:
    settings = make_settings(privacy_default="public")
    replies = Replies(store, settings, Catalog.load())
    await store.upsert_google_sub(USER, "10987", "me@example.com")
    ctx = FakeContext()
    await run(account.WhoAmI, ctx, replies=replies, store=store, settings=settings)
    text, ephemeral = ctx.last
    assert "`me@example.com`" in text
    assert ephemeral


async def test_privacy_set_refuses_forged_values(store: Store) -> None:
    replies = Replies(store, make_settings(), Catalog.load())
    with pytest.raises(UserFacingError):
        await run(account.PrivacySet, FakeContext(), replies=replies, store=store, mode="everyone")
    assert await store.get_privacy_mode(USER) is None


async def test_japanese_replies(store: Store) -> None:
    settings = make_settings()
    replies = Replies(store, settings, Catalog.load())
    ctx = FakeContext("ja")
    await run(account.WhoAmI, ctx, replies=replies, store=store, settings=settings)
    assert "リンクされていません" in ctx.last[0]
    await run(account.PrivacySet, ctx, replies=replies, store=store, mode="private")
    assert "非公開" in ctx.last[0]


async def test_command_definitions_localize(store: Store) -> None:
    provider = Catalog.load().localization_provider()
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
