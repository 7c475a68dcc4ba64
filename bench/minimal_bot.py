"""The benchmark's baseline: the smallest hikari + lightbulb bot that answers an ephemeral `/ping`.

    DISCORD_BOT_TOKEN=… DISCORD_REST_URL=http://127.0.0.1:PORT/api/v10 ORA_DEV_GUILD_ID=… python bench/minimal_bot.py

Same libraries, intents and logging level as the ORA bot, nothing else: no database, no web server, no
extensions, no dependency injection beyond lightbulb's own. It logs `ready: commands synced` like the ORA
bot so the same harness can wait for it. SIGINT/SIGTERM stop it (hikari's `run` handles both).

By default it is set up like the ORA bot, to compare like with like: REST connections kept alive (hikari's
default closes them after every request) and lightbulb's dependency resolvers cached (`ora.core.linkd_compat`).
`MINIMAL_BOT_KEEPALIVE=0` and `MINIMAL_BOT_RESOLVER_CACHE=0` give the bot as hikari and lightbulb ship it.
"""

from __future__ import annotations

import logging
import math
import os
import sys

import hikari
import lightbulb

from ora.core.linkd_compat import cache_injection_resolvers

DEFAULT_REST_URL = "https://discord.com/api/v10"
log = logging.getLogger("minimal")


class Ping(lightbulb.SlashCommand, name="ping", description="Show the bot's gateway latency"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, bot: hikari.GatewayBot) -> None:
        latency = bot.heartbeat_latency
        shown = "not measured yet" if math.isnan(latency) or math.isinf(latency) else f"{latency * 1000:.0f} ms"
        await ctx.respond(f"Pong! Gateway heartbeat latency: {shown}.", ephemeral=True)


def _enabled(name: str) -> bool:
    return os.environ.get(name, "1") != "0"


def build() -> hikari.GatewayBot:
    token = os.environ["DISCORD_BOT_TOKEN"]
    guild = os.environ.get("ORA_DEV_GUILD_ID")
    if _enabled("MINIMAL_BOT_RESOLVER_CACHE"):
        cache_injection_resolvers()
    bot = hikari.GatewayBot(
        token,
        rest_url=os.environ.get("DISCORD_REST_URL") or DEFAULT_REST_URL,
        intents=hikari.Intents.GUILDS,
        logs=None,
        banner=None,
        http_settings=hikari.impl.HTTPSettings(force_close_transports=not _enabled("MINIMAL_BOT_KEEPALIVE")),
    )
    client = lightbulb.client_from_app(bot, default_enabled_guilds=[int(guild)] if guild else ())
    client.register(Ping)

    async def started(_: hikari.StartedEvent) -> None:
        await client.start()
        log.info("ready: commands synced")

    bot.subscribe(hikari.StartedEvent, started)
    return bot


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        stream=sys.stdout,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    build().run(check_for_updates=False, close_loop=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
