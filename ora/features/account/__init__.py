"""The user's account: /login (link a Google account through OpenID Connect, in the browser), /whoami,
/privacy set and /unlink, and the login pages of the built-in web server."""

import aiohttp

from ora.core.assembly import FeatureStart
from ora.core.config import Settings
from ora.core.feature import Feature, Service, Strings
from ora.core.i18n import Catalog
from ora.core.store import Schema
from ora.features.account import page_strings, strings
from ora.features.account.commands import loader
from ora.features.account.oidc import OIDCClient
from ora.features.account.queries import AccountQueries
from ora.features.account.routes import auth_routes
from ora.features.account.settings import SECTION, LoginSettings


async def start(ctx: FeatureStart) -> None:
    login = await ctx.get(LoginSettings)
    accounts = await ctx.get(AccountQueries)
    oidc: OIDCClient | None = None
    if login.configured and login.google_client_id and login.google_client_secret:
        oidc = OIDCClient(
            login.google_issuer,
            login.google_client_id,
            login.google_client_secret,
            session=await ctx.get(aiohttp.ClientSession),
        )
    ctx.add_routes(auth_routes(oidc, await ctx.get(Catalog), accounts, login))
    timeout = (await ctx.get(Settings)).health_probe_timeout
    ctx.add_probe("health.google", (lambda: oidc.probe(timeout)) if oidc is not None else None)
    ctx.add_purge("login states, flows and confirmations", accounts.purge_expired)


feature = Feature(
    name="account",
    loader=loader,
    strings=Strings(en={**strings.EN, **page_strings.EN}, ja={**strings.JA, **page_strings.JA}),
    settings=SECTION,
    schema=Schema("account", __name__),
    services=[Service(type=AccountQueries, factory=AccountQueries)],
    start=start,
)
