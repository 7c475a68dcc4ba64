"""A local OpenID Connect provider for tests: discovery, authorize (PKCE), token, userinfo, JWKS.

`FakeOIDCProvider` listens on 127.0.0.1 (a free port by default) and signs in one configured test user
without asking, or — with `interactive=True` — after a click on a tiny "sign in as" page (for browser tests).
It signs ID tokens with RS256 (or `algorithm="ES256"`, `"Ed25519"`), adds `iss` to its authorization
responses (RFC 9207) and serves the user's claims at `/userinfo` too. The interoperability tests run the login
flow against a real provider (tests/interop); this one stays for the faults a real provider will not make.
`provider.faults` switches them on::

    async with FakeOIDCProvider() as provider:
        settings = Settings(..., google_issuer=provider.issuer,
                            google_client_id=provider.client_id, google_client_secret=provider.client_secret)
        provider.faults.token_status = 500     # or wrong_key / wrong_audience / expired / wrong_nonce / deny
"""

from __future__ import annotations

import base64
import html
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_plus

import attrs
import yarl
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ora.core.config import Settings
from ora.core.i18n import Catalog
from ora.core.runtime import Runtime
from ora.core.store import Store
from ora.core.web.server import build_web_app
from ora.features.account import feature as account_feature
from ora.features.account.oidc import OIDCClient, pkce_challenge
from ora.features.account.queries import AccountQueries
from ora.features.account.routes import auth_routes, login_url, new_login_state
from ora.features.account.settings import LoginSettings

__all__ = [
    "FakeOIDCProvider",
    "LoginSite",
    "OIDCFaults",
    "OIDCTestUser",
    "TokenRequest",
    "listening_socket",
    "login_site",
]

CODE_TTL = 120.0


@attrs.frozen
class OIDCTestUser:
    """Who the provider signs in."""

    sub: str = "109876543210987654321"
    email: str = "tester@example.com"
    email_verified: bool = True


@attrs.define
class OIDCFaults:
    """Failure switches; all off by default. Change them at any time between requests."""

    token_status: int | None = None  # the token endpoint answers this HTTP status (e.g. 500)
    jwks_status: int | None = None  # the JWKS endpoint answers this HTTP status
    userinfo_status: int | None = None  # the userinfo endpoint answers this HTTP status
    userinfo_sub: str | None = None  # the userinfo response names this subject instead of the user's
    wrong_key: bool = False  # sign ID tokens with a key that is not in the JWKS (same kid)
    wrong_audience: bool = False  # `aud` is another client
    wrong_azp: bool = False  # `azp` (authorized party) is another client
    expired: bool = False  # `exp` an hour ago
    wrong_nonce: bool = False  # `nonce` is not the one the client sent
    nonce_as_list: bool = False  # `nonce` is a list holding the right value (not a string)
    wrong_issuer: bool = False  # `iss` is another issuer
    response_iss: str | None = None  # the authorization response's `iss` is this instead of the issuer
    omit_response_iss: bool = False  # the authorization response has no `iss` (discovery still promises it)
    deny: bool = False  # the authorize endpoint redirects back with error=access_denied
    authorize_error: tuple[str, str | None] | None = None  # redirect back with (error, error_description)

    def reset(self) -> None:
        for field in attrs.fields(OIDCFaults):
            setattr(self, field.name, field.default)


@attrs.frozen
class TokenRequest:
    """What the token endpoint received (for assertions; no secrets)."""

    auth_method: str  # client_secret_basic, client_secret_post or none
    had_code_verifier: bool
    outcome: str  # "ok" or the OAuth error code returned
    code_length: int = 0


@attrs.frozen
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: OIDCTestUser
    expires_at: float


SIGNING_KEY_TYPES = {"RS256": "RSA", "ES256": "EC", "Ed25519": "OKP"}


def _signing_key(algorithm: str, kid: str) -> RSAKey | ECKey | OKPKey:
    parameters: Any = {"use": "sig", "alg": algorithm, "kid": kid}
    if algorithm == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters)
    if algorithm == "Ed25519":
        return OKPKey.generate_key("Ed25519", parameters=parameters)
    return RSAKey.generate_key(2048, parameters=parameters)


class FakeOIDCProvider:
    """An in-process OpenID provider on 127.0.0.1; `issuer` is known once started."""

    def __init__(
        self,
        *,
        client_id: str = "ora-test-client",
        client_secret: str = "ora-test-secret",
        user: OIDCTestUser | None = None,
        interactive: bool = False,
        auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post"),
        algorithm: str = "RS256",
        email_in_id_token: bool = True,
        code_length: int = 32,
        prompt_values: tuple[str, ...] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if algorithm not in SIGNING_KEY_TYPES:
            raise ValueError(f"algorithm must be one of {sorted(SIGNING_KEY_TYPES)}")
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user or OIDCTestUser()
        self.interactive = interactive
        self.auth_methods = auth_methods
        self.algorithm = algorithm
        self.email_in_id_token = email_in_id_token  # False: the e-mail only comes from /userinfo
        self.code_length = code_length  # characters of each authorization code
        self.prompt_values = prompt_values  # prompt_values_supported in discovery (None: not listed)
        self.faults = OIDCFaults()
        self.token_requests: list[TokenRequest] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.jwks_requests = 0
        self.userinfo_requests = 0
        self._host = host
        self._port = port
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: dict[str, OIDCTestUser] = {}
        self._runner: web.AppRunner | None = None
        self._issuer: str | None = None
        self.rotate_key()

    def rotate_key(self) -> None:
        """Sign with a new key (new kid) and publish only that one, as providers do every few days."""
        self._kid = secrets.token_hex(8)
        self._key = _signing_key(self.algorithm, self._kid)
        # Same kid as the published key, so a client picks the right key and the signature check fails.
        self._wrong_key = _signing_key(self.algorithm, self._kid)

    def sign(self, claims: dict[str, object], *, header: dict[str, object] | None = None) -> str:
        """A JWT signed with the provider's current key (for tests that craft their own ID tokens)."""
        protected = {"alg": self.algorithm, "kid": self._kid, **(header or {})}
        return jwt.encode(protected, claims, self._key, algorithms=[str(protected["alg"])])

    @property
    def issuer(self) -> str:
        if self._issuer is None:
            raise RuntimeError("FakeOIDCProvider is not started")
        return self._issuer

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/authorize", self._approve)
        app.router.add_post("/token", self._token)
        app.router.add_get("/userinfo", self._userinfo)
        app.router.add_get("/jwks", self._jwks)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self._issuer = f"http://{self._host}:{port}"
        return self._issuer

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeOIDCProvider:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- endpoints -------------------------------------------------------------------------------

    async def _discovery(self, _: web.Request) -> web.Response:
        document: dict[str, object] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.algorithm],
            "scopes_supported": ["openid", "email"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }
        if self.prompt_values is not None:
            document["prompt_values_supported"] = list(self.prompt_values)
        return web.json_response(document)

    async def _jwks(self, _: web.Request) -> web.Response:
        self.jwks_requests += 1
        if self.faults.jwks_status is not None:
            return web.json_response({"error": "unavailable"}, status=self.faults.jwks_status)
        return web.json_response({"keys": [self._key.as_dict(private=False)]})

    async def _userinfo(self, request: web.Request) -> web.Response:
        self.userinfo_requests += 1
        if self.faults.userinfo_status is not None:
            return web.json_response({"error": "server_error"}, status=self.faults.userinfo_status)
        header = request.headers.get("Authorization", "")
        user = self._access_tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if user is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(
            {
                "sub": self.faults.userinfo_sub or user.sub,
                "email": user.email,
                "email_verified": user.email_verified,
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.authorize_requests.append(params)
        problem = self._check_authorize(params)
        if problem is not None:
            return _page(400, "Invalid request", f"<p>{html.escape(problem)}</p>")
        if self.faults.deny:
            raise web.HTTPFound(self._back(params, error="access_denied"))
        prompts = params.get("prompt", "").split()
        if self.prompt_values is not None and any(prompt not in self.prompt_values for prompt in prompts):
            # What oidc-provider answers to a prompt it does not support.
            raise web.HTTPFound(
                self._back(params, error="invalid_request", error_description="unsupported prompt value requested")
            )
        if self.faults.authorize_error is not None:
            error, description = self.faults.authorize_error
            extra = {"error": error} | ({"error_description": description} if description is not None else {})
            raise web.HTTPFound(self._back(params, **extra))
        if self.interactive:
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                for name, value in params.items()
            )
            email = html.escape(self.user.email)
            return _page(
                200,
                "Sign in",
                f'<form method="post" action="/authorize">{hidden}'
                f'<button type="submit" id="approve">Sign in as {email}</button></form>',
            )
        raise web.HTTPFound(self._issue_code(params))

    async def _approve(self, request: web.Request) -> web.Response:
        params = {name: value for name, value in (await request.post()).items() if isinstance(value, str)}
        problem = self._check_authorize(params)
        if problem is not None:
            return _page(400, "Invalid request", f"<p>{html.escape(problem)}</p>")
        raise web.HTTPFound(self._issue_code(params))

    async def _token(self, request: web.Request) -> web.Response:
        form = {name: value for name, value in (await request.post()).items() if isinstance(value, str)}
        method, client_id, client_secret = _client_credentials(request, form)
        verifier = form.get("code_verifier")

        code_length = len(form.get("code", ""))

        def refuse(error: str, status: int = 400) -> web.Response:
            self.token_requests.append(TokenRequest(method, verifier is not None, error, code_length))
            return web.json_response({"error": error}, status=status)

        if self.faults.token_status is not None:
            return refuse("server_error", self.faults.token_status)
        if method not in self.auth_methods or client_id != self.client_id:
            return refuse("invalid_client", 401)
        if not secrets.compare_digest((client_secret or "").encode(), self.client_secret.encode()):
            return refuse("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
            return refuse("invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return refuse("invalid_grant")
        if verifier is None or pkce_challenge(verifier) != grant.code_challenge:
            return refuse("invalid_grant")
        self.token_requests.append(TokenRequest(method, True, "ok", code_length))
        access_token = secrets.token_urlsafe(24)
        self._access_tokens[access_token] = grant.user
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "openid email",
                "id_token": self._id_token(grant),
            }
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _check_authorize(self, params: dict[str, str]) -> str | None:
        if params.get("client_id") != self.client_id:
            return "unknown client_id"
        if not params.get("redirect_uri"):
            return "redirect_uri is required"
        if params.get("response_type") != "code":
            return "response_type must be code"
        if "openid" not in params.get("scope", "").split():
            return "scope must include openid"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE with S256 is required"
        return None

    def _issue_code(self, params: dict[str, str]) -> str:
        code = secrets.token_urlsafe(self.code_length)[: self.code_length]
        self._grants[code] = _Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce"),
            user=self.user,
            expires_at=time.time() + CODE_TTL,
        )
        return self._back(params, code=code)

    def _back(self, params: dict[str, str], **extra: str) -> str:
        query = dict(extra)
        if "state" in params:
            query["state"] = params["state"]
        if not self.faults.omit_response_iss:
            query["iss"] = self.faults.response_iss or self.issuer
        return str(yarl.URL(params["redirect_uri"]).update_query(query))

    def _id_token(self, grant: _Grant) -> str:
        faults = self.faults
        stamp = int(time.time())
        claims: dict[str, object] = {
            "iss": "https://wrong-issuer.invalid" if faults.wrong_issuer else self.issuer,
            "aud": "someone-else" if faults.wrong_audience else grant.client_id,
            "azp": "someone-else" if faults.wrong_azp else grant.client_id,
            "sub": grant.user.sub,
            "iat": stamp - 7200 if faults.expired else stamp,
            "exp": stamp - 3600 if faults.expired else stamp + 3600,
        }
        if self.email_in_id_token:
            claims |= {"email": grant.user.email, "email_verified": grant.user.email_verified}
        if grant.nonce is not None:
            nonce = "not-the-nonce" if faults.wrong_nonce else grant.nonce
            claims["nonce"] = [nonce] if faults.nonce_as_list else nonce
        if faults.wrong_key:
            return jwt.encode(
                {"alg": self.algorithm, "kid": self._kid}, claims, self._wrong_key, algorithms=[self.algorithm]
            )
        return self.sign(claims)


def _client_credentials(request: web.Request, form: dict[str, str]) -> tuple[str, str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            raw = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return "client_secret_basic", None, None
        client_id, _, client_secret = raw.partition(":")
        return "client_secret_basic", unquote_plus(client_id), unquote_plus(client_secret)
    if "client_secret" in form:
        return "client_secret_post", form.get("client_id"), form["client_secret"]
    return "none", form.get("client_id"), None


def _page(status: int, title: str, body: str) -> web.Response:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><main><h1>Fake OpenID provider: {html.escape(title)}</h1>{body}</main></body></html>"
    )
    return web.Response(status=status, text=document, content_type="text/html")


@attrs.frozen
class LoginSite:
    """The bot's web app with the login routes, served on 127.0.0.1 (see `login_site`)."""

    settings: Settings
    login: LoginSettings
    store: Store
    accounts: AccountQueries
    oidc: OIDCClient | None
    base_url: str

    async def login_url(self, discord_user_id: int, *, ttl: float | None = None) -> str:
        """What `/login` would hand this Discord user."""
        state = new_login_state()
        await self.accounts.create_login_state(state, discord_user_id, ttl or self.login.state_ttl)
        return login_url(self.settings.web_base_url, state)


def listening_socket() -> socket.socket:
    """A TCP socket listening on a free port of 127.0.0.1 (its port is known before anything is served)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@asynccontextmanager
async def login_site(
    store: Store, provider: FakeOIDCProvider | None, *, listen: socket.socket | None = None, **settings: Any
) -> AsyncIterator[LoginSite]:
    """Serve the login flow against `provider` (None: configured by `settings` alone, or not at all).

    `settings` override fields of the core's `Settings` or of `LoginSettings` (e.g. `state_ttl=1`, or
    `google_issuer=…` for a provider of another kind). `listen` is the socket to serve on (default: a new one on
    a free port), for callers that must know the redirect URI first. Everything started is stopped on exit.
    """
    with listen or listening_socket() as sock:
        port = int(sock.getsockname()[1])
        values: dict[str, Any] = {
            "discord_token": "test-token-not-secret",
            "discord_app_id": 1,
            "web_host": "127.0.0.1",
            "web_port": port,
        }
        login_values: dict[str, Any] = {}
        if provider is not None:
            login_values = {
                "google_issuer": provider.issuer,
                "google_client_id": provider.client_id,
                "google_client_secret": provider.client_secret,
            }
        login_fields = {field.name for field in attrs.fields(LoginSettings)}
        login_values |= {key: value for key, value in settings.items() if key in login_fields}
        config = Settings(**(values | {key: value for key, value in settings.items() if key not in login_fields}))
        login = LoginSettings(**login_values)
        oidc = None
        if login.google_client_id and login.google_client_secret:
            oidc = OIDCClient(login.google_issuer, login.google_client_id, login.google_client_secret, timeout=5.0)
            await oidc.start()
        accounts = AccountQueries(store)
        strings = account_feature.strings
        catalog = Catalog.load([("account", strings.en, strings.ja)] if strings else [])
        routes = [auth_routes(oidc, catalog, accounts, login)]
        app = build_web_app(config, store, Runtime(gateway_ready=True), routes)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
            yield LoginSite(config, login, store, accounts, oidc, f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()
            if oidc is not None:
                await oidc.close()
