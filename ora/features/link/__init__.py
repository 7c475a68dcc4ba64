"""/link: a one-time code to link a Discord account with ORA, from ORA or made locally; local codes can be
redeemed by the operator's own site at POST /link/redeem."""

from ora.core.assembly import FeatureStart
from ora.core.feature import Feature, Service, Strings
from ora.core.store import Schema
from ora.features.link import strings
from ora.features.link.commands import loader
from ora.features.link.queries import LinkCodes
from ora.features.link.routes import link_redeem_routes
from ora.features.link.settings import SECTION, LinkSettings


async def start(ctx: FeatureStart) -> None:
    codes = await ctx.get(LinkCodes)
    ctx.add_routes(link_redeem_routes(codes, await ctx.get(LinkSettings)))
    ctx.add_purge("/link codes", codes.purge_expired)


feature = Feature(
    name="link",
    loader=loader,
    strings=Strings(en=strings.EN, ja=strings.JA),
    settings=SECTION,
    schema=Schema("link", __name__),
    services=[Service(type=LinkCodes, factory=LinkCodes)],
    start=start,
)
