"""/link: a one-time code from ORA (`POST /api/link/init`), or one made locally when ORA is not configured."""

from __future__ import annotations

import logging

import lightbulb

from ora.core.ora_api import OraApiClient, OraApiError
from ora.core.replies import Replies
from ora.features.link.codes import LOCAL_CODE_TTL, new_local_code
from ora.features.link.queries import LinkCodes

log = logging.getLogger(__name__)
loader = lightbulb.Loader()


@loader.command
class Link(lightbulb.SlashCommand, name="commands.link.name", description="commands.link.description", localize=True):
    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, replies: Replies, codes: LinkCodes, ora: OraApiClient | None
    ) -> None:
        if ora is None:
            code = new_local_code()
            await codes.create(code, ctx.user.id, LOCAL_CODE_TTL)
            await replies.say(ctx, "link.local_code", ephemeral=True, code=code, minutes=LOCAL_CODE_TTL // 60)
            return
        await replies.defer(ctx, ephemeral=True)
        try:
            link = await ora.link_init(ctx.user.id)
        except OraApiError as error:
            log.warning("/link for user %s failed: %s", ctx.user.id, error)
            await replies.say(ctx, "link.ora_down", ephemeral=True, reason=error.detail)
            return
        expiry = replies.text(ctx, "link.expiry", minutes=max(1, link.expires_in // 60)) if link.expires_in else ""
        await replies.say(ctx, "link.ora_code", ephemeral=True, code=link.code, expiry=expiry)
