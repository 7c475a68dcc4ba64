"""What runs around every command: in-flight tracking, error replies, and commands this bot does not have."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import hikari
import lightbulb
from lightbulb.prefab import MissingRequiredPermission

from ora.core.i18n import Catalog
from ora.core.replies import Replies, UserFacingError, new_error_id
from ora.core.runtime import Runtime
from ora.core.store import DatabaseUnavailable

log = logging.getLogger("ora")
Listener = Callable[[hikari.InteractionCreateEvent], Coroutine[Any, Any, None]]
LIGHTBULB_LISTENER = "GatewayEnabledClient.__init__.<locals>.handle_interaction"


def track_in_flight(runtime: Runtime) -> lightbulb.ExecutionHook:
    """First step of every command: count it in flight, and refuse new work once shutdown began."""

    def hook(_: lightbulb.ExecutionPipeline, __: lightbulb.Context) -> None:
        if not runtime.accepting:
            raise UserFacingError("error.busy")
        runtime.track_current_task()

    # Built directly: `lightbulb.hook` would wrap it for dependency injection, which it does not use.
    return lightbulb.ExecutionHook(lightbulb.ExecutionSteps.MAX_CONCURRENCY, False, "track_in_flight", hook)


async def handle_command_error(exc: lightbulb.exceptions.ExecutionPipelineFailedException, replies: Replies) -> bool:
    """Every failure reaches the user as a short ephemeral message and the log as a line with the cause."""
    ctx = exc.context
    command = ctx.interaction.command_name
    user_error = next((cause for cause in exc.causes if isinstance(cause, UserFacingError)), None)
    database_down = next((cause for cause in exc.causes if isinstance(cause, DatabaseUnavailable)), None)
    try:
        if user_error is not None:
            log.info("/%s by user %s refused: %s", command, ctx.user.id, user_error.key)
            await replies.fail(ctx, user_error.key, **user_error.values)
        elif database_down is not None:
            log.warning("/%s by user %s failed: %s", command, ctx.user.id, database_down)
            await replies.fail(ctx, "error.database")
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


def route_interactions(bot: hikari.GatewayBot, client: lightbulb.Client, catalog: Catalog) -> None:
    """One listener for every interaction: lightbulb runs the commands it has, and a command this bot does not
    have (deleted or renamed while a client still shows it, or not synced yet) gets a short ephemeral answer and
    an INFO line, instead of Discord's "The application did not respond".

    lightbulb subscribes a listener of its own; it is replaced by this one, so each interaction costs one task
    and one lookup. Should a lightbulb release listen differently, ours is added beside it for unknown commands.
    """
    own = _lightbulb_listener(bot)

    async def dispatch(event: hikari.InteractionCreateEvent) -> None:
        interaction = event.interaction
        if isinstance(interaction, hikari.CommandInteraction) and not _is_known(client, interaction):
            await _answer_unknown(interaction, catalog)
            return
        if own is not None:
            await client.handle_interaction_create(interaction)

    if own is not None:
        bot.unsubscribe(hikari.InteractionCreateEvent, own)
    bot.subscribe(hikari.InteractionCreateEvent, dispatch)


def _lightbulb_listener(bot: hikari.GatewayBot) -> Listener | None:
    for listener in bot.get_listeners(hikari.InteractionCreateEvent):
        if getattr(listener, "__qualname__", "") == LIGHTBULB_LISTENER:
            return listener
    return None


def _is_known(client: lightbulb.Client, interaction: hikari.CommandInteraction) -> bool:
    scope = interaction.registered_guild_id or 0  # lightbulb's key for global commands
    name = interaction.command_name
    return any(path[0] == name for path in client.invokable_commands.get(scope, {}))


async def _answer_unknown(interaction: hikari.CommandInteraction, catalog: Catalog) -> None:
    log.info("user %s used /%s, which this bot does not have", interaction.user.id, interaction.command_name)
    try:
        await interaction.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE,
            catalog.t(interaction.locale, "error.unknown_command"),
            flags=hikari.MessageFlag.EPHEMERAL,
        )
    except hikari.HikariError as error:
        log.warning("could not answer the unknown command /%s: %s", interaction.command_name, error)
