"""`GET /example/greetings`: how many greetings the bot has given, as JSON (nothing about anyone in particular)."""

from __future__ import annotations

from aiohttp import web

from ora.core.web.server import RouteSetup
from ora.features.example.queries import Greetings


def greeting_routes(greetings: Greetings) -> RouteSetup:
    async def total(_: web.Request) -> web.Response:
        return web.json_response({"greetings": await greetings.total()})

    def setup(app: web.Application) -> None:
        app.router.add_get("/example/greetings", total)

    return setup
