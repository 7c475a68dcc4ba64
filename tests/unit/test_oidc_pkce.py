"""Pure pieces of the OpenID client: PKCE, one-time secrets, client authentication, discovery parsing."""

from __future__ import annotations

import base64
import re
import string

import pytest

from ora.features.account.oidc import PKCE, OIDCError, ProviderMetadata, basic_auth_header, new_secret, pkce_challenge

UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_generated_pkce_pairs_are_valid_and_fresh() -> None:
    pairs = {PKCE.generate() for _ in range(50)}
    assert len(pairs) == 50
    for pair in pairs:
        assert 43 <= len(pair.verifier) <= 128
        assert set(pair.verifier) <= UNRESERVED
        assert pair.challenge == pkce_challenge(pair.verifier)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", pair.challenge)


def test_secrets_have_at_least_128_random_bits() -> None:
    values = {new_secret() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) * 8 >= 128
        assert set(value) <= UNRESERVED


def test_basic_auth_form_encodes_before_base64() -> None:
    header = basic_auth_header("client:id", "se cr/et+é")
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == "client%3Aid:se%20cr%2Fet%2B%C3%A9"


DOCUMENT = {
    "issuer": "https://issuer.example",
    "authorization_endpoint": "https://issuer.example/auth",
    "token_endpoint": "https://issuer.example/token",
    "jwks_uri": "https://issuer.example/jwks",
}


def test_metadata_defaults_follow_the_discovery_spec() -> None:
    metadata = ProviderMetadata.from_document(DOCUMENT, "https://issuer.example/")
    assert metadata.token_auth_methods == ("client_secret_basic",)
    assert metadata.signing_algorithms == ("RS256",)


def test_metadata_reads_supported_methods() -> None:
    document = DOCUMENT | {
        "token_endpoint_auth_methods_supported": ["client_secret_post", 3],
        "id_token_signing_alg_values_supported": ["ES256"],
    }
    metadata = ProviderMetadata.from_document(document, "https://issuer.example")
    assert metadata.token_auth_methods == ("client_secret_post",)
    assert metadata.signing_algorithms == ("ES256",)


@pytest.mark.parametrize(
    "document",
    [
        DOCUMENT | {"issuer": "https://attacker.example"},
        DOCUMENT | {"token_endpoint": None},
        DOCUMENT | {"jwks_uri": "file:///etc/passwd"},
        {key: value for key, value in DOCUMENT.items() if key != "authorization_endpoint"},
    ],
)
def test_unusable_discovery_documents(document: dict[str, object]) -> None:
    with pytest.raises(OIDCError) as caught:
        ProviderMetadata.from_document(document, "https://issuer.example")
    assert caught.value.code == "bad_discovery"


def test_metadata_reads_userinfo_prompts_and_the_iss_promise() -> None:
    document = DOCUMENT | {
        "userinfo_endpoint": "https://issuer.example/me",
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
    }
    metadata = ProviderMetadata.from_document(document, "https://issuer.example")
    assert metadata.userinfo_endpoint == "https://issuer.example/me"
    assert metadata.prompt_values == ("none", "login", "consent")
    assert metadata.response_iss is True
    bare = ProviderMetadata.from_document(
        DOCUMENT | {"userinfo_endpoint": "javascript:alert(1)"}, "https://issuer.example"
    )
    assert (bare.userinfo_endpoint, bare.prompt_values, bare.response_iss) == (None, (), False)


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (None, "client_secret_basic"),  # the discovery default
        (["client_secret_post", "client_secret_basic"], "client_secret_basic"),
        (["private_key_jwt", "client_secret_post"], "client_secret_post"),
    ],
)
def test_client_authentication_follows_discovery(offered: list[str] | None, chosen: str) -> None:
    document = DOCUMENT | ({"token_endpoint_auth_methods_supported": offered} if offered else {})
    assert ProviderMetadata.from_document(document, "https://issuer.example").client_auth_method() == chosen


def test_no_usable_client_authentication_is_a_clear_error() -> None:
    document = DOCUMENT | {"token_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"]}
    with pytest.raises(OIDCError) as caught:
        ProviderMetadata.from_document(document, "https://issuer.example").client_auth_method()
    assert caught.value.code == "unsupported_auth_method"
    assert "private_key_jwt, tls_client_auth" in str(caught.value)
