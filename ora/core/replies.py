"""How every command answers: in the user's language, honouring their privacy mode, never pinging anyone.

Features receive a `Replies` through dependency injection and use it instead of calling `ctx.respond` directly,
so privacy and mention rules live in one place.

Whether an interaction was deferred and its "thinking…" message not yet replaced belongs to that interaction
alone, which one task of one process handles from start to end: it is kept in a context variable of that task
(the error handler runs in it too), not in a map of the process.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
from typing import Any

import attrs
import hikari
import lightbulb

from ora.core.config import Settings
from ora.core.i18n import Catalog
from ora.core.store.users import UserPreferences

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


@attrs.define
class _Deferral:
    """The interaction a task answers: deferred and not filled yet (`ephemeral` says how), or not."""

    interaction_id: int
    ephemeral: bool | None = None


_deferral: contextvars.ContextVar[_Deferral | None] = contextvars.ContextVar("ora_deferral", default=None)


def _deferral_of(ctx: lightbulb.Context) -> _Deferral:
    state = _deferral.get()
    if state is None or state.interaction_id != ctx.interaction.id:
        state = _Deferral(ctx.interaction.id)
        _deferral.set(state)
    return state


def _take_deferral(ctx: lightbulb.Context) -> bool | None:
    """Whether the interaction awaits its first answer after a defer (and how it was deferred); clears it."""
    state = _deferral_of(ctx)
    ephemeral, state.ephemeral = state.ephemeral, None
    return ephemeral


class Replies:
    def __init__(self, preferences: UserPreferences, settings: Settings, catalog: Catalog) -> None:
        self._preferences = preferences
        self._settings = settings
        self.catalog = catalog

    async def is_private(self, user_id: int) -> bool:
        """The user's `/privacy` choice, else PRIVACY_DEFAULT. A database problem errs on the private side."""
        try:
            mode = await self._preferences.get_privacy_mode(user_id)
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
        if _take_deferral(ctx) is not None:
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
        _deferral_of(ctx).ephemeral = ephemeral
        return ephemeral

    def answered(self, ctx: lightbulb.Context) -> None:
        """Note that a command filled its deferred response itself (e.g. by editing the interaction)."""
        _take_deferral(ctx)

    async def edit(self, ctx: lightbulb.Context, content: str) -> None:
        """Replace the text of the initial (or deferred) response."""
        _take_deferral(ctx)
        await ctx.interaction.edit_initial_response(content, **NO_MENTIONS)

    async def fail(self, ctx: lightbulb.Context, key: str, /, **values: object) -> None:
        """A short failure message that only the user sees, whatever was sent before."""
        await self.send_private(ctx, self.text(ctx, key, **values))

    async def send_private(self, ctx: lightbulb.Context, content: str) -> None:
        """Send `content` ephemerally, even after a public defer.

        A public "thinking…" message cannot become private: it is deleted and the text follows up privately.
        """
        state = _deferral_of(ctx)
        if state.ephemeral is False:
            state.ephemeral = None
            await ctx.interaction.delete_initial_response()
            await ctx.interaction.execute(content, flags=hikari.MessageFlag.EPHEMERAL, **NO_MENTIONS)
            return
        await self.send(ctx, content, ephemeral=True)
