"""The login flow end to end against a real, independently written OpenID provider: panva's oidc-provider.

The bot's web app (real store, real OIDC client) on 127.0.0.1 and oidc-provider in a Node.js process: a
cookie-aware HTTP client opens the /login URL, signs in at the provider (its development login and consent
forms), comes back to the callback and confirms. Covered: RS256, ES256 and Ed25519 ID tokens; the e-mail from
the userinfo endpoint (oidc-provider leaves scope claims out of the code flow's ID token); `iss` in the
authorization response (RFC 9207); a key rotation between two logins; a provider without `select_account`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import yarl

from ora.core.store import Store
from ora.features.account.queries import AccountQueries
from ora.features.account.routes import CONFIRM_PATH
from ora.testing.oidc import LoginSite, listening_socket, login_site
from tests.conftest import SCHEMAS
from tests.interop.node_provider import NodeOIDCProvider, sign_in_at_provider, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

USER = 1_300_000_000_000_000_900
TIMEOUT = aiohttp.ClientTimeout(total=15)


@pytest.fixture(scope="module")
def node_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeOIDCProvider]:
    provider = NodeOIDCProvider(tmp_path_factory.mktemp("oidc-provider") / "provider.log")
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "ora.db", SCHEMAS)
    yield store
    await store.close()


@asynccontextmanager
async def bot_site(store: Store, provider: NodeOIDCProvider, algorithm: str) -> AsyncIterator[LoginSite]:
    """The bot's login pages, registered at the provider as a client whose ID tokens use `algorithm`."""
    sock = listening_socket()
    redirect_uri = f"http://127.0.0.1:{sock.getsockname()[1]}/auth/google/callback"
    client_id, client_secret = await provider.register_client(redirect_uri, algorithm)
    async with login_site(
        store,
        None,
        listen=sock,
        google_issuer=provider.issuer,
        google_client_id=client_id,
        google_client_secret=client_secret,
    ) as site:
        yield site


class Trip:
    """What one browser saw on its way through the login flow."""

    def __init__(self) -> None:
        self.authorize_url = ""
        self.callback_url = ""
        self.confirm_page = ""


async def link(site: LoginSite, login: str) -> tuple[Trip, int, str]:
    """/login URL → provider sign-in → callback → confirm; returns the trip and the final page."""
    trip = Trip()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT) as browser:
        async with browser.get(await site.login_url(USER), allow_redirects=False) as response:
            assert response.status == 302, await response.text()
            trip.authorize_url = response.headers["Location"]
        trip.callback_url = await sign_in_at_provider(browser, trip.authorize_url, login)
        async with browser.get(trip.callback_url, allow_redirects=False) as response:
            trip.confirm_page = await response.text()
            assert response.status == 200, trip.confirm_page
        match = re.search(r'name="csrf_token" value="([^"]+)"', trip.confirm_page)
        assert match, trip.confirm_page
        data = {"csrf_token": match.group(1), "action": "confirm"}
        async with browser.post(site.base_url + CONFIRM_PATH, data=data) as response:
            return trip, response.status, await response.text()


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "Ed25519"])
async def test_login_end_to_end(node_provider: NodeOIDCProvider, store: Store, algorithm: str) -> None:
    login = f"alice-{algorithm.lower()}"
    async with bot_site(store, node_provider, algorithm) as site:
        trip, status, page = await link(site, login)
    assert status == 200, page
    assert "Accounts linked" in page
    # oidc-provider has no select_account prompt (it answers invalid_request to one): none was sent.
    assert "prompt" not in query_of(trip.authorize_url)
    # RFC 9207: the authorization response names its issuer.
    assert query_of(trip.callback_url)["iss"] == node_provider.issuer
    # The e-mail is not in oidc-provider's ID token for the code flow: it came from the userinfo endpoint.
    assert f"{login}@example.test" in trip.confirm_page
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert (user.google_sub, user.google_email) == (login, f"{login}@example.test")


async def test_key_rotation_between_two_logins(node_provider: NodeOIDCProvider, store: Store) -> None:
    async with bot_site(store, node_provider, "ES256") as site:
        _, status, page = await link(site, "before-rotation")
        assert status == 200, page
        new_kids = await node_provider.rotate_keys()
        # The bot's cached JWKS knows none of the new keys: the next login fetches the JWKS again at once.
        _, status, page = await link(site, "after-rotation")
    assert status == 200, page
    assert len(new_kids) == 3
    user = await AccountQueries(store).get_user(USER)
    assert user is not None
    assert user.google_sub == "after-rotation"


async def test_an_authorization_response_naming_another_issuer_is_refused(
    node_provider: NodeOIDCProvider, store: Store
) -> None:
    async with (
        bot_site(store, node_provider, "RS256") as site,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT) as browser,
    ):
        async with browser.get(await site.login_url(USER), allow_redirects=False) as response:
            authorize_url = response.headers["Location"]
        callback = yarl.URL(await sign_in_at_provider(browser, authorize_url, "mallory"))
        forged = callback.update_query(iss="https://attacker.example")
        async with browser.get(forged, allow_redirects=False) as response:
            assert response.status == 400
            assert "not issued by the expected sign-in service" in await response.text()
    user = await AccountQueries(store).get_user(USER)
    assert user is None or user.google_sub is None
