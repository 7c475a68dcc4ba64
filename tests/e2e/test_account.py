"""`python -m ora` end to end: /login → browser (aiohttp) → FakeOIDCProvider → confirm → /whoami, /privacy, /unlink."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import yarl

from ora.testing.discord import DiscordEmulator
from ora.testing.oidc import FakeOIDCProvider
from ora.testing.process import BotProcess
from tests.e2e.conftest import StartBot

TIMEOUT = aiohttp.ClientTimeout(total=15)


@pytest.fixture
async def provider() -> AsyncIterator[FakeOIDCProvider]:
    async with FakeOIDCProvider() as provider:
        yield provider


@pytest.fixture
async def bot(start_bot: StartBot, provider: FakeOIDCProvider) -> BotProcess:
    return await start_bot(
        GOOGLE_ISSUER=provider.issuer,
        GOOGLE_CLIENT_ID=provider.client_id,
        GOOGLE_CLIENT_SECRET=provider.client_secret,
    )


async def content_of(emulator: DiscordEmulator, name: str, options: dict[str, Any] | None = None) -> tuple[str, bool]:
    rec = await emulator.send_command(name, options)
    await rec.wait_message()
    assert rec.errors == []
    return rec.final_content(), rec.ephemeral


async def link_in_browser(login_url: str) -> str:
    """What a browser does with the /login URL: provider round trip, then confirm. Returns the final page."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT) as browser:
        async with browser.get(login_url) as response:  # follows /auth/discord → provider → callback
            assert response.status == 200, await response.text()
            page = await response.text()
            confirm_url = response.url.join(yarl.URL("confirm"))
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, page
        # The confirmation names the Discord account that ran /login, not just its id.
        assert "@tester (ID " in page
        async with browser.post(confirm_url, data={"csrf_token": match.group(1), "action": "confirm"}) as response:
            assert response.status == 200
            return await response.text()


async def test_login_link_whoami_privacy_unlink(
    emulator: DiscordEmulator, bot: BotProcess, provider: FakeOIDCProvider, web_url: str
) -> None:
    text, ephemeral = await content_of(emulator, "whoami")
    assert "No Google account is linked" in text
    assert "private" in text
    assert ephemeral  # PRIVACY_DEFAULT is private

    text, ephemeral = await content_of(emulator, "login")
    assert ephemeral
    urls = re.findall(r"<(http://[^>]+)>", text)
    assert len(urls) == 1
    assert urls[0].startswith(f"{web_url}/auth/discord?state=")
    assert provider.client_secret not in text

    page = await link_in_browser(urls[0])
    assert "Accounts linked" in page
    assert str(emulator.default_user.id) in page

    text, ephemeral = await content_of(emulator, "whoami")
    assert provider.user.email in text
    assert provider.user.sub in text
    assert ephemeral

    text, ephemeral = await content_of(emulator, "privacy set", {"mode": "public"})
    assert ephemeral  # /privacy set always confirms ephemerally
    assert "public" in text
    text, ephemeral = await content_of(emulator, "whoami")
    assert ephemeral  # /whoami stays private in public mode: the e-mail and sub never reach the channel
    assert "public" in text
    assert provider.user.email in text
    _, ephemeral = await content_of(emulator, "dataset list")
    assert not ephemeral  # replies that may be public follow the new mode

    # The used link cannot be replayed.
    async with aiohttp.ClientSession(timeout=TIMEOUT) as other, other.get(urls[0]) as response:
        assert response.status == 400

    text, _ = await content_of(emulator, "unlink")
    assert "no longer linked" in text
    text, _ = await content_of(emulator, "whoami")
    assert "No Google account is linked" in text
    text, _ = await content_of(emulator, "unlink")
    assert "nothing changed" in text


async def test_japanese_replies(emulator: DiscordEmulator, bot: BotProcess) -> None:
    rec = await emulator.send_command("whoami", locale="ja")
    await rec.wait_message()
    assert "Google アカウントはリンクされていません" in rec.final_content()
    rec = await emulator.send_command("login", locale="ja")
    await rec.wait_message()
    assert "ブラウザでこのリンクを開いて" in rec.final_content()


async def test_without_google_login_is_not_configured(
    emulator: DiscordEmulator, start_bot: StartBot, web_url: str
) -> None:
    await start_bot()
    text, ephemeral = await content_of(emulator, "login")
    assert ephemeral
    assert "not configured" in text
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as browser,
        browser.get(f"{web_url}/auth/discord?state=anything") as response,
    ):
        assert response.status == 503
        assert "Login is not configured" in await response.text()


async def test_one_time_secrets_never_reach_the_log(
    emulator: DiscordEmulator, bot: BotProcess, provider: FakeOIDCProvider
) -> None:
    """The /login state and the provider's code travel in URLs; the access log must not print queries."""
    text, _ = await content_of(emulator, "login")
    (url,) = re.findall(r"<(http://[^>]+)>", text)
    await link_in_browser(url)
    state = parse_qs(urlsplit(url).query)["state"][0]
    await content_of(emulator, "whoami")  # a later line in the log: the web requests were logged by now
    assert state not in bot.stdout
    assert "code=" not in bot.stdout
    assert provider.client_secret not in bot.stdout
