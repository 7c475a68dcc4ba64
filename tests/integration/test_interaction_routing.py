"""Each interaction reaches one listener of ours, which hands known commands to lightbulb (no second task)."""

from __future__ import annotations

import hikari
import lightbulb

from ora.app import full_catalog
from ora.core.pipeline import LIGHTBULB_LISTENER, route_interactions

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij"


def listener_names(bot: hikari.GatewayBot) -> list[str]:
    return [getattr(listener, "__qualname__", "") for listener in bot.get_listeners(hikari.InteractionCreateEvent)]


async def test_lightbulbs_listener_is_replaced_by_one_dispatcher() -> None:
    bot = hikari.GatewayBot(TOKEN, logs=None, banner=None)
    client = lightbulb.client_from_app(bot)
    assert listener_names(bot) == [LIGHTBULB_LISTENER]  # what the installed lightbulb subscribes
    route_interactions(bot, client, full_catalog())
    assert listener_names(bot) == ["route_interactions.<locals>.dispatch"]
