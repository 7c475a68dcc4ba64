"""Which models `/chat model:` may name: the operator's allowlist (LLM_MODELS), else what the server lists.

The default model (LLM_MODEL) is always allowed. When there is no allowlist and the server's list cannot
be fetched (and none was fetched before), only the default is allowed: a name typed by a user is never
forwarded unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence

from ora.features.chat.llm.client import LLMClient

__all__ = ["allowed_models", "display_name"]

_SHOWN_NAME_CHARS = 100


async def allowed_models(llm: LLMClient, allowlist: Sequence[str], default: str) -> list[str]:
    """The allowed model names, the default first."""
    names = list(allowlist) if allowlist else await llm.list_models()
    return list(dict.fromkeys([default, *names]))


def display_name(name: str) -> str:
    """A user-typed model name made safe to quote in a reply: no control characters or backticks, short."""
    cleaned = "".join(char for char in name if char.isprintable() and char != "`").strip()
    if len(cleaned) > _SHOWN_NAME_CHARS:
        cleaned = cleaned[: _SHOWN_NAME_CHARS - 1] + "…"
    return cleaned or "?"
