"""/chat: streams an answer from the OpenAI-compatible LLM into Discord messages, with memory per channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import hikari
import lightbulb

from ora.chat.conversation import build_messages
from ora.chat.limits import ChatLimiter
from ora.chat.pacing import EditPacer
from ora.config import Settings
from ora.replies import NO_MENTIONS, Replies, UserFacingError
from ora.services.llm import AnswerDelta, LLMClient, LLMError, LLMTimeout, StreamDone
from ora.store import Store
from ora.text.splitting import split_message

log = logging.getLogger(__name__)
loader = lightbulb.Loader()

PROMPT_MAX_CHARS = 4000
MODEL_CHOICES = 25  # Discord's maximum number of autocomplete choices
INTERRUPTED_NOTICE_SECONDS = 0.8  # shutdown gives a cancelled command about 1 s more


class StreamedMessages:
    """The deferred response plus follow-ups that together show one (possibly long) answer."""

    def __init__(self, interaction: hikari.CommandInteraction, *, ephemeral: bool) -> None:
        self._interaction = interaction
        self._flags = hikari.MessageFlag.EPHEMERAL if ephemeral else hikari.MessageFlag.NONE
        self._shown: list[str] = []
        self._followup_ids: list[hikari.Snowflake] = []
        self.rest_calls = 0

    async def show(self, text: str) -> None:
        """Make the messages show `text`: edit what changed, add follow-ups for what no longer fits."""
        parts = split_message(text)
        for index, part in enumerate(parts):
            if index < len(self._shown) and self._shown[index] == part:
                continue
            if index == 0:
                await self._interaction.edit_initial_response(part, **NO_MENTIONS)
            elif index - 1 < len(self._followup_ids):
                await self._interaction.edit_message(self._followup_ids[index - 1], part, **NO_MENTIONS)
            else:
                message = await self._interaction.execute(part, flags=self._flags, **NO_MENTIONS)
                self._followup_ids.append(message.id)
            self.rest_calls += 1
            if index < len(self._shown):
                self._shown[index] = part
            else:
                self._shown.append(part)


async def model_choices(ctx: lightbulb.AutocompleteContext[str], llm: LLMClient = lightbulb.di.INJECTED) -> None:
    typed = str(ctx.focused.value or "").lower()
    models = await llm.list_models()
    matching = [model for model in models if typed in model.lower()][:MODEL_CHOICES]
    await ctx.respond([model[:100] for model in matching])


async def _say_interrupted(ctx: lightbulb.Context, replies: Replies, pacer: EditPacer, partial: str) -> None:
    """The bot is stopping mid-answer: say so (keeping what arrived) rather than leave "thinking…" forever."""
    note = replies.text(ctx, "chat.interrupted")
    try:
        async with asyncio.timeout(INTERRUPTED_NOTICE_SECONDS):
            if partial:
                await pacer.finish(f"{partial}\n\n{note}")
                replies.answered(ctx)
            else:
                await replies.send_private(ctx, note)
    except (TimeoutError, hikari.HikariError) as error:
        log.warning("could not tell user %s that /chat was interrupted: %s", ctx.user.id, error)


def error_text(replies: Replies, ctx: lightbulb.Context, error: LLMError) -> str:
    if isinstance(error, LLMTimeout):
        return replies.text(ctx, f"chat.error.timeout_{error.kind}", seconds=f"{error.timeout:g}")
    detail = getattr(error, "server_message", "") or error.detail
    return replies.text(ctx, f"chat.error.{error.code}", detail=detail[:300])


@loader.command
class Chat(lightbulb.SlashCommand, name="commands.chat.name", description="commands.chat.description", localize=True):
    prompt = lightbulb.string(
        "commands.chat.options.prompt.name",
        "commands.chat.options.prompt.description",
        localize=True,
        max_length=PROMPT_MAX_CHARS,
    )
    model = lightbulb.string(
        "commands.chat.options.model.name",
        "commands.chat.options.model.description",
        localize=True,
        default=None,
        max_length=200,
        autocomplete=model_choices,
    )
    reset = lightbulb.boolean(
        "commands.chat.options.reset.name",
        "commands.chat.options.reset.description",
        localize=True,
        default=False,
    )

    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        replies: Replies,
        llm: LLMClient,
        store: Store,
        settings: Settings,
        limiter: ChatLimiter,
    ) -> None:
        if len(self.prompt) > PROMPT_MAX_CHARS:  # Discord enforces max_length; a forged payload does not
            raise UserFacingError("chat.prompt_too_long", limit=PROMPT_MAX_CHARS)
        refusal = limiter.refusal(ctx.user.id)
        if refusal is not None:
            await replies.say(ctx, f"chat.{refusal}", ephemeral=True)
            return
        with limiter.slot(ctx.user.id):
            await self._answer(ctx, replies, llm, store, settings)

    async def _answer(
        self, ctx: lightbulb.Context, replies: Replies, llm: LLMClient, store: Store, settings: Settings
    ) -> None:
        ephemeral = await replies.defer(ctx)
        if self.reset:
            await store.clear_chat_turns(ctx.user.id, ctx.channel_id)
        history = await store.recent_chat_turns(
            ctx.user.id, ctx.channel_id, settings.chat_history_turns, settings.chat_history_chars
        )
        messages = build_messages(settings.llm_system_prompt, history, self.prompt)
        shown = StreamedMessages(ctx.interaction, ephemeral=ephemeral)
        pacer = EditPacer(shown.show)
        pacer.start()
        model = self.model or settings.llm_model
        partial = ""
        try:
            done: StreamDone | None = None
            async with contextlib.aclosing(llm.stream_chat(messages, model)) as events:
                async for event in events:
                    if isinstance(event, AnswerDelta):
                        partial = event.text
                        pacer.update(partial)
                    else:
                        done = event
        except LLMError as error:
            await self._fail(ctx, replies, pacer, error)
            return
        except asyncio.CancelledError:
            await pacer.cancel()
            await _say_interrupted(ctx, replies, pacer, partial)
            raise
        except BaseException:
            await pacer.cancel()
            raise
        assert done is not None  # stream_chat always ends with StreamDone or raises
        final = done.text
        if done.truncated_by_length:
            final += "\n\n" + replies.text(ctx, "chat.note.length")
        await pacer.finish(final)
        replies.answered(ctx)
        await store.add_chat_turn(ctx.user.id, ctx.channel_id, self.prompt, done.text, done.model or model)
        log.debug("/chat answered %d chars in %d REST calls", len(done.text), shown.rest_calls)

    async def _fail(
        self,
        ctx: lightbulb.Context,
        replies: Replies,
        pacer: EditPacer,
        error: LLMError,
    ) -> None:
        log.warning("/chat for user %s failed: %s (%s)", ctx.user.id, error.code, error.detail)
        message = error_text(replies, ctx, error)
        if error.partial_text:
            # Keep what arrived, and say it was cut (in the answer itself, where the reader looks).
            note = replies.text(ctx, "chat.note.cut", reason=message)
            await pacer.finish(f"{error.partial_text}\n\n{note}")
            replies.answered(ctx)
            return
        await pacer.cancel()
        await replies.send_private(ctx, message)
