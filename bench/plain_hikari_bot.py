"""The floor of the stack: hikari alone (no lightbulb, no dependency injection) answering an ephemeral `/ping`.

    DISCORD_BOT_TOKEN=… DISCORD_REST_URL=http://HOST:PORT/api/v10 ORA_DEV_GUILD_ID=… python bench/plain_hikari_bot.py

It registers `/ping` itself (one bulk PUT, as lightbulb does), listens to INTERACTION_CREATE and answers with
the same text, flags and no-mention settings as the ORA bot, keeping REST connections alive like it. It logs
`ready: commands synced` so the same harness can wait for it. SIGINT/SIGTERM stop it.
"""

from __future__ import annotations

import logging
import math
import os
import sys

import hikari

DEFAULT_REST_URL = "https://discord.com/api/v10"
log = logging.getLogger("plain_hikari")


def latency_text(bot: hikari.GatewayBot) -> str:
    latency = bot.heartbeat_latency
    shown = "not measured yet" if math.isnan(latency) or math.isinf(latency) else f"{latency * 1000:.0f} ms"
    return f"Pong! Gateway heartbeat latency: {shown}."


def build() -> hikari.GatewayBot:
    token = os.environ["DISCORD_BOT_TOKEN"]
    guild = os.environ.get("ORA_DEV_GUILD_ID")
    bot = hikari.GatewayBot(
        token,
        rest_url=os.environ.get("DISCORD_REST_URL") or DEFAULT_REST_URL,
        intents=hikari.Intents.GUILDS,
        logs=None,
        banner=None,
        http_settings=hikari.impl.HTTPSettings(force_close_transports=False),
    )

    async def started(_: hikari.StartedEvent) -> None:
        application = await bot.rest.fetch_application()
        ping = bot.rest.slash_command_builder("ping", "Show the bot's gateway latency")
        await bot.rest.set_application_commands(application.id, [ping], guild=int(guild) if guild else hikari.UNDEFINED)
        log.info("ready: commands synced")

    async def interaction(event: hikari.InteractionCreateEvent) -> None:
        command = event.interaction
        if not isinstance(command, hikari.CommandInteraction) or command.command_name != "ping":
            return
        await command.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE,
            latency_text(bot),
            flags=hikari.MessageFlag.EPHEMERAL,
            mentions_everyone=False,
            user_mentions=False,
            role_mentions=False,
        )

    bot.subscribe(hikari.StartedEvent, started)
    bot.subscribe(hikari.InteractionCreateEvent, interaction)
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
