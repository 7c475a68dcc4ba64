"""/link: a one-time code from ORA (`POST /api/link/init`), or one made locally when ORA is not configured."""

from __future__ import annotations

import logging
import secrets

import lightbulb

from ora.replies import Replies
from ora.services.ora_api import OraApiClient, OraApiError
from ora.store import Store

log = logging.getLogger(__name__)
loader = lightbulb.Loader()

LOCAL_CODE_TTL = 600
# Unambiguous alphabet (no 0/O, 1/I/L): the code is read and typed by people.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_local_code(groups: int = 3, group_length: int = 4) -> str:
    """E.g. `7KQF-M2XA-PZ9C`: 12 symbols of a 31-letter alphabet, about 59 random bits."""
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(group_length)) for _ in range(groups))


def canonical_local_code(typed: str, groups: int = 3, group_length: int = 4) -> str:
    """A code as people type it (lower case, spaces, dashes left out) in the form `new_local_code` made it."""
    symbols = "".join(char for char in typed if not char.isspace() and char != "-").upper()
    if len(symbols) != groups * group_length:
        return symbols
    return "-".join(symbols[start : start + group_length] for start in range(0, len(symbols), group_length))


@loader.command
class Link(lightbulb.SlashCommand, name="commands.link.name", description="commands.link.description", localize=True):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, store: Store, ora: OraApiClient | None) -> None:
        if ora is None:
            code = new_local_code()
            await store.create_link_code(code, ctx.user.id, LOCAL_CODE_TTL)
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
