"""/ping, /say and /health."""

from __future__ import annotations

import asyncio
import math
import os
import platform

import hikari
import lightbulb

from ora.core.replies import Replies, UserFacingError
from ora.core.runtime import Runtime

loader = lightbulb.Loader()
SAY_MAX_CHARS = 2000  # one Discord message


def format_latency(seconds: float) -> str | None:
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return None
    return f"{seconds * 1000:.0f} ms"


def format_uptime(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


@loader.command
class Ping(lightbulb.SlashCommand, name="commands.ping.name", description="commands.ping.description", localize=True):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, shards: hikari.ShardAware) -> None:
        gateway = format_latency(shards.heartbeat_latency) or replies.text(ctx, "ping.unknown")
        await replies.say(ctx, "ping.reply", ephemeral=True, gateway=gateway)


@lightbulb.hook(lightbulb.ExecutionSteps.CHECKS, name="administrators_only")
def administrators_only(_: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
    """Server-side check, whatever a guild's command permission overrides say."""
    if ctx.guild_id is None or ctx.member is None:
        raise UserFacingError("say.dm_refused")
    if not ctx.member.permissions & hikari.Permissions.ADMINISTRATOR:
        raise UserFacingError("say.not_admin")


@loader.command
class Say(
    lightbulb.SlashCommand,
    name="commands.say.name",
    description="commands.say.description",
    localize=True,
    default_member_permissions=hikari.Permissions.ADMINISTRATOR,
    contexts=[hikari.ApplicationContextType.GUILD],
    hooks=[administrators_only],
):
    text = lightbulb.string(
        "commands.say.options.text.name",
        "commands.say.options.text.description",
        localize=True,
        max_length=SAY_MAX_CHARS,
    )
    ephemeral = lightbulb.boolean(
        "commands.say.options.ephemeral.name",
        "commands.say.options.ephemeral.description",
        localize=True,
        default=False,
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies) -> None:
        if not self.text.strip():
            raise UserFacingError("say.empty")
        if len(self.text) > SAY_MAX_CHARS:  # Discord enforces max_length; a forged payload does not
            raise UserFacingError("say.too_long", limit=SAY_MAX_CHARS)
        # Echoed verbatim: NO_MENTIONS (inside replies.send) stops @everyone, role and user pings.
        await replies.send(ctx, self.text, ephemeral=self.ephemeral)


@loader.command
class Health(
    lightbulb.SlashCommand, name="commands.health.name", description="commands.health.description", localize=True
):
    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        replies: Replies,
        runtime: Runtime,
        shards: hikari.ShardAware,
        cache: hikari.CacheAware,
    ) -> None:
        await replies.defer(ctx)
        results = await asyncio.gather(*(probe.run(runtime.probe_timeout) for probe in runtime.probes))
        lines = [
            replies.text(ctx, "health.title"),
            replies.text(
                ctx,
                "health.process",
                pid=os.getpid(),
                uptime=format_uptime(runtime.uptime),
                guilds=len(cache.cache.get_guilds_view()),
            ),
            replies.text(
                ctx,
                "health.versions",
                python=platform.python_version(),
                hikari=hikari.__version__,
                lightbulb=lightbulb.__version__,
            ),
            replies.text(
                ctx,
                "health.latency",
                latency=format_latency(shards.heartbeat_latency) or replies.text(ctx, "ping.unknown"),
            ),
        ]
        for probe, result in zip(runtime.probes, results, strict=True):
            if result is None:
                state = replies.text(ctx, "health.not_configured")
            else:
                state = replies.text(ctx, result.state_key, **result.values)
            lines.append(replies.text(ctx, "health.dependency", name=replies.text(ctx, probe.name_key), state=state))
        await replies.edit(ctx, "\n".join(lines))
