"""Keep a model's reasoning out of its answer, chunk by chunk (pure, no I/O).

Servers deliver reasoning in three ways, all handled here:

* a separate delta field: ``reasoning`` (LM Studio, Ollama, newer vLLM) or ``reasoning_content``
  (llama.cpp, older vLLM, DeepSeek-style APIs) — see :func:`split_delta`;
* ``<think>…</think>`` inside the content, tags possibly split across chunks; some chat templates put
  the opening tag in the prompt (DeepSeek-R1 style), so the content starts with reasoning and only a
  ``</think>`` shows where it ends. Created with ``undecided=True``, the filter holds such text back
  until it is decided (see :class:`ReasoningFilter`); otherwise text already shown before an orphan
  closing tag is retracted;
* OpenAI harmony markers (gpt-oss) leaking into the content:
  ``<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…<|return|>``.
  Only the ``final`` channel (or a message without a channel) is shown.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

__all__ = ["REASONING_FIELDS", "DeltaParts", "FilterUpdate", "ReasoningFilter", "split_delta"]

#: Delta fields that carry reasoning rather than answer text, in the order they are read.
REASONING_FIELDS: tuple[str, ...] = ("reasoning_content", "reasoning", "thinking")

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_H_START = "<|start|>"
_H_CHANNEL = "<|channel|>"
_H_MESSAGE = "<|message|>"
_H_CONSTRAIN = "<|constrain|>"
_H_END = "<|end|>"
_H_RETURN = "<|return|>"
_H_CALL = "<|call|>"
_H_ENDINGS = (_H_END, _H_RETURN, _H_CALL)

_ALL_MARKERS: tuple[str, ...] = (
    _THINK_OPEN,
    _THINK_CLOSE,
    _H_START,
    _H_CHANNEL,
    _H_MESSAGE,
    _H_CONSTRAIN,
    *_H_ENDINGS,
)
_THINK_MARKERS: tuple[str, ...] = (_THINK_CLOSE,)


@attrs.frozen
class DeltaParts:
    """The answer text and the reasoning text of one streamed ``delta`` object."""

    content: str
    reasoning: str


def split_delta(delta: Mapping[str, object]) -> DeltaParts:
    """Split a chat-completion ``delta`` (or ``message``) into answer content and reasoning.

    ``content`` may be absent or ``null``; any other non-string content raises :class:`TypeError`.
    Reasoning fields that are not strings (structured reasoning details) are ignored.
    """
    content = delta.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise TypeError(f"delta content is {type(content).__name__}, not a string")
    reasoning = "".join(value for field in REASONING_FIELDS if isinstance(value := delta.get(field), str) and value)
    return DeltaParts(content=content, reasoning=reasoning)


@attrs.frozen
class FilterUpdate:
    """What one :meth:`ReasoningFilter.feed` call changed in the visible answer.

    ``replaced`` is true when text shown earlier turned out to be reasoning (an orphan ``</think>``):
    the visible answer was reset, and ``appended`` is what follows the reset.
    """

    appended: str = ""
    replaced: bool = False


class _Mode(enum.Enum):
    TEXT = "text"  # visible answer (plain content or a harmony "final" message)
    THINK = "think"  # inside <think>…</think>
    HEADER = "header"  # harmony header: after <|start|> or <|channel|>, before <|message|>
    HIDDEN = "hidden"  # harmony message body of a non-final channel


class ReasoningFilter:
    """Incremental filter: feed content deltas, get back only the visible answer.

    With ``undecided=True`` the content is held back, not shown, until one of these decides what it is:
    an orphan ``</think>`` (it was reasoning: dropped, never shown); a reasoning delta field, an explicit
    ``<think>`` or a harmony marker (the server or the model marks reasoning another way, so the held text
    is answer); or the caller's :meth:`release` (e.g. after a short wait) or :meth:`finish`.

    >>> f = ReasoningFilter()
    >>> f.feed("<thi").appended, f.feed("nk>hmm</think>\\n\\nHello").appended
    ('', 'Hello')
    >>> f.text, f.reasoning_seen
    ('Hello', True)
    """

    def __init__(self, *, undecided: bool = False) -> None:
        self._mode = _Mode.TEXT
        self._undecided = undecided
        self._held = ""  # content held back while undecided
        self._orphan_close = False
        self._pending = ""  # a possible marker prefix held back until the next chunk
        self._text = ""
        self._channel: list[str] = []
        self._capturing_channel = False
        self._think_opened = False
        self._harmony_seen = False
        self._retracted = False
        self._reasoning_chars = 0
        self._reasoning_seen = False
        # Per-feed scratch state.
        self._appended: list[str] = []
        self._replaced = False

    @property
    def text(self) -> str:
        """The visible answer so far (leading whitespace removed)."""
        return self._text

    @property
    def has_answer(self) -> bool:
        """Whether any non-whitespace answer text has been seen."""
        return bool(self._text.strip())

    @property
    def reasoning_seen(self) -> bool:
        """Whether any reasoning (field, tags or harmony analysis) has been seen."""
        return self._reasoning_seen

    @property
    def reasoning_chars(self) -> int:
        """How many characters of reasoning were dropped."""
        return self._reasoning_chars

    @property
    def undecided(self) -> bool:
        """Whether content is still held back because it may turn out to be reasoning."""
        return self._undecided

    @property
    def held_text(self) -> str:
        """The content held back while undecided."""
        return self._held

    @property
    def orphan_close_seen(self) -> bool:
        """Whether a ``</think>`` without an opening tag ended reasoning (the template opens ``<think>``)."""
        return self._orphan_close

    def add_reasoning(self, text: str) -> FilterUpdate:
        """Count reasoning that arrived in a separate delta field (it is never shown).

        The server separates reasoning itself, so held-back content is answer: it is released.
        """
        self._begin()
        self._add_field_reasoning(text)
        return self._update()

    def feed_delta(self, delta: Mapping[str, object]) -> FilterUpdate:
        """Feed one streamed ``delta`` object: reasoning fields are counted, content is filtered."""
        parts = split_delta(delta)
        self._begin()
        self._add_field_reasoning(parts.reasoning)
        self._consume(self._pending + parts.content, final=False)
        return self._update()

    def feed(self, chunk: str) -> FilterUpdate:
        """Feed one content delta; return the answer text it made visible."""
        self._begin()
        self._consume(self._pending + chunk, final=False)
        return self._update()

    def release(self) -> FilterUpdate:
        """Decide that the held-back content is answer: show it, and stop holding back."""
        self._begin()
        self._decide(answer=True)
        return self._update()

    def finish(self, *, held_is_answer: bool = True) -> FilterUpdate:
        """End of stream: release any held-back partial marker as ordinary text, then decide what
        still-undecided content is (answer by default; reasoning with ``held_is_answer=False``)."""
        self._begin()
        self._consume(self._pending, final=True)
        self._decide(answer=held_is_answer)
        return self._update()

    def _begin(self) -> None:
        self._appended = []
        self._replaced = False

    def _add_field_reasoning(self, text: str) -> None:
        if text:
            self._reasoning_seen = True
            self._reasoning_chars += len(text)
            self._decide(answer=True)

    def _decide(self, *, answer: bool) -> None:
        if not self._undecided:
            return
        self._undecided = False
        held, self._held = self._held, ""
        if answer:
            self._emit(held)
        else:
            self._reasoning_seen = self._reasoning_seen or bool(held.strip())
            self._reasoning_chars += len(held)

    def _update(self) -> FilterUpdate:
        return FilterUpdate(appended="".join(self._appended), replaced=self._replaced)

    def _consume(self, data: str, *, final: bool) -> None:
        self._pending = ""
        pos = 0
        while pos < len(data):
            lt = data.find("<", pos)
            if lt < 0:
                self._emit(data[pos:])
                return
            if lt > pos:
                self._emit(data[pos:lt])
            markers = _THINK_MARKERS if self._mode is _Mode.THINK else _ALL_MARKERS
            marker = next((m for m in markers if data.startswith(m, lt)), None)
            if marker is not None:
                self._on_marker(marker)
                pos = lt + len(marker)
                continue
            rest = data[lt:]
            if not final and any(m.startswith(rest) for m in markers):
                self._pending = rest
                return
            self._emit("<")
            pos = lt + 1

    def _emit(self, text: str) -> None:
        if self._mode is _Mode.TEXT and self._undecided:
            self._held += text.lstrip() if not self._held else text
        elif self._mode is _Mode.TEXT:
            if not self._text:
                text = text.lstrip()
            if text:
                self._text += text
                self._appended.append(text)
        elif self._mode is _Mode.HEADER:
            if self._capturing_channel:
                self._channel.append(text)
        else:
            self._reasoning_chars += len(text)

    def _on_marker(self, marker: str) -> None:
        mode = self._mode
        if mode is _Mode.THINK:  # only </think> is recognised here
            self._mode = _Mode.TEXT
        elif marker in (_THINK_OPEN, _THINK_CLOSE) and mode is not _Mode.TEXT:
            self._emit(marker)  # think tags inside a harmony section are just part of it
        elif marker == _THINK_OPEN:
            self._decide(answer=True)
            self._think_opened = True
            self._reasoning_seen = True
            self._mode = _Mode.THINK
        elif marker == _THINK_CLOSE:
            # A stray closing tag is dropped; an orphan one (no opening tag yet) ends hidden reasoning.
            if self._undecided:
                self._orphan_close = self._retracted = True
                self._decide(answer=False)
                self._reasoning_seen = True
            elif not (self._think_opened or self._harmony_seen or self._retracted):
                self._retract()
        else:
            self._decide(answer=True)
            self._on_harmony_marker(marker)

    def _on_harmony_marker(self, marker: str) -> None:
        self._harmony_seen = True
        if marker == _H_START:
            self._enter_header(capture=False)
        elif marker == _H_CHANNEL:
            if self._mode is not _Mode.HEADER:
                self._enter_header(capture=True)
            else:
                self._channel = []
                self._capturing_channel = True
        elif marker == _H_CONSTRAIN:
            self._capturing_channel = False
        elif marker == _H_MESSAGE:
            if self._mode is _Mode.HEADER:
                words = "".join(self._channel).split()
                if words and words[0] != "final":
                    self._reasoning_seen = True
                    self._mode = _Mode.HIDDEN
                else:
                    self._mode = _Mode.TEXT
        elif marker in _H_ENDINGS:
            self._mode = _Mode.TEXT

    def _enter_header(self, *, capture: bool) -> None:
        self._mode = _Mode.HEADER
        self._channel = []
        self._capturing_channel = capture

    def _retract(self) -> None:
        """An orphan ``</think>``: everything shown so far was reasoning."""
        self._retracted = self._orphan_close = True
        self._reasoning_seen = True
        self._reasoning_chars += len(self._text)
        self._text = ""
        self._appended = []
        self._replaced = True
