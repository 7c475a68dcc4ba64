"""/chat: answers from the operator's own LLM (LM Studio, Ollama, llama.cpp server, vLLM), streamed into the
reply, with memory per user and channel."""

import aiohttp

from ora.core.assembly import FeatureStart
from ora.core.config import Settings
from ora.core.feature import Feature, Service, Strings
from ora.core.interactions import InteractionLedger
from ora.core.runtime import ProbeResult
from ora.core.store import Schema
from ora.core.store.leases import Leases
from ora.features.chat import strings
from ora.features.chat.answer import FEATURE, tell_interrupted
from ora.features.chat.commands import loader
from ora.features.chat.limits import ChatLimiter
from ora.features.chat.llm.client import LLMClient
from ora.features.chat.queries import ChatMemory
from ora.features.chat.settings import SECTION, ChatSettings

_AUTH_REQUESTS = {"chat": "POST /chat/completions", "models": "GET /models", "props": "GET /props"}


def make_llm_client(chat: ChatSettings, settings: Settings, http: aiohttp.ClientSession) -> LLMClient:
    return LLMClient(
        chat.llm_base_url,
        api_key=chat.llm_api_key,
        model=chat.llm_model,
        connect_timeout=chat.llm_connect_timeout,
        read_timeout=chat.llm_read_timeout,
        total_timeout=chat.llm_timeout,
        probe_timeout=settings.health_probe_timeout,
        session=http,
    )


def make_limiter(leases: Leases, chat: ChatSettings) -> ChatLimiter:
    return ChatLimiter(
        leases,
        max_total=chat.chat_max_concurrent,
        max_per_user=chat.chat_max_per_user,
        lease_seconds=chat.llm_timeout + 60,
    )


async def start(ctx: FeatureStart) -> None:
    llm = await ctx.get(LLMClient)

    async def probe() -> ProbeResult:
        found = await llm.probe()
        # llama-server answers GET /v1/models without the key: say when a request that needs it was refused.
        failure = llm.auth_failure
        if failure is not None:
            source = _AUTH_REQUESTS.get(failure.source, failure.source)
            return ProbeResult(
                ok=False, key="health.llm_key_refused", values={"status": failure.status, "source": source}
            )
        return ProbeResult(ok=found.ok)

    ctx.add_probe("health.llm", probe)
    (await ctx.get(InteractionLedger)).on_interrupted(FEATURE, tell_interrupted)


feature = Feature(
    name="chat",
    loader=loader,
    strings=Strings(en=strings.EN, ja=strings.JA),
    settings=SECTION,
    schema=Schema("chat", __name__),
    services=[
        Service(type=LLMClient, factory=make_llm_client),
        Service(type=ChatMemory, factory=ChatMemory),
        Service(type=ChatLimiter, factory=make_limiter),
    ],
    start=start,
)
