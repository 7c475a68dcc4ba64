"""`POST /link/redeem`: an operator's own site turns a local /link code into the Discord user id, once.

Only when `LINK_REDEEM_TOKEN` is set (otherwise the route does not exist: 404). The caller sends
`Authorization: Bearer <LINK_REDEEM_TOKEN>` and the JSON body `{"code": "7KQF-M2XA-PZ9C"}`; the answer is
`{"discord_user_id": "<id>"}` for the first redeem of a live code, and the same 404 `unknown_code` for an unknown,
expired or already redeemed one, so a caller learns nothing about codes it does not hold. Requests count against
the client address's rate limit (`LOGIN_RATE_LIMIT`, a bucket of their own). Neither the code nor the token is
logged.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from ora.core.web.limits import RateLimiter, client_address, retry_after
from ora.core.web.server import SETTINGS, RouteSetup
from ora.features.link.codes import canonical_local_code
from ora.features.link.queries import LinkCodes
from ora.features.link.settings import LinkSettings

log = logging.getLogger(__name__)

REDEEM_PATH = "/link/redeem"
MAX_CODE_LENGTH = 64
REDEEM_LIMITER = web.AppKey("link_redeem_limiter", RateLimiter)


class _Redeem:
    def __init__(self, codes: LinkCodes, token: str) -> None:
        self.codes = codes
        self.token = token


REDEEM = web.AppKey("link_redeem", _Redeem)


def link_redeem_routes(codes: LinkCodes, settings: LinkSettings) -> RouteSetup:
    def setup(app: web.Application) -> None:
        if not settings.redeem_token:
            return
        app[REDEEM] = _Redeem(codes, settings.redeem_token)
        app[REDEEM_LIMITER] = RateLimiter(app[SETTINGS].login_rate_limit, routes="link redeem route")
        app.router.add_post(REDEEM_PATH, redeem)

    return setup


def _error(status: int, error: str, **headers: str) -> web.Response:
    return web.json_response({"error": error}, status=status, headers=headers)


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


class _BadRequest(Exception):
    """The body is not `{"code": "<at most MAX_CODE_LENGTH characters>"}`; the message says how."""


async def _typed_code(request: web.Request) -> str:
    if request.content_type != "application/json":
        raise _BadRequest("expected Content-Type: application/json")
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError) as error:
        raise _BadRequest("the body is not valid JSON") from error
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code.strip():
        raise _BadRequest('expected a JSON object {"code": "<the /link code>"}')
    if len(code) > MAX_CODE_LENGTH:
        raise _BadRequest(f"the code is longer than {MAX_CODE_LENGTH} characters")
    return code


async def redeem(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    state = request.app[REDEEM]
    wait = request.app[REDEEM_LIMITER].acquire(client_address(request, settings.web_trusted_proxies))
    if wait > 0:
        return _error(429, "rate_limited", **{"Retry-After": retry_after(wait)})
    if not _authorized(request, state.token):
        return _error(401, "unauthorized", **{"WWW-Authenticate": 'Bearer realm="ora-link"'})
    try:
        code = await _typed_code(request)
    except _BadRequest as error:
        return web.json_response({"error": "bad_request", "detail": str(error)}, status=400)
    user_id = await state.codes.redeem(canonical_local_code(code))
    if user_id is None:
        return _error(404, "unknown_code")
    log.info("a /link code was redeemed for Discord user %s", user_id)
    return web.json_response({"discord_user_id": str(user_id)})
