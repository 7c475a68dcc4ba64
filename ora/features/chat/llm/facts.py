"""What an OpenAI-compatible server publishes about itself, and what its errors reveal (pure, no I/O).

Context sizes, where a server publishes them:

* llama.cpp: ``GET /props`` → ``default_generation_settings.n_ctx`` (the context of one slot, which is
  what one request gets), and ``chat_template``;
* LM Studio: ``GET /api/v0/models`` → ``data[].loaded_context_length`` for a loaded model, else
  ``data[].max_context_length``;
* vLLM: ``GET /v1/models`` → ``data[].max_model_len``.

A context-size error names the size in its payload or its message: llama.cpp's
``{"type": "exceed_context_size_error", "n_ctx": 4096, ...}`` and "request (5000 tokens) exceeds the
available context size (4096 tokens)", vLLM's "maximum context length is 4096 tokens", LM Studio's
"loaded with context length of only 4096 tokens".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

import attrs

__all__ = [
    "ErrorDetails",
    "context_from_lmstudio_models",
    "context_from_message",
    "context_from_openai_models",
    "context_from_props",
    "error_details",
    "is_context_error",
    "template_opens_think",
]

CONTEXT_ERROR_TYPES: Final = frozenset({"exceed_context_size_error", "context_length_exceeded"})
_CONTEXT_WORDS = re.compile(r"context[ _-]?(size|length|window)|n_ctx|too many tokens", re.IGNORECASE)
_CONTEXT_NUMBERS = (
    re.compile(r"available context size \((\d+) tokens?\)", re.IGNORECASE),
    re.compile(r"maximum context length is (\d+)", re.IGNORECASE),
    re.compile(r"context length of only (\d+)", re.IGNORECASE),
    re.compile(r"n_ctx\D{0,4}(\d+)", re.IGNORECASE),
)
# The generation prompt of a template that opens reasoning ends with a string literal like
# '<｜Assistant｜><think>\n' or "<|im_start|>assistant\n<think>\n": "<think>", optional newlines, a quote.
_OPENING_LITERAL = re.compile(r"<think>(?:\\n|\n)*['\"]")


@attrs.frozen
class ErrorDetails:
    """A server's error: its message, its ``type`` and the context size it names, when it gives them."""

    message: str | None
    type: str | None = None
    context_size: int | None = None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def error_details(payload: object) -> ErrorDetails:
    """The error inside ``{"error": {...}}``, ``{"error": "…"}`` (Ollama), vLLM's ``{"object": "error",
    "message"}``, FastAPI's ``{"detail"}``, or a bare ``{"message", "type"}`` (llama.cpp's ``error:`` field)."""
    if not isinstance(payload, Mapping):
        return ErrorDetails(None)
    error = payload.get("error")
    if isinstance(error, str) and error:
        return ErrorDetails(error, context_size=context_from_message(error))
    body: Mapping[str, object] = error if isinstance(error, Mapping) else payload
    message = next((v for key in ("message", "detail") if isinstance(v := body.get(key), str) and v), None)
    if message is None and isinstance(error, Mapping):
        message = json.dumps(dict(error), default=str)[:300]
    kind = body.get("type") or body.get("code")
    return ErrorDetails(
        message,
        type=kind if isinstance(kind, str) else None,
        context_size=_positive_int(body.get("n_ctx")) or context_from_message(message or ""),
    )


def context_from_message(message: str) -> int | None:
    for pattern in _CONTEXT_NUMBERS:
        if match := pattern.search(message):
            return _positive_int(int(match.group(1)))
    return None


def is_context_error(message: str, error_type: str | None) -> bool:
    """Whether an error says the request does not fit in the model's context."""
    return error_type in CONTEXT_ERROR_TYPES or bool(_CONTEXT_WORDS.search(message))


def context_from_props(payload: object) -> int | None:
    """llama.cpp's ``GET /props``: ``default_generation_settings.n_ctx``."""
    if not isinstance(payload, Mapping):
        return None
    settings = payload.get("default_generation_settings")
    return _positive_int(settings.get("n_ctx")) if isinstance(settings, Mapping) else None


def template_opens_think(payload: object) -> bool | None:
    """From llama.cpp's ``GET /props``: whether ``chat_template`` ends its prompt inside ``<think>``.

    ``None`` when no template is published.
    """
    if not isinstance(payload, Mapping):
        return None
    template = payload.get("chat_template")
    if not isinstance(template, str) or not template:
        return None
    at = template.find("add_generation_prompt")
    return at >= 0 and bool(_OPENING_LITERAL.search(template, at))


def context_from_lmstudio_models(payload: object) -> dict[str, int]:
    """LM Studio's ``GET /api/v0/models``: model id → ``loaded_context_length`` or ``max_context_length``."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    sizes: dict[str, int] = {}
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(model := entry.get("id"), str):
            continue
        size = _positive_int(entry.get("loaded_context_length")) or _positive_int(entry.get("max_context_length"))
        if size is not None:
            sizes[model] = size
    return sizes


def context_from_openai_models(entries: list[object]) -> dict[str, int]:
    """vLLM's ``GET /v1/models``: model id → ``max_model_len``."""
    sizes: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(model := entry.get("id"), str):
            continue
        if (size := _positive_int(entry.get("max_model_len"))) is not None:
            sizes[model] = size
    return sizes
