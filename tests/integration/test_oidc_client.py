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
import yarl
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import OctKey

from ora.features.account import oidc as oidc_module
from ora.features.account.oidc import PKCE, OIDCClient, OIDCError, new_secret
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


async def test_keys_rotated_right_after_a_fetch_are_fetched_again(
    client: OIDCClient, provider: FakeOIDCProvider
) -> None:
    nonce = new_secret()
    await client.verify_id_token(provider.sign(claims_for(provider, nonce)), nonce=nonce)
    provider.rotate_key()  # within a second of the first fetch: the new kid is not in the cached JWKS
    async with asyncio.timeout(5):
        identity = await client.verify_id_token(provider.sign(claims_for(provider, nonce)), nonce=nonce)
    assert identity.sub == "42"
    assert provider.jwks_requests == 2


async def test_concurrent_sign_ins_with_a_new_key_share_one_fetch(
    client: OIDCClient, provider: FakeOIDCProvider
) -> None:
    nonce = new_secret()
    await client.verify_id_token(provider.sign(claims_for(provider, nonce)), nonce=nonce)
    provider.rotate_key()
    tokens = [provider.sign(claims_for(provider, nonce, sub=str(index))) for index in range(5)]
    async with asyncio.timeout(10):
        identities = await asyncio.gather(*(client.verify_id_token(token, nonce=nonce) for token in tokens))
    assert sorted(identity.sub for identity in identities) == ["0", "1", "2", "3", "4"]
    assert provider.jwks_requests == 2


async def test_fetches_for_unknown_keys_are_spaced(
    client: OIDCClient, provider: FakeOIDCProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that keeps naming keys it does not publish costs one JWKS fetch per interval at most."""
    monkeypatch.setattr(oidc_module, "JWKS_MIN_REFETCH_INTERVAL", 0.3)
    nonce = new_secret()
    token = provider.sign(claims_for(provider, nonce), header={"kid": "unknown"})
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(OIDCError) as caught:
            await client.verify_id_token(token, nonce=nonce)
        assert caught.value.code == "unknown_key"
    # The first look fetched the JWKS (nothing cached yet); each later one fetched once more, 0.3 s apart.
    assert provider.jwks_requests == 3
    assert time.monotonic() - started >= 0.55


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "Ed25519"])
async def test_id_token_algorithms(algorithm: str) -> None:
    async with (
        FakeOIDCProvider(algorithm=algorithm) as provider,
        OIDCClient(provider.issuer, provider.client_id, provider.client_secret) as client,
    ):
        code, verifier, nonce = await sign_in(client, provider)
        identity = await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    assert identity.sub == provider.user.sub


async def test_an_algorithm_the_provider_does_not_announce_is_unsupported() -> None:
    async with (
        FakeOIDCProvider(algorithm="Ed25519") as provider,
        FakeOIDCProvider() as rs256,
        OIDCClient(rs256.issuer, rs256.client_id, rs256.client_secret) as client,
    ):
        nonce = new_secret()
        token = provider.sign(claims_for(rs256, nonce))  # Ed25519, while discovery lists RS256 only
        with pytest.raises(OIDCError) as caught:
            await client.verify_id_token(token, nonce=nonce)
    assert caught.value.code == "unsupported_algorithm"
    assert "Ed25519" in str(caught.value)


async def test_azp_naming_another_client_is_refused(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    nonce = new_secret()
    with pytest.raises(OIDCError) as caught:
        await client.verify_id_token(provider.sign(claims_for(provider, nonce, azp="someone-else")), nonce=nonce)
    assert caught.value.code == "wrong_audience"


@pytest.mark.parametrize("shape", ["list", "number"])
async def test_a_nonce_that_is_not_a_string_is_refused(
    client: OIDCClient, provider: FakeOIDCProvider, shape: str
) -> None:
    nonce = "12345678901234567890"
    value: object = [nonce] if shape == "list" else int(nonce)
    with pytest.raises(OIDCError) as caught:
        await client.verify_id_token(provider.sign(claims_for(provider, nonce, nonce=value)), nonce=nonce)
    assert caught.value.code == "wrong_nonce"


async def test_email_from_userinfo_when_the_id_token_has_none() -> None:
    async with (
        FakeOIDCProvider(email_in_id_token=False) as provider,
        OIDCClient(provider.issuer, provider.client_id, provider.client_secret) as client,
    ):
        code, verifier, nonce = await sign_in(client, provider)
        identity = await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
        assert (identity.sub, identity.email, identity.email_verified) == (provider.user.sub, provider.user.email, True)
        assert provider.userinfo_requests == 1


async def test_userinfo_is_not_asked_when_the_id_token_has_the_email(
    client: OIDCClient, provider: FakeOIDCProvider
) -> None:
    code, verifier, nonce = await sign_in(client, provider)
    await client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    assert provider.userinfo_requests == 0


@pytest.mark.parametrize(
    ("fault", "value", "code"),
    [("userinfo_sub", "someone-else", "wrong_subject"), ("userinfo_status", 503, "unavailable")],
)
async def test_userinfo_faults(fault: str, value: object, code: str) -> None:
    async with (
        FakeOIDCProvider(email_in_id_token=False) as provider,
        OIDCClient(provider.issuer, provider.client_id, provider.client_secret) as client,
    ):
        code_value, verifier, nonce = await sign_in(client, provider)
        setattr(provider.faults, fault, value)
        with pytest.raises(OIDCError) as caught:
            await client.exchange_code(code=code_value, redirect_uri=REDIRECT, code_verifier=verifier, nonce=nonce)
    assert caught.value.code == code


async def test_prompt_select_account_only_where_supported() -> None:
    for prompt_values, expected in (
        (None, None),
        (("login", "consent"), None),
        (("select_account",), "select_account"),
    ):
        async with (
            FakeOIDCProvider(prompt_values=prompt_values) as provider,
            OIDCClient(provider.issuer, provider.client_id, provider.client_secret) as client,
        ):
            url = await client.authorization_url(redirect_uri=REDIRECT, state="s", nonce="n", code_challenge="c")
        assert yarl.URL(url).query.get("prompt") == expected, prompt_values


def test_google_is_always_asked_to_let_the_user_select_an_account() -> None:
    metadata = oidc_module.ProviderMetadata(
        issuer="https://accounts.google.com",
        authorization_endpoint="https://a",
        token_endpoint="https://t",
        jwks_uri="https://j",
    )
    assert oidc_module.wants_account_selection("https://accounts.google.com", metadata)
    assert not oidc_module.wants_account_selection("https://login.example", metadata)


async def test_token_endpoint_error_description_is_kept(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    code, verifier, _ = await sign_in(client, provider)
    with pytest.raises(OIDCError) as caught:
        await client.exchange_code(code=code, redirect_uri="http://elsewhere/cb", code_verifier=verifier, nonce="n")
    assert caught.value.code == "token_endpoint"
    assert "invalid_grant" in str(caught.value)


async def test_no_usable_client_authentication_fails_before_sign_in() -> None:
    async with (
        FakeOIDCProvider(auth_methods=("private_key_jwt", "tls_client_auth")) as provider,
        OIDCClient(provider.issuer, provider.client_id, provider.client_secret) as client,
    ):
        with pytest.raises(OIDCError) as caught:
            await client.authorization_url(redirect_uri=REDIRECT, state="s", nonce="n", code_challenge="c")
    assert caught.value.code == "unsupported_auth_method"
    assert "private_key_jwt" in str(caught.value)


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
    for token in (hmac_token, f"{header}.{payload}."):
        with pytest.raises(OIDCError) as caught:
            await client.verify_id_token(token, nonce=nonce)
        assert caught.value.code == "unsupported_algorithm"
    for token in ("not-a-jwt", "a.b.c"):
        with pytest.raises(OIDCError) as caught:
            await client.verify_id_token(token, nonce=nonce)
        assert caught.value.code == "bad_token"


async def test_unknown_kid_is_an_unknown_key(client: OIDCClient, provider: FakeOIDCProvider) -> None:
    nonce = new_secret()
    token = provider.sign(claims_for(provider, nonce), header={"kid": "unknown"})
    with pytest.raises(OIDCError) as caught:
        await client.verify_id_token(token, nonce=nonce)
    assert caught.value.code == "unknown_key"


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
