"""OIDCClient against FakeOIDCProvider and small misbehaving servers: discovery, probe, token checks."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import OctKey

from ora.services import oidc as oidc_module
from ora.services.oidc import PKCE, OIDCClient, OIDCError, new_secret
from ora.testing.oidc import FakeOIDCProvider, OIDCTestUser

REDIRECT = "http://127.0.0.1:9/auth/google/callback"


@pytest.fixture
async def provider() -> AsyncIterator[FakeOIDCProvider]:
    async with FakeOIDCProvider() as provider:
        yield provider


@pytest.fixture
async def client(provider: FakeOIDCProvider) -> AsyncIterator[OIDCClient]:
    async with OIDCClient(provider.issuer, provider.client_id, provider.client_secret, timeout=5.0) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def sign_in(client: OIDCClient, provider: FakeOIDCProvider) -> tuple[str, str, str]:
    """Drive the authorize endpoint directly; returns (code, verifier, nonce)."""
    pkce, nonce, state = PKCE.generate(), new_secret(), new_secret()
    url = await client.authorization_url(redirect_uri=REDIRECT, state=state, nonce=nonce, code_challenge=pkce.challenge)
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, allow_redirects=False) as response,
    ):
        assert response.status == 302
        location = response.headers["Location"]
    query = dict(part.split("=", 1) for part in location.split("?", 1)[1].split("&"))
    assert query["state"] == state
    return query["code"], pkce.verifier, nonce


def claims_for(provider: FakeOIDCProvider, expected_nonce: str, /, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": provider.client_id,
        "sub": "42",
        "email": "a@example.com",
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        "nonce": expected_nonce,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


async def test_exchange_code_returns_the_verified_identity(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    code, verifier, nonce = await sign_in(client, provider)
    identity = await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    assert (identity.sub, identity.email, identity.email_verified) == (provider.user.sub, provider.user.email, True)


async def test_a_code_works_once(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    code, verifier, nonce = await sign_in(client, provider)
    await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    with pytest.raises(OIDCError) as caught:
        await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    assert caught.value.code == "token_endpoint"
    assert "invalid_grant" in str(caught.value)


async def test_wrong_pkce_verifier_is_refused_by_the_provider(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    code, _, nonce = await sign_in(client, provider)
    with pytest.raises(OIDCError) as caught:
        await client.exchange_code(
            code=code, redirect_uri=REDIRECT, code_verifier=PKCE.generate().verifier, nonce=nonce
        )
    assert caught.value.code == "token_endpoint"


async def test_secrets_with_reserved_characters_survive_basic_auth() -> None:
    secret = "s3cr:t/+ %é&="
    async with (
        FakeOIDCProvider(client_id="id:with/odd chars", client_secret=secret) as provider,
        OIDCClient(provider.issuer, provider.client_id, secret) as client,
    ):
        code, verifier, nonce = await sign_in(client, provider)
        await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
        assert [r.auth_method for r in provider.token_requests] == ["client_secret_basic"]


async def test_secret_never_in_errors(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    code, verifier, nonce = await sign_in(client, provider)
    provider.faults.token_status = 500
    with pytest.raises(OIDCError) as caught:
        await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    text = f"{caught.value!s} {caught.value!r} {client!r}"
    for secret in (provider.client_secret, code, verifier):
        assert secret not in text
    assert caught.value.code == "token_endpoint"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("wrong_key", "bad_signature"),
        ("wrong_audience", "wrong_audience"),
        ("expired", "expired"),
        ("wrong_nonce", "wrong_nonce"),
        ("wrong_issuer", "wrong_issuer"),
    ],
)
async def test_fault_codes(client: OIDCClient, provider: FakeOIDCProvider, fault: str, code: str) -> None:
    signed_in = await sign_in(client, provider)
    setattr(provider.faults, fault, True)
    with pytest.raises(OIDCError) as caught:
        await client.exchange_code(
            code=signed_in[0], redirect_uri=REDIRECT, code_verifier=signed_in[1], nonce=signed_in[2]
        )
    assert caught.value.code == code


async def test_rotated_keys_are_refetched(
    client: OIDCClient, provider: FakeOIDCProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_module, "JWKS_REFRESH_INTERVAL", 0.0)
    nonce = new_secret()
    await client.verify_id_token(provider.sign(claims_for(provider, nonce)), nonce=nonce)
    provider.rotate_key()
    identity = await client.verify_id_token(provider.sign(claims_for(provider, nonce)), nonce=nonce)
    assert identity.sub == "42"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"nonce": None}, "wrong_nonce"),
        ({"sub": None}, "bad_token"),
        ({"exp": None}, "bad_token"),
        ({"iat": int(time.time()) + 3600}, "bad_token"),
        ({"aud": ["ora-test-client", "someone-else"]}, "wrong_audience"),  # several audiences, no azp
        ({"aud": ["someone-else"]}, "wrong_audience"),
    ],
)
async def test_claim_checks(client: OIDCClient, provider: FakeOIDCProvider, changes: dict[str, Any], code: str) -> None:
    nonce = new_secret()
    with pytest.raises(OIDCError) as caught:
        await client.verify_id_token(provider.sign(claims_for(provider, nonce, **changes)), nonce=nonce)
    assert caught.value.code == code


async def test_several_audiences_with_our_azp_are_accepted(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    nonce = new_secret()
    claims = claims_for(provider, nonce, aud=[provider.client_id, "other"], azp=provider.client_id)
    assert (await client.verify_id_token(provider.sign(claims), nonce=nonce)).sub == "42"


async def test_unverified_email_is_reported(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    nonce = new_secret()
    claims = claims_for(provider, nonce, email_verified=False)
    identity = await client.verify_id_token(provider.sign(claims), nonce=nonce)
    assert identity.email_verified is False


async def test_hmac_and_none_algorithms_are_refused(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    nonce = new_secret()
    claims = claims_for(provider, nonce)
    # HS256 keyed with the client secret: anyone who knows the secret could mint tokens.
    hmac_token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(provider.client_secret * 4))
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (hmac_token, f"{header}.{payload}.", "not-a-jwt", "a.b.c"):
        with pytest.raises(OIDCError) as caught:
            await client.verify_id_token(token, nonce=nonce)
        assert caught.value.code == "bad_token"


async def test_unknown_kid_is_a_bad_signature(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    nonce = new_secret()
    token = provider.sign(claims_for(provider, nonce), header={"kid": "unknown"})
    with pytest.raises(OIDCError) as caught:
        await client.verify_id_token(token, nonce=nonce)
    assert caught.value.code == "bad_signature"


async def test_discovery_is_lazy_and_probe_follows_the_provider() -> None:
    port = free_port()
    provider = FakeOIDCProvider(port=port)
    issuer = f"http://127.0.0.1:{port}"
    async with OIDCClient(issuer, provider.client_id, provider.client_secret, timeout=2.0) as client:
        assert await client.probe() is False  # down at start-up: no exception, just "unreachable"
        with pytest.raises(OIDCError) as caught:
            await client.metadata()
        assert caught.value.code == "unavailable"
        async with provider:
            assert await client.probe() is True
            assert (await client.metadata()).token_endpoint == f"{issuer}/token"
        assert await client.probe() is False


async def test_probe_is_bounded() -> None:
    release = asyncio.Event()

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    runner, base = await serve(hang)
    try:
        async with OIDCClient(base, "id", "secret", timeout=30.0) as client:
            started = time.monotonic()
            assert await client.probe(timeout=0.3) is False
            assert time.monotonic() - started < 2.0
    finally:
        release.set()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("document", "status", "code"),
    [
        ({"issuer": "https://elsewhere.example"}, 200, "bad_discovery"),
        ({"issuer": "SELF", "authorization_endpoint": "javascript:alert(1)"}, 200, "bad_discovery"),
        ([1, 2, 3], 200, "bad_discovery"),
        ({"error": "down"}, 503, "unavailable"),
        ({"error": "missing"}, 404, "bad_discovery"),
    ],
)
async def test_bad_discovery_documents(document: Any, status: int, code: str) -> None:
    base = ""

    async def discovery(_: web.Request) -> web.Response:
        body = json.dumps(document).replace('"SELF"', json.dumps(base))
        return web.Response(text=body, status=status, content_type="application/json")

    runner, base = await serve(discovery)
    try:
        async with OIDCClient(base, "id", "secret") as client:
            with pytest.raises(OIDCError) as caught:
                await client.metadata()
            assert caught.value.code == code
    finally:
        await runner.cleanup()


async def test_oversized_responses_are_refused() -> None:
    async def huge(_: web.Request) -> web.Response:
        return web.Response(body=b"{" + b" " * (2 * 1024 * 1024) + b"}", content_type="application/json")

    runner, base = await serve(huge)
    try:
        async with OIDCClient(base, "id", "secret") as client:
            with pytest.raises(OIDCError) as caught:
                await client.metadata()
            assert caught.value.code == "unavailable"
    finally:
        await runner.cleanup()


async def test_only_post_auth_is_used_when_basic_is_not_offered() -> None:
    async with (
        FakeOIDCProvider(auth_methods=("client_secret_post",), user=OIDCTestUser(sub="7")) as provider,
        OIDCClient(provider.issuer, provider.client_id, provider.client_secret) as client,
    ):
        code, verifier, nonce = await sign_in(client, provider)
        identity = await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
        assert identity.sub == "7"
        assert [r.auth_method for r in provider.token_requests] == ["client_secret_post"]
