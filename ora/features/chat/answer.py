"""One /chat answer, from the deferral to the last edit: streamed from the LLM into Discord messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import aiohttp
import attrs
import hikari
import lightbulb

from ora.core.interactions import InteractionLedger, RecordedInteraction
from ora.core.replies import NO_MENTIONS, Replies
from ora.features.chat.budget import answer_reserve, fit_history
from ora.features.chat.caps import AnswerCaps, Rendered
from ora.features.chat.conversation import build_messages
from ora.features.chat.limits import ChatSlot
from ora.features.chat.llm.client import AnswerDelta, LLMClient, LLMError, LLMHTTPError, LLMTimeout, StreamDone
from ora.features.chat.models import allowed_models, display_name
from ora.features.chat.pacing import STREAMING_CURSOR, EditPacer, with_cursor
from ora.features.chat.queries import ChatMemory, ChatTurn
from ora.features.chat.settings import ChatSettings
from ora.features.chat.splitting import DISCORD_MESSAGE_LIMIT, split_message

log = logging.getLogger(__name__)

FEATURE = "chat"
# What a REST call to Discord raises once hikari has given up retrying.
DISCORD_FAILURES = (hikari.HikariError, aiohttp.ClientError, TimeoutError)
MODELS_NAMED_IN_A_REFUSAL = 15
INTERRUPTED_NOTICE_SECONDS = 0.8  # shutdown gives a cancelled command about 1 s more


def discord_failure_reason(error: BaseException) -> str:
    """A short reason without the request URL (it carries the interaction token)."""
    if isinstance(error, hikari.HTTPResponseError):
        return f"HTTP {int(error.status)}"
    return type(error).__name__


def with_note(shown: str, note: str) -> str:
    """`note` under the text of a message, within one message (the text is cut at a word if needed)."""
    room = DISCORD_MESSAGE_LIMIT - len(note) - 2
    if len(shown) > room:
        shown = shown[:room].rsplit(" ", 1)[0]
    return f"{shown}\n\n{note}".strip()


async def tell_interrupted(recorded: RecordedInteraction, ledger: InteractionLedger) -> None:
    """The process writing this answer died: keep what the first message shows, say it was interrupted."""
    message = await ledger.rest.fetch_interaction_response(recorded.application_id, recorded.token)
    shown = (message.content or "").rstrip().removesuffix(STREAMING_CURSOR).rstrip("\u00a0 \n")
    await ledger.edit(recorded, with_note(shown, ledger.text(recorded, "chat.interrupted")))


class StreamedMessages:
    """The deferred response plus follow-ups that together show one (possibly long) answer."""

    def __init__(self, interaction: hikari.CommandInteraction, *, ephemeral: bool) -> None:
        self._interaction = interaction
        self._flags = hikari.MessageFlag.EPHEMERAL if ephemeral else hikari.MessageFlag.NONE
        self._shown: list[str] = []
        self._followup_ids: list[hikari.Snowflake] = []
        self.rest_calls = 0

    async def show_with_note(self, note: str) -> None:
        """Put `note` under what the first message shows (the last resort when Discord refuses the rest)."""
        first = self._shown[0] if self._shown else ""
        await self._interaction.edit_initial_response(with_note(first, note), **NO_MENTIONS)
        self.rest_calls += 1

    async def show(self, text: str) -> None:
        """Make the messages show `text`: edit what changed, add follow-ups for what no longer fits, and
        delete follow-ups past the end (text shown earlier can turn out to be reasoning and shrink)."""
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
        while len(self._followup_ids) >= max(len(parts), 1):
            await self._interaction.delete_message(self._followup_ids[-1])
            self._followup_ids.pop()
            self._shown.pop()
            self.rest_calls += 1


def error_text(replies: Replies, ctx: lightbulb.Context, error: LLMError) -> str:
    if isinstance(error, LLMTimeout):
        return replies.text(ctx, f"chat.error.timeout_{error.kind}", seconds=f"{error.timeout:g}")
    detail = (getattr(error, "server_message", "") or error.detail)[:300]
    if isinstance(error, LLMHTTPError) and error.unauthorized:
        return replies.text(ctx, "chat.error.unauthorized", status=error.status)
    if error.context_exceeded:
        return replies.text(ctx, "chat.error.context_exceeded", detail=detail)
    return replies.text(ctx, f"chat.error.{error.code}", detail=detail)


@attrs.define
class _Streamed:
    """What the model gave: the stream's end (``None`` when it was cut at a cap), the text, and notes to add."""

    done: StreamDone | None
    text: str
    notes: list[str] = attrs.field(factory=list)


class _ModelRefusedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@attrs.define
class Answer:
    """One /chat answer, from the deferral to the last edit."""

    ctx: lightbulb.Context
    replies: Replies
    llm: LLMClient
    memory: ChatMemory
    settings: ChatSettings
    ledger: InteractionLedger
    slot: ChatSlot
    prompt: str
    model: str
    reset: bool
    caps: AnswerCaps = attrs.field(init=False)
    pacer: EditPacer = attrs.field(init=False)
    shown: StreamedMessages = attrs.field(init=False)
    partial: str = ""
    recorded: bool = False

    def __attrs_post_init__(self) -> None:
        self.caps = AnswerCaps(self.settings.chat_max_answer_chars, self.settings.chat_max_messages)

    def text(self, key: str, /, **values: object) -> str:
        return self.replies.text(self.ctx, key, **values)

    def render(self, body: str, notes: Sequence[str]) -> Rendered:
        cut_note = self.text("chat.note.capped", chars=self.caps.max_chars, messages=self.caps.max_messages)
        return self.caps.render(body, notes, cut_note)

    async def run(self) -> None:
        ephemeral = await self.replies.defer(self.ctx)
        # Kept while the answer is written: if this process dies, another one says the answer was interrupted.
        self.recorded = await self.ledger.record(self.ctx.interaction, FEATURE)
        self.shown = StreamedMessages(self.ctx.interaction, ephemeral=ephemeral)
        self.pacer = EditPacer(self.shown.show, in_progress=with_cursor)
        try:
            streamed = await self._produce()
        except _ModelRefusedError as refusal:
            await self.slot.release()
            await self.replies.send_private(self.ctx, refusal.message)
            return
        except LLMError as error:
            await self._fail(error)
            return
        except asyncio.CancelledError:
            await self.pacer.cancel()
            await self._say_interrupted()
            raise
        except BaseException:
            await self.pacer.cancel()
            raise
        await self._complete(streamed)

    async def _produce(self) -> _Streamed:
        await self._check_model()
        if self.reset:
            await self.memory.clear(self.ctx.user.id, self.ctx.channel_id)
        history = await self._history()
        self.pacer.start()
        try:
            return await self._stream(history)
        except LLMError as error:
            if not (error.context_exceeded and history and not error.partial_text):
                raise
        # The context is smaller than published or estimated: once more without the history, and say so.
        log.info("/chat for user %s: context exceeded, retrying without history", self.ctx.user.id)
        streamed = await self._stream([])
        streamed.notes.append(self.text("chat.note.history_dropped"))
        return streamed

    async def _check_model(self) -> None:
        requested = self.model
        default = self.settings.llm_model
        if requested == default:
            return
        allowed = await allowed_models(self.llm, self.settings.llm_models, default)
        if requested in allowed:
            return
        log.info("/chat for user %s: model %r refused", self.ctx.user.id, display_name(requested))
        if not self.settings.llm_models and not self.llm.models_known:
            raise _ModelRefusedError(self.text("chat.model_only_default", default=default))
        names = ", ".join(f"`{display_name(name)}`" for name in allowed[:MODELS_NAMED_IN_A_REFUSAL])
        if len(allowed) > MODELS_NAMED_IN_A_REFUSAL:
            names += ", …"
        raise _ModelRefusedError(self.text("chat.model_unknown", model=display_name(requested), choices=names))

    async def _history(self) -> list[ChatTurn]:
        settings = self.settings
        history = await self.memory.recent_turns(
            self.ctx.user.id, self.ctx.channel_id, settings.chat_history_turns, settings.chat_history_chars
        )
        # Also refreshes what the server publishes about itself (e.g. a template that opens <think>).
        context = await self.llm.context_size(self.model)
        if context is None or not history:
            return history
        reserve = answer_reserve(context, settings.llm_max_tokens)
        fitted = fit_history(settings.llm_system_prompt, history, self.prompt, context, reserve)
        if len(fitted) < len(history):
            log.info(
                "/chat for user %s: %d of %d remembered exchanges fit in the %d-token context",
                self.ctx.user.id,
                len(fitted),
                len(history),
                context,
            )
        return fitted

    async def _stream(self, history: Sequence[ChatTurn]) -> _Streamed:
        """One request; stops reading (closing the connection) as soon as the answer passes a cap."""
        settings = self.settings
        messages = build_messages(settings.llm_system_prompt, history, self.prompt)
        options = {"max_tokens": settings.llm_max_tokens} if settings.llm_max_tokens else None
        stream = self.llm.stream_chat(messages, self.model, options=options, think_prefix=settings.llm_think_prefix)
        done: StreamDone | None = None
        async with contextlib.aclosing(stream) as events:
            async for event in events:
                if not isinstance(event, AnswerDelta):
                    done = event
                    continue
                self.partial = event.text
                if self.caps.exceeded(event.text):
                    log.info("/chat for user %s: the answer passed a cap; reading stops", self.ctx.user.id)
                    return _Streamed(done=None, text=event.text)
                # Text shown earlier that turned out to be reasoning is replaced, not left visible.
                self.pacer.update(event.text or self.text("chat.thinking"))
        assert done is not None  # stream_chat always ends with StreamDone or raises
        return _Streamed(done=done, text=done.text)

    async def _complete(self, streamed: _Streamed) -> None:
        done, notes = streamed.done, streamed.notes
        if done is not None and done.truncated_by_length:
            notes.append(self.text("chat.note.length"))
        rendered = self.render(streamed.text, notes)
        display = rendered.display
        # Memory first, then the slot, then the final edit: once the complete answer is visible, the user's
        # next /chat is accepted and sees this exchange. Like every cut answer, one cut at a cap is not kept.
        if done is not None and not rendered.cut:
            try:
                await self.memory.add_turn(
                    self.ctx.user.id,
                    self.ctx.channel_id,
                    self.prompt,
                    done.text,
                    done.model or self.model,
                    keep=self.settings.chat_history_turns,
                )
            except Exception:
                log.exception("could not remember the /chat exchange of user %s", self.ctx.user.id)
                display = self.render(streamed.text, [*notes, self.text("chat.note.not_remembered")]).display
        await self.slot.release()
        await self._finish(display)
        self.replies.answered(self.ctx)
        log.debug("/chat answered %d chars in %d REST calls", len(rendered.body), self.shown.rest_calls)

    async def _finish(self, display: str) -> None:
        """The final publication; if Discord keeps refusing it, keep what is shown and say so under it."""
        try:
            await self.pacer.finish(display)
        except DISCORD_FAILURES as error:
            reason = discord_failure_reason(error)
            log.warning("/chat for user %s: Discord refused the final answer: %s", self.ctx.user.id, reason)
            try:
                await self.shown.show_with_note(self.text("chat.note.discord_failed", reason=reason))
            except DISCORD_FAILURES as again:
                log.warning("/chat for user %s: the note could not be shown either: %s", self.ctx.user.id, again)

    async def _fail(self, error: LLMError) -> None:
        log.warning("/chat for user %s failed: %s (%s)", self.ctx.user.id, error.code, error.detail)
        message = error_text(self.replies, self.ctx, error)
        await self.slot.release()
        if error.partial_text:
            # Keep what arrived, and say it was cut (in the answer itself, where the reader looks).
            note = self.text("chat.note.cut", reason=message)
            await self._finish(self.render(error.partial_text, [note]).display)
            self.replies.answered(self.ctx)
            return
        await self.pacer.cancel()
        await self.replies.send_private(self.ctx, message)

    async def _say_interrupted(self) -> None:
        """The bot is stopping mid-answer: say so (keeping what arrived) rather than leave "thinking…" forever."""
        note = self.text("chat.interrupted")
        try:
            async with asyncio.timeout(INTERRUPTED_NOTICE_SECONDS):
                if self.partial:
                    await self.pacer.finish(self.render(self.partial, [note]).display)
                    self.replies.answered(self.ctx)
                else:
                    await self.replies.send_private(self.ctx, note)
        except (TimeoutError, hikari.HikariError) as error:
            log.warning("could not tell user %s that /chat was interrupted: %s", self.ctx.user.id, error)
