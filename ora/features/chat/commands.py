"""/chat: asks the LLM; the answer streams into the reply (see `ora.features.chat.answer`)."""

from __future__ import annotations

import logging

import lightbulb

from ora.core.interactions import InteractionLedger
from ora.core.replies import Replies, UserFacingError
from ora.features.chat.answer import Answer
from ora.features.chat.limits import ChatLimiter
from ora.features.chat.llm.client import LLMClient
from ora.features.chat.models import allowed_models
from ora.features.chat.queries import ChatMemory
from ora.features.chat.settings import ChatSettings

log = logging.getLogger(__name__)
loader = lightbulb.Loader()

PROMPT_MAX_CHARS = 4000
MODEL_CHOICES = 25  # Discord's maximum number of autocomplete choices


async def model_choices(
    ctx: lightbulb.AutocompleteContext[str],
    llm: LLMClient = lightbulb.di.INJECTED,
    settings: ChatSettings = lightbulb.di.INJECTED,
) -> None:
    typed = str(ctx.focused.value or "").lower()
    models = await allowed_models(llm, settings.llm_models, settings.llm_model)
    matching = [model for model in models if typed in model.lower()][:MODEL_CHOICES]
    await ctx.respond([model[:100] for model in matching])


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
        memory: ChatMemory,
        settings: ChatSettings,
        limiter: ChatLimiter,
        ledger: InteractionLedger,
    ) -> None:
        if len(self.prompt) > PROMPT_MAX_CHARS:  # Discord enforces max_length; a forged payload does not
            raise UserFacingError("chat.prompt_too_long", limit=PROMPT_MAX_CHARS)
        slot = await limiter.acquire(ctx.user.id)
        if isinstance(slot, str):
            await replies.say(ctx, f"chat.{slot}", ephemeral=True)
            return
        answer = Answer(
            ctx, replies, llm, memory, settings, ledger, slot, self.prompt, self.model or settings.llm_model, self.reset
        )
        try:
            await answer.run()
        finally:
            await slot.release()
            if answer.recorded:
                await ledger.forget(ctx.interaction.id)
