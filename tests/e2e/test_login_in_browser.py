"""The whole Google login as a person does it: /login in Discord (the emulator) → headless Chromium → the
OpenID provider's sign-in page → the bot's confirmation page → /whoami shows the link. `python -m ora` runs as
a real process; Chromium is Debian's, driven by Playwright."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from ora.testing.browser import chromium_context, skip_reason
from ora.testing.discord import DiscordEmulator
from ora.testing.oidc import FakeOIDCProvider
from tests.e2e.conftest import StartBot

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
]


@pytest.fixture
async def provider() -> AsyncIterator[FakeOIDCProvider]:
    async with FakeOIDCProvider(interactive=True) as provider:
        yield provider


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    async with chromium_context(tmp_path / "profile") as context:
        yield context.pages[0] if context.pages else await context.new_page()


async def test_login_from_discord_to_whoami_in_a_real_browser(
    emulator: DiscordEmulator, start_bot: StartBot, provider: FakeOIDCProvider, page: Page
) -> None:
    await start_bot(
        GOOGLE_ISSUER=provider.issuer,
        GOOGLE_CLIENT_ID=provider.client_id,
        GOOGLE_CLIENT_SECRET=provider.client_secret,
    )
    rec = await emulator.send_command("login")
    reply = (await rec.wait_initial())["data"]["content"]
    assert rec.ephemeral
    match = re.search(r"http://127\.0\.0\.1:\d+/auth/discord\?state=[\w-]+", reply)
    assert match, reply

    async with asyncio.timeout(60):
        await page.goto(match.group(0))
        await page.get_by_role("button", name=f"Sign in as {provider.user.email}").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Link your accounts?")
        await expect(page.get_by_role("main")).to_contain_text(f"@{emulator.default_user.username}")
        await page.get_by_role("button", name="Link accounts").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Accounts linked")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "e2e-login-linked.png", full_page=True)

    whoami = await emulator.send_command("whoami")
    message = await whoami.wait_message(timeout=10)
    assert provider.user.email in message["content"]
    assert provider.user.sub in message["content"]
    # The same /login URL cannot be used twice.
    response = await page.goto(match.group(0))
    assert response is not None
    assert response.status == 400
    await expect(page.get_by_role("main")).to_contain_text("already been used")
