"""OpenID Connect client (authorization code flow with PKCE) for linking a Google account.

Discovery (`{issuer}/.well-known/openid-configuration`) and the issuer's JWKS are fetched lazily and
cached, so a provider that is down when the bot starts does not stop the bot; an ID token signed with a key
the cache does not know yet (the provider rotated its keys) fetches the JWKS again. ID tokens are verified
with joserfc: signature against the JWKS (asymmetric algorithms only), then `iss`, `aud`/`azp`, `exp`, `iat`,
`nonce` and `sub`. Claims the ID token leaves out (providers following Core 5.4 put the `email` scope's
claims in the userinfo response) come from the userinfo endpoint, for the same subject only.

Works with any standard provider: the client authentication method comes from discovery
(`client_secret_basic` or `client_secret_post`, checked before the user is sent to sign in),
`prompt=select_account` goes only to providers that support it, and the authorization response's `iss`
(RFC 9207) is checked.

Every failure is an `OIDCError` with a stable `code`; messages never contain the client secret, the
authorization code, the PKCE verifier or a token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeGuard
from urllib.parse import quote

import aiohttp
import attrs
import yarl
from joserfc.errors import (  # cheap; joserfc's jwk/jws/jwt import `cryptography` (~9 MiB RSS): on first use
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)

from ora.core.http import SessionHandle

if TYPE_CHECKING:
    from joserfc.jwk import Key, KeyParameters, KeySet

log = logging.getLogger(__name__)

OIDCErrorCode = Literal[
    "unavailable",  # network error, timeout or 5xx while fetching discovery / JWKS / userinfo
    "bad_discovery",  # discovery document or JWKS malformed, or issuer mismatch
    "unsupported_auth_method",  # discovery offers neither client_secret_basic nor client_secret_post
    "token_endpoint",  # the token endpoint refused or failed the exchange
    "bad_token",  # ID token malformed or missing claims
    "unsupported_algorithm",  # ID token signed with an algorithm this client does not accept
    "unknown_key",  # no key in the issuer's JWKS (fetched again) matches the ID token
    "bad_signature",  # signature does not verify against the issuer's keys
    "wrong_issuer",  # in the ID token, or the authorization response's `iss` (RFC 9207)
    "wrong_audience",
    "expired",
    "wrong_nonce",
    "bad_userinfo",  # the userinfo response is not a JSON object
    "wrong_subject",  # the userinfo response is about another subject
]

#: Failures of the provider or the network, not of the user: the /login URL stays usable after them.
PROVIDER_FAULTS: frozenset[OIDCErrorCode] = frozenset(
    {"unavailable", "bad_discovery", "unsupported_auth_method", "token_endpoint", "unknown_key", "bad_userinfo"}
)

#: Asymmetric algorithms only: `none` and HMAC (keyed with the client secret) are never accepted. `Ed25519`
#: and `Ed448` are RFC 9864's fully specified names for `EdDSA`.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "Ed25519",
    "Ed448",
    "EdDSA",
)
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")  # in order of preference
SCOPE = "openid email"
CLOCK_LEEWAY = 60
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_SHOWN_DESCRIPTION = 200
DISCOVERY_TTL = 24 * 3600.0
JWKS_TTL = 3600.0
#: Fetching the JWKS again for an unknown kid waits for this long after the previous fetch: a provider that
#: keeps naming unknown keys costs at most one fetch per interval, and no sign-in fails for it.
JWKS_MIN_REFETCH_INTERVAL = 1.0
GOOGLE_ISSUER = "https://accounts.google.com"
_CLAIM_ERROR_CODES: dict[str, OIDCErrorCode] = {"iss": "wrong_issuer", "aud": "wrong_audience", "nonce": "wrong_nonce"}
# Google documents both spellings of its issuer in ID tokens.
_ISSUER_ALIASES = {GOOGLE_ISSUER: (GOOGLE_ISSUER, "accounts.google.com")}


class OIDCError(Exception):
    """The login could not be completed; `code` is stable (for pages and tests), the message is for logs."""

    def __init__(self, code: OIDCErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: OIDCErrorCode = code


@attrs.frozen
class ProviderMetadata:
    """The parts of the discovery document this client uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    token_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    signing_algorithms: tuple[str, ...] = ("RS256",)
    prompt_values: tuple[str, ...] = ()
    response_iss: bool = False  # authorization_response_iss_parameter_supported (RFC 9207)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], expected_issuer: str) -> ProviderMetadata:
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != expected_issuer.rstrip("/"):
            raise OIDCError("bad_discovery", "the discovery document names another issuer")
        endpoints: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not _is_http_url(value):
                raise OIDCError("bad_discovery", f"the discovery document has no usable {name}")
            endpoints[name] = value
        userinfo = document.get("userinfo_endpoint")
        return cls(
            issuer=issuer,
            userinfo_endpoint=userinfo if _is_http_url(userinfo) else None,
            # Defaults from OpenID Connect Discovery 1.0, section 3.
            token_auth_methods=_strings(document.get("token_endpoint_auth_methods_supported"))
            or ("client_secret_basic",),
            signing_algorithms=_strings(document.get("id_token_signing_alg_values_supported")) or ("RS256",),
            prompt_values=_strings(document.get("prompt_values_supported")),
            response_iss=document.get("authorization_response_iss_parameter_supported") is True,
            **endpoints,
        )

    def client_auth_method(self) -> str:
        """How this client authenticates at the token endpoint: the first of ours that discovery lists."""
        for method in CLIENT_AUTH_METHODS:
            if method in self.token_auth_methods:
                return method
        offered = ", ".join(method[:40] for method in self.token_auth_methods[:6] if method.isprintable())
        raise OIDCError(
            "unsupported_auth_method",
            f"the token endpoint accepts neither client_secret_basic nor client_secret_post (it offers: {offered})",
        )


@attrs.frozen
class Identity:
    """A verified ID token's subject."""

    sub: str
    email: str | None
    email_verified: bool


@attrs.frozen
class PKCE:
    """RFC 7636 verifier (kept server-side) and its S256 challenge (sent to the provider)."""

    verifier: str
    challenge: str

    @classmethod
    def generate(cls) -> PKCE:
        verifier = secrets.token_urlsafe(48)  # 64 characters, 384 bits
        return cls(verifier=verifier, challenge=pkce_challenge(verifier))


def pkce_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(ASCII(verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_secret() -> str:
    """A URL-safe one-time secret of 256 random bits (login states, OAuth state, nonce, cookies, CSRF)."""
    return secrets.token_urlsafe(32)


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before Base64 (aiohttp.BasicAuth does not)."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


def wants_account_selection(issuer: str, metadata: ProviderMetadata) -> bool:
    """Whether to send `prompt=select_account`: to Google (which otherwise signs in with the browser's current
    account without asking) and to providers that list it; others may refuse the whole request for it."""
    return issuer.rstrip("/") == GOOGLE_ISSUER or "select_account" in metadata.prompt_values


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _is_http_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and yarl.URL(value).scheme in ("http", "https")


def provider_text(value: object, limit: int = MAX_SHOWN_DESCRIPTION) -> str | None:
    """A provider-supplied string (error, error_description) fit for a log line or a page: printable, bounded."""
    if not isinstance(value, str) or not value:
        return None
    cleaned = "".join(char if char.isprintable() else "\ufffd" for char in value)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


class OIDCClient:
    """One issuer, one client registration, on the bot's shared HTTP session (or one of its own)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http = SessionHandle(session, owner="OIDCClient")
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._discovery_lock = asyncio.Lock()
        self._keys_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OIDCClient(issuer={self.issuer!r}, client_id={self.client_id!r})"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> OIDCClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._http.session

    async def probe(self, timeout: float = 2.0) -> bool:
        """Whether the discovery document can be fetched now (bounded by `timeout`); refreshes the cache."""
        try:
            async with asyncio.timeout(timeout):
                await self.metadata(refresh=True)
        except (OIDCError, TimeoutError, RuntimeError):
            return False
        return True

    async def metadata(self, *, refresh: bool = False) -> ProviderMetadata:
        """The provider's endpoints, from the cached discovery document (fetched on first use)."""
        async with self._discovery_lock:
            fresh = self._metadata is not None and time.monotonic() - self._metadata_at < DISCOVERY_TTL
            if self._metadata is None or refresh or not fresh:
                document = await self._get_json(self.discovery_url, "discovery document")
                self._metadata = ProviderMetadata.from_document(document, self.issuer)
                self._metadata_at = time.monotonic()
            return self._metadata

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_challenge: str) -> str:
        """Where to send the browser: the provider's authorization endpoint with this flow's parameters.

        Fails (before the user signs in) when the token endpoint accepts none of our authentication methods.
        """
        metadata = await self.metadata()
        metadata.client_auth_method()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if wants_account_selection(self.issuer, metadata):
            query["prompt"] = "select_account"
        return str(yarl.URL(metadata.authorization_endpoint).update_query(query))

    async def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: an authorization response's `iss` must name our issuer; required if discovery promises it."""
        metadata = await self.metadata()
        if iss is None:
            if metadata.response_iss:
                raise OIDCError("wrong_issuer", "the authorization response has no iss, which the provider promises")
            return
        if iss not in (metadata.issuer, self.issuer):
            raise OIDCError("wrong_issuer", f"the authorization response comes from another issuer ({iss[:80]!r})")

    async def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str) -> Identity:
        """Exchange the authorization code at the token endpoint and return the verified ID token's subject."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if metadata.client_auth_method() == "client_secret_basic":
            headers["Authorization"] = basic_auth_header(self.client_id, self._client_secret)
        else:
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
        try:
            async with self.session.post(
                metadata.token_endpoint, data=form, headers=headers, allow_redirects=False, timeout=self._timeout
            ) as response:
                body = await _read_limited(response)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise OIDCError("token_endpoint", f"token endpoint unreachable ({type(error).__name__})") from None
        document = _json_object(body)
        if status != 200 or document is None:
            reason = provider_text(document.get("error"), 60) if document else None
            description = provider_text(document.get("error_description")) if document else None
            detail = f"{reason or 'no error code'}: {description}" if description else reason or "no error code"
            raise OIDCError("token_endpoint", f"token endpoint answered HTTP {status} ({detail})")
        id_token = document.get("id_token")
        if not isinstance(id_token, str):
            raise OIDCError("token_endpoint", "the token response has no id_token")
        identity = await self.verify_id_token(id_token, nonce=nonce, metadata=metadata)
        access_token = document.get("access_token")
        if identity.email is None and metadata.userinfo_endpoint and isinstance(access_token, str):
            identity = await self._with_userinfo(identity, metadata.userinfo_endpoint, access_token)
        return identity

    async def _with_userinfo(self, identity: Identity, endpoint: str, access_token: str) -> Identity:
        """The ID token's identity with the e-mail from the userinfo response (Core 5.3), same `sub` only."""
        # No redirects: the access token must not follow one to another host.
        document = await self._get_json(
            endpoint,
            "userinfo endpoint",
            bad_code="bad_userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
            allow_redirects=False,
        )
        # Core 5.3.4: the response may be about another user (token substitution); it must be refused.
        if document.get("sub") != identity.sub:
            raise OIDCError("wrong_subject", "the userinfo response is about another subject than the ID token")
        email = document.get("email")
        if not isinstance(email, str) or not email:
            return identity
        return Identity(sub=identity.sub, email=email, email_verified=_is_true(document.get("email_verified")))

    async def verify_id_token(self, id_token: str, *, nonce: str, metadata: ProviderMetadata | None = None) -> Identity:
        """Check signature, issuer, audience, expiry and nonce; return the subject."""
        from joserfc import jws, jwt  # noqa: PLC0415 - see the import of joserfc.errors

        metadata = metadata or await self.metadata()
        try:
            header = jws.extract_compact(id_token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError):
            raise OIDCError("bad_token", "the ID token is not a compact JWS") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise OIDCError("unsupported_algorithm", f"unsupported ID token algorithm {str(algorithm)[:20]!r}")
        if algorithm not in metadata.signing_algorithms:
            raise OIDCError(
                "unsupported_algorithm",
                f"ID token algorithm {algorithm!r} is not in the provider's id_token_signing_alg_values_supported",
            )
        kid = header.get("kid")
        key = await self._signing_key(metadata, kid if isinstance(kid, str) else None, algorithm)
        try:
            token = jwt.decode(id_token, key, algorithms=[algorithm])
        except BadSignatureError:
            raise OIDCError("bad_signature", "the ID token signature does not verify") from None
        except JoseError as error:
            raise OIDCError("bad_token", f"the ID token cannot be decoded ({error.error})") from None
        return self._check_claims(token.claims, nonce=nonce)

    def _check_claims(self, claims: Mapping[str, Any], *, nonce: str) -> Identity:
        from joserfc import jwt  # noqa: PLC0415 - see the import of joserfc.errors

        issuers = _ISSUER_ALIASES.get(self.issuer, (self.issuer,))
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "values": list(issuers)},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True},
        )
        try:
            registry.validate(dict(claims))
        except ExpiredTokenError:
            raise OIDCError("expired", "the ID token has expired") from None
        except ClaimError as error:
            code = _CLAIM_ERROR_CODES.get(error.claim, "bad_token")
            raise OIDCError(code, f"ID token claim check failed: {error.error} {error.claim}") from None
        # joserfc accepts a list that contains the value: the nonce must be exactly the string we sent.
        token_nonce = claims["nonce"]
        if not isinstance(token_nonce, str) or not secrets.compare_digest(token_nonce.encode(), nonce.encode()):
            raise OIDCError("wrong_nonce", "the ID token's nonce is not this sign-in's")
        audience = claims["aud"]
        azp = claims.get("azp")
        if azp is not None and azp != self.client_id:
            raise OIDCError("wrong_audience", "the ID token's azp (authorized party) is another client")
        if isinstance(audience, list) and len(audience) > 1 and azp is None:
            raise OIDCError("wrong_audience", "the ID token has several audiences and no azp")
        email = claims.get("email")
        return Identity(
            sub=str(claims["sub"]),
            email=email if isinstance(email, str) and email else None,
            email_verified=_is_true(claims.get("email_verified")),
        )

    async def _signing_key(self, metadata: ProviderMetadata, kid: str | None, algorithm: str) -> Key:
        """The JWKS key for `kid`; a kid the cached JWKS lacks fetches the JWKS again (providers rotate keys)."""
        looked_at = time.monotonic()
        key = _pick_key(await self._key_set(metadata), kid, algorithm)
        if key is None:
            key = _pick_key(await self._key_set(metadata, newer_than=looked_at), kid, algorithm)
        if key is None:
            raise OIDCError("unknown_key", f"no key in the issuer's JWKS matches the ID token (kid {str(kid)[:40]!r})")
        return key

    async def _key_set(self, metadata: ProviderMetadata, *, newer_than: float | None = None) -> KeySet:
        """The cached JWKS; with `newer_than`, one fetched after that moment (fetching it if need be).

        Concurrent sign-ins that all miss a new kid share one fetch: whoever gets the lock second finds keys
        newer than its own look and uses them.
        """
        from joserfc.jwk import KeySet  # noqa: PLC0415 - see the import of joserfc.errors

        async with self._keys_lock:
            if newer_than is None:
                if self._keys is not None and time.monotonic() - self._keys_at < JWKS_TTL:
                    return self._keys
            elif self._keys is not None and self._keys_at > newer_than:
                return self._keys
            else:
                wait = self._keys_at + JWKS_MIN_REFETCH_INTERVAL - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            document = await self._get_json(metadata.jwks_uri, "JWKS")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError):
                raise OIDCError("bad_discovery", "the issuer's JWKS has no usable key") from None
            self._keys_at = time.monotonic()
            return self._keys

    async def _get_json(
        self,
        url: str,
        what: str,
        *,
        bad_code: OIDCErrorCode = "bad_discovery",
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> Mapping[str, Any]:
        """GET a JSON object: 5xx and network failures are "unavailable", anything but 200 + object `bad_code`."""
        try:
            async with self.session.get(
                url,
                headers={"Accept": "application/json", **(headers or {})},
                allow_redirects=allow_redirects,
                timeout=self._timeout,
            ) as response:
                body = await _read_limited(response)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise OIDCError("unavailable", f"cannot fetch the {what} ({type(error).__name__})") from None
        if status >= 500:
            raise OIDCError("unavailable", f"the {what} answered HTTP {status}")
        document = _json_object(body)
        if status != 200 or document is None:
            raise OIDCError(bad_code, f"the {what} answered HTTP {status} without a JSON object")
        return document


def _is_true(value: object) -> bool:
    return value in (True, "true")


def _pick_key(keys: KeySet, kid: str | None, algorithm: str) -> Key | None:
    parameters: KeyParameters = {"alg": algorithm, "use": "sig"}
    if kid is not None:
        try:
            return keys.get_by_kid(kid, parameters)
        except InvalidKeyIdError:
            return None
    key = keys.pick_random_key(algorithm, parameters)
    return key if key is not None and len(keys.keys) == 1 else None


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    """The body, refusing more than MAX_RESPONSE_BYTES (a misbehaving provider cannot exhaust memory)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise aiohttp.ClientPayloadError("response too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None
