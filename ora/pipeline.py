"""What runs around every command: in-flight tracking, error replies, and commands this bot does not have."""

from __future__ import annotations

import logging

import hikari
import lightbulb
from lightbulb.prefab import MissingRequiredPermission

from ora.i18n import Catalog
from ora.replies import Replies, UserFacingError, new_error_id
from ora.runtime import Runtime

log = logging.getLogger("ora")


def track_in_flight(runtime: Runtime) -> lightbulb.ExecutionHook:
    """First step of every command: count it in flight, and refuse new work once shutdown began."""

    @lightbulb.hook(lightbulb.ExecutionSteps.MAX_CONCURRENCY, name="track_in_flight")
    def hook(_: lightbulb.ExecutionPipeline, __: lightbulb.Context) -> None:
        if not runtime.accepting:
            raise UserFacingError("error.busy")
        runtime.track_current_task()

    return hook


async def handle_command_error(exc: lightbulb.exceptions.ExecutionPipelineFailedException, replies: Replies) -> bool:
    """Every failure reaches the user as a short ephemeral message and the log as a line with the cause."""
    ctx = exc.context
    command = ctx.interaction.command_name
    user_error = next((cause for cause in exc.causes if isinstance(cause, UserFacingError)), None)
    try:
        if user_error is not None:
            log.info("/%s by user %s refused: %s", command, ctx.user.id, user_error.key)
            await replies.fail(ctx, user_error.key, **user_error.values)
        elif any(isinstance(cause, MissingRequiredPermission) for cause in exc.causes):
            log.info("/%s by user %s refused: missing permissions", command, ctx.user.id)
            await replies.fail(ctx, "error.permission")
        else:
            error_id = new_error_id()
            cause = exc.causes[0] if exc.causes else exc
            log.error("/%s by user %s failed (error id %s)", command, ctx.user.id, error_id, exc_info=cause)
            await replies.fail(ctx, "error.internal", error_id=error_id)
    except (TimeoutError, hikari.HikariError):
        log.warning("could not tell user %s that /%s failed", ctx.user.id, command, exc_info=True)
    return True


def subscribe_unknown_commands(bot: hikari.GatewayBot, client: lightbulb.Client, catalog: Catalog) -> None:
    """A command this bot does not have (deleted or renamed while a client still shows it, or not synced yet)
    gets a short ephemeral answer and an INFO line, instead of Discord's "The application did not respond"."""

    async def unknown(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        if not isinstance(interaction, hikari.CommandInteraction):
            return
        scope = interaction.registered_guild_id or 0  # lightbulb's key for global commands
        if any(path[0] == interaction.command_name for path in client.invokable_commands.get(scope, {})):
            return
        log.info("user %s used /%s, which this bot does not have", interaction.user.id, interaction.command_name)
        try:
            await interaction.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE,
                catalog.t(interaction.locale, "error.unknown_command"),
                flags=hikari.MessageFlag.EPHEMERAL,
            )
        except hikari.HikariError as error:
            log.warning("could not answer the unknown command /%s: %s", interaction.command_name, error)

    bot.subscribe(hikari.InteractionCreateEvent, unknown)
