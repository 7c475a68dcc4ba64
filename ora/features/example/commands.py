"""/hello [name]: a greeting in the user's language, and how many times they have been greeted."""

from __future__ import annotations

import lightbulb

from ora.core.replies import Replies
from ora.features.example.queries import Greetings
from ora.features.example.settings import ExampleSettings

loader = lightbulb.Loader()


@loader.command
class Hello(
    lightbulb.SlashCommand, name="commands.hello.name", description="commands.hello.description", localize=True
):
    name = lightbulb.string(
        "commands.hello.options.name.name",
        "commands.hello.options.name.description",
        localize=True,
        default=None,
        max_length=50,
    )

    @lightbulb.invoke
    async def invoke(
        self, ctx: lightbulb.Context, replies: Replies, greetings: Greetings, settings: ExampleSettings
    ) -> None:
        count = await greetings.count_one(ctx.user.id)
        # replies.say: in the user's language, following their privacy mode, never pinging anyone.
        await replies.say(
            ctx, "hello.reply", greeting=settings.greeting, name=self.name or ctx.user.username, count=count
        )
