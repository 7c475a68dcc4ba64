"""/ping, /say and /health."""

from __future__ import annotations

import asyncio
import math
import os
import platform

import hikari
import lightbulb

from ora.replies import Replies, UserFacingError
from ora.runtime import DependencyProbe, Runtime
from ora.services.llm import LLMClient
from ora.store import Store

loader = lightbulb.Loader()
SAY_MAX_CHARS = 2000  # one Discord message
_AUTH_REQUESTS = {"chat": "POST /chat/completions", "models": "GET /models", "props": "GET /props"}


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
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, bot: hikari.GatewayBot) -> None:
        gateway = format_latency(bot.heartbeat_latency) or replies.text(ctx, "ping.unknown")
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


async def _probe_state(probe: DependencyProbe, timeout: float) -> str:
    if probe.probe is None:
        return "health.not_configured"
    try:
        async with asyncio.timeout(timeout):
            return "health.ok" if await probe.probe() else "health.down"
    except Exception:
        return "health.down"


@loader.command
class Health(
    lightbulb.SlashCommand, name="commands.health.name", description="commands.health.description", localize=True
):
    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        replies: Replies,
        bot: hikari.GatewayBot,
        runtime: Runtime,
        store: Store,
        llm: LLMClient,
    ) -> None:
        await replies.defer(ctx)
        database = "health.ok" if await store.ping() else "health.down"
        states = await asyncio.gather(*(_probe_state(probe, runtime.probe_timeout) for probe in runtime.probes))
        lines = [
            replies.text(ctx, "health.title"),
            replies.text(
                ctx,
                "health.process",
                pid=os.getpid(),
                uptime=format_uptime(runtime.uptime),
                guilds=len(bot.cache.get_guilds_view()),
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
                latency=format_latency(bot.heartbeat_latency) or replies.text(ctx, "ping.unknown"),
            ),
            replies.text(
                ctx, "health.dependency", name=replies.text(ctx, "health.database"), state=replies.text(ctx, database)
            ),
        ]
        for probe, state in zip(runtime.probes, states, strict=True):
            shown = replies.text(ctx, state)
            # llama-server answers GET /v1/models without the key: say when a request that needs it was refused.
            if probe.name_key == "health.llm" and (failure := llm.auth_failure) is not None:
                request = _AUTH_REQUESTS.get(failure.source, failure.source)
                shown = replies.text(ctx, "health.llm_key_refused", status=failure.status, source=request)
            lines.append(replies.text(ctx, "health.dependency", name=replies.text(ctx, probe.name_key), state=shown))
        await replies.edit(ctx, "\n".join(lines))
