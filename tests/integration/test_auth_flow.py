"""The Google login flow over HTTP: /auth/discord → FakeOIDCProvider → callback → confirm, and every refusal."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from multidict import CIMultiDict

from ora.core.store import Store
from ora.features.account.queries import AccountQueries
from ora.features.account.routes import CONFIRM_PATH, login_url, new_login_state
from ora.testing.oidc import FakeOIDCProvider, LoginSite, OIDCTestUser, login_site

USER = 1_300_000_000_000_000_300
OTHER_USER = 1_300_000_000_000_000_301
TIMEOUT = aiohttp.ClientTimeout(total=15)


class Browser:
    """One browser: its own cookie jar; redirects are followed by hand so each hop can be checked."""

    def __init__(self, site: LoginSite, *, language: str = "en") -> None:
        self.site = site
        # unsafe=True: aiohttp's jar otherwise ignores cookies set by an IP-address host (127.0.0.1).
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT, headers={"Accept-Language": language}
        )

    async def close(self) -> None:
        await self.session.close()

    async def get(self, url: str) -> tuple[int, str, CIMultiDict[str]]:
        async with self.session.get(url, allow_redirects=False) as response:
            return response.status, await response.text(), response.headers.copy()

    async def open_login(self, url: str) -> str:
        """GET the /login URL; returns the provider's authorization URL it redirects to."""
        status, text, headers = await self.get(url)
        assert status == 302, text
        return str(headers["Location"])

    async def through_provider(self, authorize_url: str) -> str:
        """The provider auto-approves (or refuses) and redirects back; returns the callback URL."""
        status, text, headers = await self.get(authorize_url)
        assert status == 302, text
        return str(headers["Location"])

    async def sign_in(self, login_url: str) -> tuple[int, str]:
        """Login URL → provider → callback; returns the callback page."""
        callback = await self.through_provider(await self.open_login(login_url))
        status, text, _ = await self.get(callback)
        return status, text

    async def confirm(self, csrf_token: str, action: str = "confirm") -> tuple[int, str]:
        data = {"csrf_token": csrf_token, "action": action}
        async with self.session.post(self.site.base_url + CONFIRM_PATH, data=data, allow_redirects=False) as response:
            return response.status, await response.text()


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


@pytest.fixture
async def provider() -> AsyncIterator[FakeOIDCProvider]:
    async with FakeOIDCProvider() as provider:
        yield provider


@pytest.fixture
async def site(store: Store, provider: FakeOIDCProvider) -> AsyncIterator[LoginSite]:
    async with login_site(store, provider) as site:
        yield site


@pytest.fixture
async def browser(site: LoginSite) -> AsyncIterator[Browser]:
    browser = Browser(site)
    yield browser
    await browser.close()


@pytest.fixture
async def other_browser(site: LoginSite) -> AsyncIterator[Browser]:
    browser = Browser(site)
    yield browser
    await browser.close()


async def assert_not_linked(store: Store, user_id: int = USER) -> None:
    user = await AccountQueries(store).get_user(user_id)
    assert user is None or user.google_sub is None


# --- the happy path ------------------------------------------------------------------------------


async def test_happy_path_links_only_after_the_confirming_post(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider, store: Store
) -> None:
    login = await site.login_url(USER)
    async with browser.session.get(login, allow_redirects=False) as response:
        assert response.status == 302
        authorize = response.headers["Location"]
        set_cookie = response.headers["Set-Cookie"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # the base URL is http://127.0.0.1

    parts = urlsplit(authorize)
    assert f"{parts.scheme}://{parts.netloc}" == provider.issuer
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email"
    assert query["client_id"] == provider.client_id
    assert query["redirect_uri"] == f"{site.settings.web_base_url}/auth/google/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["nonce"]) >= 22
    login_state = parse_qs(urlsplit(login).query)["state"][0]
    assert query["state"] != login_state  # a fresh OAuth state, not the /login one

    callback = await browser.through_provider(authorize)
    status, page, headers = await browser.get(callback)
    assert status == 200, page
    assert "Content-Security-Policy" in headers
    assert "frame-ancestors 'none'" in str(headers["Content-Security-Policy"])
    assert provider.user.email in page
    assert provider.user.sub in page
    assert str(USER) in page
    await assert_not_linked(store)  # nothing stored before the confirmation

    token = csrf_of(page)
    status, page = await browser.confirm(token)
    assert status == 200, page
    assert "Accounts linked" in page
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert (user.google_sub, user.google_email) == (provider.user.sub, provider.user.email)
    assert [(r.auth_method, r.had_code_verifier, r.outcome) for r in provider.token_requests] == [
        ("client_secret_basic", True, "ok")
    ]

    # The confirmation is single-use.
    status, page = await browser.confirm(token)
    assert status == 400


async def test_client_secret_post_when_the_provider_only_supports_it(store: Store, tmp_path: Path) -> None:
    async with (
        FakeOIDCProvider(auth_methods=("client_secret_post",)) as provider,
        login_site(store, provider) as site,
    ):
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
            assert status == 200, page
            assert (await browser.confirm(csrf_of(page)))[0] == 200
        finally:
            await browser.close()
        assert [r.auth_method for r in provider.token_requests] == ["client_secret_post"]
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert user.google_sub == provider.user.sub


async def test_pages_follow_accept_language(site: LoginSite, store: Store) -> None:
    browser = Browser(site, language="ja,en;q=0.5")
    try:
        status, page = await browser.sign_in(await site.login_url(USER))
        assert status == 200
        assert '<html lang="ja">' in page
        assert "アカウントをリンクしますか" in page
        status, page = await browser.confirm(csrf_of(page))
        assert status == 200
        assert "アカウントをリンクしました" in page
        status, page, _ = await browser.get(f"{site.base_url}/auth/discord?state=nope")
        assert status == 400
        assert "このログインリンクは使用できません" in page
    finally:
        await browser.close()


async def test_cancel_links_nothing(site: LoginSite, browser: Browser, store: Store) -> None:
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 200
    status, page = await browser.confirm(csrf_of(page), action="cancel")
    assert status == 200
    assert "Nothing was linked" in page
    await assert_not_linked(store)


async def test_secure_cookie_with_an_https_public_base_url(store: Store, provider: FakeOIDCProvider) -> None:
    async with login_site(store, provider, public_base_url="https://ora.example") as site:
        login = await site.login_url(USER)
        assert login.startswith("https://ora.example/auth/discord?state=")
        local = site.base_url + login.removeprefix("https://ora.example")
        browser = Browser(site)
        try:
            async with browser.session.get(local, allow_redirects=False) as response:
                assert response.status == 302
                set_cookie = response.headers["Set-Cookie"]
                redirect = parse_qs(urlsplit(response.headers["Location"]).query)["redirect_uri"][0]
        finally:
            await browser.close()
    assert set_cookie.startswith("__Host-ora_login=")
    assert "Secure" in set_cookie
    assert "Path=/" in set_cookie
    assert redirect == "https://ora.example/auth/google/callback"


# --- refusals: the login state ----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?state=", "?state=unknown-state", "?state=" + "x" * 1000])
async def test_unknown_state_is_refused(site: LoginSite, browser: Browser, query: str) -> None:
    status, page, headers = await browser.get(f"{site.base_url}/auth/discord{query}")
    assert status == 400
    assert "This login link cannot be used" in page
    assert "Set-Cookie" not in headers


async def test_expired_state_is_refused(site: LoginSite, browser: Browser, store: Store) -> None:
    login = await site.login_url(USER, ttl=-1)
    status, page, _ = await browser.get(login)
    assert status == 400
    assert "expired" in page
    await assert_not_linked(store)


async def test_used_state_is_refused(site: LoginSite, browser: Browser, other_browser: Browser) -> None:
    login = await site.login_url(USER)
    status, page = await browser.sign_in(login)
    assert status == 200
    for who in (browser, other_browser):
        status, page, _ = await who.get(login)
        assert status == 400
        assert "already been used" in page


async def test_each_login_url_is_fresh(site: LoginSite) -> None:
    first, second = await site.login_url(USER), await site.login_url(USER)
    assert first != second


# --- refusals: the browser binding and CSRF ------------------------------------------------------------


async def test_callback_without_the_cookie_is_refused(
    site: LoginSite, browser: Browser, other_browser: Browser, store: Store
) -> None:
    callback = await browser.through_provider(await browser.open_login(await site.login_url(USER)))
    status, page, _ = await other_browser.get(callback)  # another browser, no cookie at all
    assert status == 400
    assert "cookie is missing" in page
    await assert_not_linked(store)
    # The rightful browser can still finish.
    status, page, _ = await browser.get(callback)
    assert status == 200


async def test_callback_in_another_browser_with_its_own_flow_is_refused(
    site: LoginSite, browser: Browser, other_browser: Browser, store: Store
) -> None:
    victim_callback = await browser.through_provider(await browser.open_login(await site.login_url(USER)))
    await other_browser.open_login(await site.login_url(OTHER_USER))  # has a cookie, for another flow
    status, page, _ = await other_browser.get(victim_callback)
    assert status == 400
    assert "started in another browser" in page
    await assert_not_linked(store, USER)
    await assert_not_linked(store, OTHER_USER)


async def test_csrf_mismatch_is_refused(site: LoginSite, browser: Browser, store: Store) -> None:
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 200
    status, refused = await browser.confirm("forged-token")
    assert status == 400
    assert "This confirmation cannot be used" in refused
    status, refused = await browser.confirm("")
    assert status == 400
    await assert_not_linked(store)
    assert (await browser.confirm(csrf_of(page)))[0] == 200


async def test_confirm_from_another_browser_is_refused(
    site: LoginSite, browser: Browser, other_browser: Browser, store: Store
) -> None:
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 200
    token = csrf_of(page)
    status, refused = await other_browser.confirm(token)  # no cookie
    assert status == 400
    assert "cookie is missing" in refused
    await other_browser.open_login(await site.login_url(OTHER_USER))
    status, refused = await other_browser.confirm(token)  # a cookie, but not this flow's
    assert status == 400
    assert "belongs to another browser" in refused
    await assert_not_linked(store)


# --- refusals: the provider ------------------------------------------------------------------------------


async def test_access_denied(site: LoginSite, browser: Browser, provider: FakeOIDCProvider, store: Store) -> None:
    login = await site.login_url(USER)
    provider.faults.deny = True
    callback = await browser.through_provider(await browser.open_login(login))
    assert "error=access_denied" in callback
    status, page, _ = await browser.get(callback)
    assert status == 400
    assert "Sign-in cancelled" in page
    assert provider.token_requests == []
    await assert_not_linked(store)
    # Declining at the provider does not burn the /login link: the user may retry.
    provider.faults.reset()
    status, page = await browser.sign_in(login)
    assert status == 200


async def test_other_provider_error_is_shown_escaped(
    site: LoginSite, browser: Browser, store: Store, provider: FakeOIDCProvider
) -> None:
    authorize = await browser.open_login(await site.login_url(USER))
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    iss = quote(provider.issuer, safe="")
    callback = f"{site.base_url}/auth/google/callback?state={state}&iss={iss}&error=%3Cscript%3Ealert(1)%3C/script%3E"
    status, page, _ = await browser.get(callback)
    assert status == 400
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    await assert_not_linked(store)


async def test_token_endpoint_500(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    provider.faults.token_status = 500
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 502
    assert "token exchange failed" in page
    await assert_not_linked(store)
    assert provider.client_secret not in caplog.text
    assert "HTTP 500" in caplog.text


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("wrong_key", "signature does not match"),
        ("wrong_audience", "issued for another application"),
        ("expired", "has expired"),
        ("wrong_nonce", "does not belong to this sign-in attempt"),
        ("wrong_issuer", "not issued by the expected sign-in service"),
    ],
)
async def test_id_token_faults(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider, store: Store, fault: str, reason: str
) -> None:
    setattr(provider.faults, fault, True)
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 400
    assert "could not be verified" in page
    assert reason in page
    assert "csrf_token" not in page
    await assert_not_linked(store)


async def test_provider_down(store: Store) -> None:
    provider = FakeOIDCProvider()
    await provider.start()
    async with login_site(store, provider) as site:
        await provider.stop()
        browser = Browser(site)
        try:
            status, page, _ = await browser.get(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 502
    assert "did not answer" in page


# --- links held by someone else --------------------------------------------------------------------------


async def test_google_account_linked_to_another_discord_user_is_refused(
    site: LoginSite, browser: Browser, other_browser: Browser, store: Store, provider: FakeOIDCProvider
) -> None:
    await AccountQueries(store).upsert_google_sub(OTHER_USER, provider.user.sub, provider.user.email)
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 200
    status, page = await browser.confirm(csrf_of(page))
    assert status == 409
    assert "already linked to another Discord user" in page
    await assert_not_linked(store, USER)
    holder = await AccountQueries(store).get_user(OTHER_USER)
    assert holder is not None
    assert holder.google_sub == provider.user.sub


async def test_relinking_the_same_user_replaces_the_link(store: Store, tmp_path: Path) -> None:
    first, second = OIDCTestUser(sub="1", email="first@example.com"), OIDCTestUser(sub="2", email="second@example.com")
    async with FakeOIDCProvider(user=first) as provider, login_site(store, provider) as site:
        for identity in (first, second):
            provider.user = identity
            browser = Browser(site)
            try:
                status, page = await browser.sign_in(await site.login_url(USER))
                assert status == 200
                assert (await browser.confirm(csrf_of(page)))[0] == 200
            finally:
                await browser.close()
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert (user.google_sub, user.google_email) == ("2", "second@example.com")


async def test_user_controlled_values_are_escaped(store: Store) -> None:
    hostile = OIDCTestUser(sub='"><img src=x onerror=alert(1)>', email="<b>mallory</b>@example.com")
    async with FakeOIDCProvider(user=hostile) as provider, login_site(store, provider) as site:
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 200
    assert "<b>mallory</b>" not in page
    assert "&lt;b&gt;mallory&lt;/b&gt;@example.com" in page
    assert "<img" not in page


# --- not configured ------------------------------------------------------------------------------------


async def test_not_configured(store: Store) -> None:
    async with login_site(store, None) as site:
        assert site.oidc is None
        browser = Browser(site)
        try:
            for path in ("/auth/discord?state=anything", "/auth/google/callback?state=x&code=y"):
                status, page, _ = await browser.get(site.base_url + path)
                assert status == 503
                assert "Login is not configured" in page
            status, page = await browser.confirm("token")
            assert status == 503
        finally:
            await browser.close()


# --- concurrency ----------------------------------------------------------------------------------------


async def test_concurrent_callbacks_of_one_flow_exactly_one_proceeds(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider
) -> None:
    callback = await browser.through_provider(await browser.open_login(await site.login_url(USER)))
    async with asyncio.timeout(15):
        results = await asyncio.gather(*(browser.get(callback) for _ in range(4)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 400, 400, 400]
    assert len(provider.token_requests) == 1


async def test_concurrent_callbacks_for_one_login_state_exactly_one_proceeds(
    site: LoginSite, provider: FakeOIDCProvider, store: Store
) -> None:
    """Two browsers open the same /login link; both come back from the provider at once: one wins."""
    login = await site.login_url(USER)
    browsers = [Browser(site), Browser(site)]
    try:
        callbacks = [await b.through_provider(await b.open_login(login)) for b in browsers]
        async with asyncio.timeout(15):
            results = await asyncio.gather(*(b.get(c) for b, c in zip(browsers, callbacks, strict=True)))
    finally:
        for b in browsers:
            await b.close()
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 400]
    loser = next(page for status, page, _ in results if status == 400)
    assert "already been used" in loser
    assert len(provider.token_requests) == 1  # the loser never exchanged its code
    await assert_not_linked(store)


async def test_head_requests_have_no_effect(site: LoginSite, browser: Browser, store: Store) -> None:
    login = await site.login_url(USER)
    async with browser.session.head(login, allow_redirects=False) as response:
        assert response.status == 405
        assert "Set-Cookie" not in response.headers
    status, page = await browser.sign_in(login)  # the link still works
    assert status == 200
    assert "csrf_token" in page


async def test_unexpected_failures_give_a_page_with_an_error_id(
    site: LoginSite, browser: Browser, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    login = await site.login_url(USER)
    await store.close()  # the database goes away under the web app
    status, page, _ = await browser.get(login)
    assert status == 500
    match = re.search(r"error id ([0-9a-f]{8})", page)
    assert match, page
    assert f"error id {match.group(1)}" in caplog.text
    state = parse_qs(urlsplit(login).query)["state"][0]
    assert state not in caplog.text


# --- interoperability: what standard providers do -----------------------------------------------------


async def test_prompt_the_provider_does_not_support_is_not_sent(store: Store) -> None:
    async with (
        FakeOIDCProvider(prompt_values=("login", "consent")) as provider,
        login_site(store, provider) as site,
    ):
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 200, page
    assert "prompt" not in provider.authorize_requests[0]


async def test_the_providers_error_description_is_shown_and_logged(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider.faults.authorize_error = ("invalid_request", "unsupported <b>prompt</b> value requested" + "!" * 300)
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 400
    assert "invalid_request" in page
    assert "unsupported &lt;b&gt;prompt&lt;/b&gt; value requested" in page
    assert "!" * 250 not in page  # capped
    assert "unsupported <b>prompt</b> value requested" in caplog.text
    assert "!" * 250 not in caplog.text


async def test_the_email_from_userinfo_is_shown_and_stored(store: Store) -> None:
    async with FakeOIDCProvider(email_in_id_token=False) as provider, login_site(store, provider) as site:
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
            assert status == 200, page
            assert provider.user.email in page
            assert (await browser.confirm(csrf_of(page)))[0] == 200
        finally:
            await browser.close()
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert user.google_email == provider.user.email


async def test_userinfo_about_another_subject_is_refused(store: Store) -> None:
    async with FakeOIDCProvider(email_in_id_token=False) as provider, login_site(store, provider) as site:
        provider.faults.userinfo_sub = "someone-else"
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 400
    assert "about another account" in page
    await assert_not_linked(store)


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
async def test_id_tokens_signed_with_other_algorithms(store: Store, algorithm: str) -> None:
    async with FakeOIDCProvider(algorithm=algorithm) as provider, login_site(store, provider) as site:
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 200, page
    assert "csrf_token" in page


async def test_long_authorization_codes_are_accepted(store: Store) -> None:
    async with FakeOIDCProvider(code_length=3000) as provider, login_site(store, provider) as site:
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 200, page
    assert [request.code_length for request in provider.token_requests] == [3000]


async def test_an_oversized_code_is_named_in_the_page_and_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeOIDCProvider(code_length=5000) as provider, login_site(store, provider) as site:
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
    assert status == 400
    assert "code too long" in page
    assert "missing code" not in page
    assert "code too long (5000 characters)" in caplog.text
    assert provider.token_requests == []


@pytest.mark.parametrize(
    ("fault", "value"), [("response_iss", "https://attacker.example"), ("omit_response_iss", True)]
)
async def test_authorization_response_from_another_issuer_is_refused(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider, store: Store, fault: str, value: object
) -> None:
    setattr(provider.faults, fault, value)
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 400
    assert "not issued by the expected sign-in service" in page
    assert provider.token_requests == []  # the code was never redeemed
    await assert_not_linked(store)


async def test_a_provider_without_usable_client_authentication_is_refused_before_sign_in(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        FakeOIDCProvider(auth_methods=("private_key_jwt",)) as provider,
        login_site(store, provider) as site,
    ):
        browser = Browser(site)
        try:
            status, page, headers = await browser.get(await site.login_url(USER))
        finally:
            await browser.close()
        assert provider.authorize_requests == []
    assert status == 502
    assert "cannot be used" in page
    assert "Location" not in headers
    assert any(r.levelname == "ERROR" and "client_secret_basic" in r.getMessage() for r in caplog.records)


# --- failures the user did not cause leave the /login URL usable --------------------------------------


@pytest.mark.parametrize(
    ("fault", "value", "text"),
    [
        ("token_status", 500, "token exchange failed"),
        ("token_status", 503, "token exchange failed"),
        ("jwks_status", 500, "did not answer"),
        ("userinfo_status", 502, "did not answer"),
    ],
)
async def test_provider_failures_leave_the_login_url_usable(store: Store, fault: str, value: object, text: str) -> None:
    async with FakeOIDCProvider(email_in_id_token=False) as provider, login_site(store, provider) as site:
        login = await site.login_url(USER)
        setattr(provider.faults, fault, value)
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(login)
            assert status == 502
            assert text in page
            assert "has not been used up" in page
            provider.faults.reset()
            status, page = await browser.sign_in(login)  # the same link, again
            assert status == 200, page
            assert (await browser.confirm(csrf_of(page)))[0] == 200
        finally:
            await browser.close()
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert user.google_sub == provider.user.sub


async def test_a_rotated_key_right_after_a_sign_in_does_not_fail_the_next_one(
    site: LoginSite, provider: FakeOIDCProvider
) -> None:
    for _ in range(2):
        browser = Browser(site)
        try:
            status, page = await browser.sign_in(await site.login_url(USER))
        finally:
            await browser.close()
        assert status == 200, page
        provider.rotate_key()
    assert provider.jwks_requests == 2


async def test_a_failed_id_token_check_uses_up_the_login_url(
    site: LoginSite, browser: Browser, provider: FakeOIDCProvider
) -> None:
    login = await site.login_url(USER)
    provider.faults.wrong_nonce = True
    status, page = await browser.sign_in(login)
    assert status == 400
    provider.faults.reset()
    status, page, _ = await browser.get(login)
    assert status == 400
    assert "already been used" in page


# --- bad input and limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xx", b"garbage"),
        ("multipart/form-data", b"--xx\r\n"),
        ("multipart/form-data; boundary=xx", b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\nv'),
        ("multipart/form-data; boundary=xx", b"--xx\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xx--\r\n"),
        (
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=nope\r\n\r\n'
            b"v\r\n--xx--\r\n",
        ),
        (
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n\xff\xfe\r\n--xx--\r\n',
        ),
    ],
)
async def test_a_malformed_confirmation_form_is_a_400(
    site: LoginSite, browser: Browser, caplog: pytest.LogCaptureFixture, content_type: str, body: bytes
) -> None:
    status, page = await browser.sign_in(await site.login_url(USER))
    assert status == 200
    async with browser.session.post(
        site.base_url + CONFIRM_PATH, data=body, headers={"Content-Type": content_type}
    ) as response:
        assert response.status == 400
        assert "The form could not be read" in await response.text()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert (await browser.confirm(csrf_of(page)))[0] == 200  # the real confirmation still works


async def test_the_confirmation_page_filters_the_discord_name(site: LoginSite, browser: Browser) -> None:
    state = new_login_state()
    await site.accounts.create_login_state(state, USER, 600, discord_name="evil\u202egnp.exe")
    status, page = await browser.sign_in(login_url(site.settings.web_base_url, state))
    assert status == 200
    assert "\u202e" not in page
    assert "@evil\ufffdgnp.exe" in page


async def test_login_routes_are_rate_limited_per_client(store: Store, provider: FakeOIDCProvider) -> None:
    async with login_site(store, provider, login_rate_limit=3) as site:
        browser = Browser(site)
        try:
            for _ in range(3):
                assert (await browser.get(f"{site.base_url}/auth/discord?state=nope"))[0] == 400
            status, page, headers = await browser.get(await site.login_url(USER))
            assert status == 429
            assert "Too many requests" in page
            assert 1 <= int(headers["Retry-After"]) <= 20
            japanese = Browser(site, language="ja")
            try:
                status, page, _ = await japanese.get(f"{site.base_url}/auth/discord?state=nope")
            finally:
                await japanese.close()
            assert status == 429
            assert "リクエストが多すぎます" in page
            # A forged X-Forwarded-For does not escape the limit: 127.0.0.1 is not a trusted proxy here.
            async with browser.session.get(
                f"{site.base_url}/auth/discord?state=nope", headers={"X-Forwarded-For": "203.0.113.9"}
            ) as response:
                assert response.status == 429
            async with browser.session.get(f"{site.base_url}/healthz") as response:
                assert response.status == 200  # only the login routes are limited
        finally:
            await browser.close()


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    store: Store, provider: FakeOIDCProvider
) -> None:
    async with login_site(store, provider, login_rate_limit=2, web_trusted_proxies=("127.0.0.1",)) as site:
        browser = Browser(site)
        url = f"{site.base_url}/auth/discord?state=nope"
        try:
            for client, expected in (("203.0.113.1", [400, 400, 429]), ("203.0.113.2", [400, 400, 429])):
                statuses = []
                for _ in expected:
                    # The client may send its own X-Forwarded-For; the proxy appends the address it saw.
                    headers = {"X-Forwarded-For": f"198.51.100.7, {client}"}
                    async with browser.session.get(url, headers=headers, allow_redirects=False) as response:
                        statuses.append(response.status)
                assert statuses == expected, client
        finally:
            await browser.close()
