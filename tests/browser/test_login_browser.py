"""The login pages in a real headless Chromium: /login URL → provider "sign in as" → confirm → success."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, expect

from ora.core.store import Store
from ora.features.account.queries import AccountQueries
from ora.testing.browser import chromium_context, skip_reason
from ora.testing.oidc import FakeOIDCProvider, LoginSite, login_site
from tests.conftest import SCHEMAS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
USER = 1_300_000_000_000_000_300

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "ora.db", SCHEMAS)
    yield store
    await store.close()


@pytest.fixture
async def provider() -> AsyncIterator[FakeOIDCProvider]:
    async with FakeOIDCProvider(interactive=True) as provider:
        yield provider


@pytest.fixture
async def site(store: Store, provider: FakeOIDCProvider) -> AsyncIterator[LoginSite]:
    async with login_site(store, provider) as site:
        yield site


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[tuple[BrowserContext, BrowserContext, list[str]]]:
    """Two fresh profiles (English and Japanese); `problems` collects console errors such as CSP violations."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    async with (
        chromium_context(tmp_path / "profile-en", locale="en-US") as english,
        chromium_context(tmp_path / "profile-ja", locale="ja-JP") as japanese,
    ):
        for context in (english, japanese):
            context.on("console", on_console)
        yield english, japanese, problems


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


async def test_link_in_a_real_browser(
    chromium: tuple[BrowserContext, BrowserContext, list[str]],
    site: LoginSite,
    provider: FakeOIDCProvider,
    store: Store,
) -> None:
    english, _, problems = chromium
    page = english.pages[0] if english.pages else await english.new_page()
    async with asyncio.timeout(60):
        await page.goto(await site.login_url(USER))
        # The provider's "sign in as" page, then back to the bot's confirmation page.
        await page.get_by_role("button", name=f"Sign in as {provider.user.email}").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Link your accounts?")
        assert await page.get_attribute("html", "lang") == "en"
        await expect(page.get_by_role("main")).to_contain_text(provider.user.email)
        await expect(page.get_by_role("group", name="Accounts to link")).to_contain_text(str(USER))
        # The inline stylesheet is allowed by the CSP (a blocked one would leave the default button colours).
        background = await page.get_by_role("button", name="Link accounts").evaluate(
            "element => getComputedStyle(element).backgroundColor"
        )
        assert background == "rgb(29, 78, 216)"
        assert (await AccountQueries(store).get_user(USER)) is None

        await page.get_by_role("button", name="Link accounts").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Accounts linked")
        path = screenshot_path("login-success.png")
        await page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")

        cookies = await english.cookies(site.base_url)
        assert [cookie["name"] for cookie in cookies] == []  # the flow cookie is gone after the confirmation

    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert (user.google_sub, user.google_email) == (provider.user.sub, provider.user.email)
    assert problems == []


async def test_japanese_browser_can_cancel(
    chromium: tuple[BrowserContext, BrowserContext, list[str]],
    site: LoginSite,
    provider: FakeOIDCProvider,
    store: Store,
) -> None:
    _, japanese, problems = chromium
    page = japanese.pages[0] if japanese.pages else await japanese.new_page()
    async with asyncio.timeout(60):
        await page.goto(await site.login_url(USER))
        flow_cookies = await japanese.cookies(site.base_url)
        assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in flow_cookies] == [("ora_login", True, "Lax")]
        await page.get_by_role("button", name=f"Sign in as {provider.user.email}").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("アカウントをリンクしますか?")
        assert await page.get_attribute("html", "lang") == "ja"
        path = screenshot_path("login-confirm-ja.png")
        await page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
        await page.get_by_role("button", name="キャンセル").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("リンクは行われていません")

        # An expired link shows the 400 page, in Japanese.
        response = await page.goto(await site.login_url(USER, ttl=-1))
        assert response is not None
        assert response.status == 400
        await expect(page.get_by_role("heading", level=1)).to_have_text("このログインリンクは使用できません")
    assert (await AccountQueries(store).get_user(USER)) is None
    # Chromium logs a 400 document load as a console error; nothing else (no CSP violation) may appear.
    assert [problem for problem in problems if "400" not in problem] == []
