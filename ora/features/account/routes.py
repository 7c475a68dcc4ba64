"""The Google login flow in the browser: /auth/discord → provider → /auth/google/callback → confirm.

1. `GET /auth/discord?state=S` (the URL `/login` hands out): S must be a live login state. A flow is
   created and bound to this browser with an HttpOnly, SameSite=Lax cookie, and the browser is sent to
   the provider with a fresh OAuth `state`, a `nonce` and a PKCE S256 challenge.
2. `GET /auth/google/callback`: the flow must match both the cookie and the OAuth state (taken once), and
   the response's `iss` our issuer (RFC 9207); then the login state is consumed atomically, the code
   exchanged and the ID token verified. The user sees "link Google account X to Discord user Y?" with a
   CSRF token. When the exchange fails for a reason the user did not cause (the provider is down, its token
   endpoint fails, its keys do not match), the login state is given back: the same /login URL works again.
3. `POST /auth/google/confirm`: only this stores the link (`Store.upsert_google_sub`); a Google account
   already linked to another Discord user is refused, never moved.

Every route counts against the client address's rate limit (`LOGIN_RATE_LIMIT`, see `ora.core.web.limits`).
Secrets in URLs and cookies are never logged; the database keeps only their digests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from urllib.parse import quote

from aiohttp import web

from ora.core.config import Settings
from ora.core.i18n import Catalog, language_from_accept
from ora.core.replies import new_error_id
from ora.core.web.limits import RateLimiter, client_address, retry_after
from ora.core.web.server import SETTINGS, RouteSetup
from ora.features.account.oidc import PKCE, PROVIDER_FAULTS, OIDCClient, OIDCError, new_secret, provider_text
from ora.features.account.pages import Page, confirm_page, message_page, success_page, token_invalid_page
from ora.features.account.queries import AccountQueries, LinkConflictError
from ora.features.account.settings import LoginSettings

log = logging.getLogger(__name__)

LOGIN_PATH = "/auth/discord"
CALLBACK_PATH = "/auth/google/callback"
CONFIRM_PATH = "/auth/google/confirm"
COOKIE_NAME = "ora_login"
# Over https the __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and without Domain.
SECURE_COOKIE_NAME = "__Host-ora_login"
MAX_SECRET_LENGTH = 256
# RFC 6749 leaves the code's length to the provider; some issue self-contained codes of a few kilobytes.
MAX_CODE_LENGTH = 4096
FORM_ERRORS = (ValueError, LookupError, web.RequestPayloadError)  # what a malformed body raises in request.post()
LOGIN_LIMITER = web.AppKey("login_limiter", RateLimiter)
# Provider faults with a page of their own; the others (unknown key, bad userinfo, ...) name the failed check.
_FAULT_PAGES = {
    "unavailable": "provider_unavailable",
    "token_endpoint": "token_failed",
    "unsupported_auth_method": "provider_unsupported",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_login_state() -> str:
    """A fresh `/login` state: 256 random bits, URL-safe."""
    return new_secret()


def login_url(base_url: str, state: str) -> str:
    """The URL `/login` hands out: `{base}/auth/discord?state=…`."""
    return f"{base_url.rstrip('/')}{LOGIN_PATH}?state={quote(state, safe='')}"


def redirect_uri(settings: Settings) -> str:
    """The callback registered with the provider (Google console: "Authorized redirect URIs")."""
    return f"{settings.web_base_url.rstrip('/')}{CALLBACK_PATH}"


def secure_cookies(settings: Settings) -> bool:
    return settings.web_base_url.lower().startswith("https://")


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE_NAME if secure_cookies(settings) else COOKIE_NAME


def auth_routes(
    oidc: OIDCClient | None, catalog: Catalog, accounts: AccountQueries, login: LoginSettings
) -> RouteSetup:
    """Setup adding the login flow's routes; `oidc is None` means Google login is not configured."""
    handlers = _AuthHandlers(oidc, catalog, accounts, login)

    def setup(app: web.Application) -> None:
        app[LOGIN_LIMITER] = RateLimiter(app[SETTINGS].login_rate_limit)
        # No HEAD: these GETs have effects (a flow, a consumed state) that a link checker must not trigger.
        app.router.add_get(LOGIN_PATH, handlers.start, allow_head=False)
        app.router.add_get(CALLBACK_PATH, handlers.callback, allow_head=False)
        app.router.add_post(CONFIRM_PATH, handlers.confirm)

    return setup


def _guarded(
    handler: Callable[[_AuthHandlers, web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[_AuthHandlers, web.Request], Awaitable[web.StreamResponse]]:
    """Rate-limited per client; an unexpected failure becomes a translated page with an error id (also logged)."""

    @wraps(handler)
    async def wrapper(self: _AuthHandlers, request: web.Request) -> web.StreamResponse:
        client = client_address(request, request.app[SETTINGS].web_trusted_proxies)
        wait = request.app[LOGIN_LIMITER].acquire(client)
        if wait > 0:
            response = self._page(request, "rate_limited", 429, seconds=retry_after(wait))
            response.headers["Retry-After"] = retry_after(wait)
            return response
        try:
            return await handler(self, request)
        except web.HTTPException:
            raise
        except Exception:
            error_id = new_error_id()
            log.exception("login flow: %s %s failed (error id %s)", request.method, request.path, error_id)
            language = language_from_accept(request.headers.get("Accept-Language"))
            page = message_page(self.catalog, language, "internal", status=500, error_id=error_id)
            return _html(page)

    return wrapper


def _html(page: Page) -> web.Response:
    return web.Response(status=page.status, text=page.html, content_type="text/html", charset="utf-8")


def _secret(value: object) -> str | None:
    """A one-time secret from a query, form or cookie, if it is plausibly one of ours."""
    if isinstance(value, str) and 0 < len(value) <= MAX_SECRET_LENGTH and value.isascii():
        return value
    return None


def _code_problem(value: str | None) -> str | None:
    """Why an authorization code cannot be used (None: it can). RFC 6749: visible ASCII characters."""
    if not value:
        return "missing code"
    if len(value) > MAX_CODE_LENGTH:
        return f"code too long ({len(value)} characters)"
    if not value.isascii() or not value.isprintable():
        return "malformed code"
    return None


class _AuthHandlers:
    def __init__(
        self, oidc: OIDCClient | None, catalog: Catalog, accounts: AccountQueries, login: LoginSettings
    ) -> None:
        self.oidc = oidc
        self.catalog = catalog
        self.accounts = accounts
        self.login = login

    def _page(
        self,
        request: web.Request,
        kind: str,
        status: int,
        *,
        try_again: bool = False,
        retry_same_link: bool = False,
        **values: str,
    ) -> web.Response:
        language = language_from_accept(request.headers.get("Accept-Language"))
        page = message_page(
            self.catalog, language, kind, status=status, try_again=try_again, retry_same_link=retry_same_link, **values
        )
        return _html(page)

    def _token_invalid(
        self, request: web.Request, failure: OIDCError, *, try_again: bool = True, retry_same_link: bool = False
    ) -> web.Response:
        language = language_from_accept(request.headers.get("Accept-Language"))
        page = token_invalid_page(
            self.catalog, language, failure.code, try_again=try_again, retry_same_link=retry_same_link
        )
        return _html(page)

    @_guarded
    async def start(self, request: web.Request) -> web.StreamResponse:
        if self.oidc is None:
            return self._page(request, "not_configured", 503)
        settings, store = request.app[SETTINGS], self.accounts
        state = _secret(request.query.get("state"))
        if state is None or await store.peek_login_state(state) is None:
            return self._page(request, "state_invalid", 400, try_again=True)
        flow_secret, oauth_state, nonce, pkce = new_secret(), new_secret(), new_secret(), PKCE.generate()
        try:
            target = await self.oidc.authorization_url(
                redirect_uri=redirect_uri(settings), state=oauth_state, nonce=nonce, code_challenge=pkce.challenge
            )
        except OIDCError as error:
            if error.code == "unsupported_auth_method":
                log.error("login flow: the OpenID provider cannot be used: %s", error)  # noqa: TRY400 - no traceback
                return self._page(request, "provider_unsupported", 502)
            log.warning("login flow: cannot use the OpenID provider: %s", error)
            return self._page(request, "provider_unavailable", 502)
        await store.create_oauth_flow(
            flow_secret=flow_secret,
            state=state,
            oauth_state=oauth_state,
            code_verifier=pkce.verifier,
            nonce=nonce,
            ttl=self.login.state_ttl,
        )
        response = web.Response(status=302, headers={"Location": target})
        response.set_cookie(
            cookie_name(settings),
            flow_secret,
            max_age=self.login.state_ttl,
            path="/",
            secure=secure_cookies(settings),
            httponly=True,
            samesite="Lax",
        )
        return response

    @_guarded
    async def callback(self, request: web.Request) -> web.StreamResponse:
        if self.oidc is None:
            return self._page(request, "not_configured", 503)
        settings, store = request.app[SETTINGS], self.accounts
        flow_secret = _secret(request.cookies.get(cookie_name(settings)))
        if flow_secret is None:
            return self._page(request, "session_missing", 400)
        oauth_state = _secret(request.query.get("state"))
        flow = await store.take_oauth_flow(flow_secret, oauth_state) if oauth_state else None
        if flow is None:
            return self._page(request, "session_invalid", 400, try_again=True)
        try:
            await self.oidc.check_response_issuer(request.query.get("iss"))
        except OIDCError as failure:
            log.warning("login flow: refused the authorization response: %s", failure)
            if failure.code in PROVIDER_FAULTS:  # the login state is not used yet
                return self._page(request, "provider_unavailable", 502, retry_same_link=True)
            return self._token_invalid(request, failure)
        error = request.query.get("error")
        if error is not None:
            # The login state is left unused: the user may open the /login link again and retry.
            shown_error = provider_text(error, 60) or "?"
            description = provider_text(request.query.get("error_description"))
            # A refusal by the user is routine; any other error usually means a configuration problem.
            level = logging.INFO if error == "access_denied" else logging.WARNING
            log.log(level, "login flow: the provider answered error=%r error_description=%r", shown_error, description)
            if error == "access_denied":
                return self._page(request, "access_denied", 400)
            if description:
                return self._page(request, "provider_error_described", 400, error=shown_error, description=description)
            return self._page(request, "provider_error", 400, error=shown_error)
        code = request.query.get("code")
        problem = _code_problem(code)
        if problem is not None or code is None:
            log.warning("login flow: the provider's redirect has no usable authorization code: %s", problem)
            return self._page(request, "provider_error", 400, error=problem or "missing code")
        discord_user_id = await store.consume_login_state_by_hash(flow.state_hash)
        if discord_user_id is None:
            return self._page(request, "state_invalid", 400, try_again=True)
        discord_name = await store.login_state_name(flow.state_hash)
        try:
            identity = await self.oidc.exchange_code(
                code=code, redirect_uri=redirect_uri(settings), code_verifier=flow.code_verifier, nonce=flow.nonce
            )
        except OIDCError as failure:
            log.warning("login flow for Discord user %s failed: %s", discord_user_id, failure)
            if failure.code not in PROVIDER_FAULTS:
                return self._token_invalid(request, failure)
            # Not the user's doing: the same /login URL may be used again.
            released = await store.release_login_state(flow.state_hash)
            kind = _FAULT_PAGES.get(failure.code)
            if kind is None:
                return self._token_invalid(request, failure, try_again=not released, retry_same_link=released)
            return self._page(request, kind, 502, try_again=not released, retry_same_link=released)
        csrf_token = new_secret()
        await store.create_pending_link(
            csrf_token=csrf_token,
            flow_secret=flow_secret,
            discord_user_id=discord_user_id,
            google_sub=identity.sub,
            # An address Google has not verified could be anyone's: it is shown, but not stored.
            google_email=identity.email if identity.email_verified else None,
            ttl=self.login.state_ttl,
        )
        language = language_from_accept(request.headers.get("Accept-Language"))
        page = confirm_page(
            self.catalog,
            language,
            email=identity.email,
            email_verified=identity.email_verified,
            sub=identity.sub,
            discord_user_id=discord_user_id,
            discord_name=discord_name,
            csrf_token=csrf_token,
        )
        return _html(page)

    @_guarded
    async def confirm(self, request: web.Request) -> web.StreamResponse:
        if self.oidc is None:
            return self._page(request, "not_configured", 503)
        settings, store = request.app[SETTINGS], self.accounts
        flow_secret = _secret(request.cookies.get(cookie_name(settings)))
        if flow_secret is None:
            return self._page(request, "session_missing", 400)
        form = await self._form(request, settings)
        if form is None:
            return self._page(request, "form_invalid", 400)
        csrf_token = _secret(form.get("csrf_token"))
        pending = await store.take_pending_link(csrf_token, flow_secret) if csrf_token else None
        if pending is None:
            return self._page(request, "confirm_invalid", 400, try_again=True)
        if form.get("action") == "cancel":
            log.info("login flow: Discord user %s cancelled the link", pending.discord_user_id)
            response = self._page(request, "cancelled", 200)
        else:
            try:
                await store.upsert_google_sub(pending.discord_user_id, pending.google_sub, pending.google_email)
            except LinkConflictError:
                log.info(
                    "login flow: refused to link Discord user %s: the Google account is linked to another user",
                    pending.discord_user_id,
                )
                response = self._page(request, "conflict", 409)
            else:
                log.info("login flow: Discord user %s linked a Google account", pending.discord_user_id)
                language = language_from_accept(request.headers.get("Accept-Language"))
                response = _html(
                    success_page(
                        self.catalog, language, email=pending.google_email, discord_user_id=pending.discord_user_id
                    )
                )
        response.del_cookie(
            cookie_name(settings), path="/", secure=secure_cookies(settings), httponly=True, samesite="Lax"
        )
        return response

    @staticmethod
    async def _form(request: web.Request, settings: Settings) -> Mapping[str, object] | None:
        """The posted form, or None if it is malformed or arrives slower than WEB_READ_TIMEOUT."""
        try:
            async with asyncio.timeout(settings.web_read_timeout):
                return await request.post()
        except TimeoutError:
            log.info("login flow: the confirmation form did not arrive within %.0f s", settings.web_read_timeout)
        except FORM_ERRORS as error:
            log.info("login flow: refused a malformed confirmation form (%s: %s)", type(error).__name__, error)
        return None
