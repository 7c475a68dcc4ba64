"""/login, /whoami, /privacy set and /unlink: the user's Google link and reply visibility."""

from __future__ import annotations

import lightbulb

from ora.core.config import PRIVACY_MODES, Settings
from ora.core.replies import Replies, UserFacingError
from ora.core.store.users import UserPreferences
from ora.features.account.queries import AccountQueries
from ora.features.account.routes import login_url, new_login_state
from ora.features.account.settings import LoginSettings

loader = lightbulb.Loader()


def inline_code(value: str) -> str:
    """`value` as Discord inline code: no markdown or mention syntax inside can take effect."""
    cleaned = value.replace("`", "'").replace("\n", " ")
    return f"`{cleaned}`" if cleaned else "``"


@loader.command
class Login(
    lightbulb.SlashCommand, name="commands.login.name", description="commands.login.description", localize=True
):
    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        replies: Replies,
        store: AccountQueries,
        settings: Settings,
        login: LoginSettings,
    ) -> None:
        if not login.configured:
            await replies.say(ctx, "account.login.not_configured", ephemeral=True)
            return
        state = new_login_state()
        await store.create_login_state(state, ctx.user.id, login.state_ttl, discord_name=ctx.user.username)
        lines = [
            replies.text(
                ctx,
                "account.login.url",
                url=login_url(settings.web_base_url, state),
                minutes=max(1, login.state_ttl // 60),
                user_id=ctx.user.id,
            )
        ]
        user = await store.get_user(ctx.user.id)
        if user is not None and user.google_sub:
            email = inline_code(user.google_email or user.google_sub)
            lines.append(replies.text(ctx, "account.login.relink", email=email))
        await replies.send(ctx, "\n".join(lines), ephemeral=True)


@loader.command
class WhoAmI(
    lightbulb.SlashCommand, name="commands.whoami.name", description="commands.whoami.description", localize=True
):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, store: AccountQueries, settings: Settings) -> None:
        user = await store.get_user(ctx.user.id)
        if user is not None and user.google_sub:
            email = (
                inline_code(user.google_email) if user.google_email else replies.text(ctx, "account.whoami.no_email")
            )
            link = replies.text(ctx, "account.whoami.linked", email=email, sub=inline_code(user.google_sub))
        else:
            link = replies.text(ctx, "account.whoami.not_linked")
        chosen = user.privacy_mode if user is not None else None
        mode = replies.text(ctx, f"account.mode.{chosen or settings.privacy_default}")
        privacy_key = "account.whoami.privacy" if chosen else "account.whoami.privacy_default"
        # Always private: the e-mail address and Google account id are the user's own business.
        await replies.send(ctx, f"{link}\n{replies.text(ctx, privacy_key, mode=mode)}", ephemeral=True)


privacy = lightbulb.Group("commands.privacy.name", "commands.privacy.description", localize=True)


@privacy.register
class PrivacySet(
    lightbulb.SlashCommand,
    name="commands.privacy.set.name",
    description="commands.privacy.set.description",
    localize=True,
):
    mode = lightbulb.string(
        "commands.privacy.set.options.mode.name",
        "commands.privacy.set.options.mode.description",
        localize=True,
        choices=[
            lightbulb.Choice("commands.privacy.set.choices.private", "private", localize=True),
            lightbulb.Choice("commands.privacy.set.choices.public", "public", localize=True),
        ],
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, preferences: UserPreferences) -> None:
        chosen = next((mode for mode in PRIVACY_MODES if mode == self.mode), None)
        if chosen is None:  # Discord enforces the choices; a forged interaction does not
            raise UserFacingError("account.privacy.invalid")
        await preferences.set_privacy_mode(ctx.user.id, chosen)
        mode = replies.text(ctx, f"account.mode.{chosen}")
        await replies.say(ctx, "account.privacy.set", ephemeral=True, mode=mode)


loader.command(privacy)


@loader.command
class Unlink(
    lightbulb.SlashCommand, name="commands.unlink.name", description="commands.unlink.description", localize=True
):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, store: AccountQueries) -> None:
        user = await store.get_user(ctx.user.id)
        if user is None or not user.google_sub or not await store.unlink_google(ctx.user.id):
            await replies.say(ctx, "account.unlink.none", ephemeral=True)
            return
        email = inline_code(user.google_email or user.google_sub)
        await replies.say(ctx, "account.unlink.done", ephemeral=True, email=email)
