"""How every command answers: in the user's language, honouring their privacy mode, never pinging anyone.

Extensions receive a `Replies` through dependency injection and use it instead of calling
`ctx.respond` directly, so privacy and mention rules live in one place.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import hikari
import lightbulb

from ora.config import Settings
from ora.i18n import Catalog
from ora.store import Store

log = logging.getLogger(__name__)

NO_MENTIONS: dict[str, Any] = {"mentions_everyone": False, "user_mentions": False, "role_mentions": False}


class UserFacingError(Exception):
    """An error the user can understand or fix: shown as the translated `key`, ephemerally."""

    def __init__(self, key: str, /, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def new_error_id() -> str:
    """Short id shown to the user and written in the log line with the traceback."""
    return secrets.token_hex(4)


class Replies:
    def __init__(self, store: Store, settings: Settings, catalog: Catalog) -> None:
        self._store = store
        self._settings = settings
        self.catalog = catalog
        # Interactions acknowledged with a defer whose "thinking…" message has not been replaced yet,
        # with whether that defer was ephemeral. Bounded: an entry outlives its interaction only if a
        # command never answers at all.
        self._awaiting_fill: dict[int, bool] = {}

    async def is_private(self, user_id: int) -> bool:
        """The user's `/privacy` choice, else PRIVACY_DEFAULT. A database problem errs on the private side."""
        try:
            mode = await self._store.get_privacy_mode(user_id)
        except Exception:
            log.exception("could not read the privacy mode of user %s; answering privately", user_id)
            return True
        return (mode or self._settings.privacy_default) == "private"

    def text(self, ctx: lightbulb.Context, key: str, /, **values: object) -> str:
        return self.catalog.t(ctx.interaction.locale, key, **values)

    async def send(
        self, ctx: lightbulb.Context, content: str, *, ephemeral: bool | None = None, **kwargs: Any
    ) -> hikari.Snowflakeish:
        """Answer with `content`: fills a deferred response, else responds or follows up.

        `ephemeral=None` means: by the user's privacy mode.
        """
        if self._awaiting_fill.pop(ctx.interaction.id, None) is not None:
            # The first answer after a defer replaces the "thinking…" message (keeping its visibility).
            await ctx.interaction.edit_initial_response(content, **NO_MENTIONS, **kwargs)
            return ctx.interaction.id
        if ephemeral is None:
            ephemeral = await self.is_private(ctx.user.id)
        return await ctx.respond(content, ephemeral=ephemeral, **NO_MENTIONS, **kwargs)

    async def say(
        self, ctx: lightbulb.Context, key: str, /, *, ephemeral: bool | None = None, **values: object
    ) -> None:
        await self.send(ctx, self.text(ctx, key, **values), ephemeral=ephemeral)

    async def defer(self, ctx: lightbulb.Context, *, ephemeral: bool | None = None) -> bool:
        """Acknowledge now (Discord's 3-second window); returns whether the answer will be ephemeral."""
        if ephemeral is None:
            ephemeral = await self.is_private(ctx.user.id)
        await ctx.defer(ephemeral=ephemeral)
        self._awaiting_fill[ctx.interaction.id] = ephemeral
        while len(self._awaiting_fill) > 10_000:
            del self._awaiting_fill[next(iter(self._awaiting_fill))]
        return ephemeral

    def answered(self, ctx: lightbulb.Context) -> None:
        """Note that a command filled its deferred response itself (e.g. by editing the interaction)."""
        self._awaiting_fill.pop(ctx.interaction.id, None)

    async def edit(self, ctx: lightbulb.Context, content: str) -> None:
        """Replace the text of the initial (or deferred) response."""
        self._awaiting_fill.pop(ctx.interaction.id, None)
        await ctx.interaction.edit_initial_response(content, **NO_MENTIONS)

    async def fail(self, ctx: lightbulb.Context, key: str, /, **values: object) -> None:
        """A short failure message that only the user sees, whatever was sent before."""
        await self.send_private(ctx, self.text(ctx, key, **values))

    async def send_private(self, ctx: lightbulb.Context, content: str) -> None:
        """Send `content` ephemerally, even after a public defer.

        A public "thinking…" message cannot become private: it is deleted and the text follows up privately.
        """
        if self._awaiting_fill.get(ctx.interaction.id) is False:
            del self._awaiting_fill[ctx.interaction.id]
            await ctx.interaction.delete_initial_response()
            await ctx.interaction.execute(content, flags=hikari.MessageFlag.EPHEMERAL, **NO_MENTIONS)
            return
        await self.send(ctx, content, ephemeral=True)
