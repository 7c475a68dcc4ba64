"""Bounds on one answer: at most so many characters and so many Discord messages (pure, no I/O).

A runaway model (one that never stops) must not flood a channel: the stream is read only until
:meth:`AnswerCaps.exceeded`, and :meth:`AnswerCaps.render` cuts the text to fit, closing an open code
block and saying that it was cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ora.features.chat.splitting import DISCORD_MESSAGE_LIMIT, SplitPart, fence_language, plan_split, split_message

__all__ = ["AnswerCaps", "Rendered"]

_BOUNDARY_LOOKBACK = 200  # how far back a cut looks for a space or line break
_MAX_SHRINKS = 64


@attrs.frozen
class Rendered:
    """``display`` is what the messages show; ``body`` the answer part of it (what memory keeps)."""

    display: str
    body: str
    cut: bool


@attrs.frozen
class AnswerCaps:
    max_chars: int = attrs.field(validator=attrs.validators.ge(1))
    max_messages: int = attrs.field(validator=attrs.validators.ge(1))
    message_limit: int = DISCORD_MESSAGE_LIMIT

    def exceeded(self, text: str) -> bool:
        """Whether a growing answer went past a cap (then stop reading it)."""
        if len(text) > self.max_chars:
            return True
        return len(text) > self.message_limit and self._messages(text) > self.max_messages

    def render(self, body: str, notes: Sequence[str], cut_note: str) -> Rendered:
        """``body`` then ``notes`` (each after a blank line), within the caps. When the body does not fit it is
        cut (at a space or line break when one is near, with an open code block closed) and ``cut_note`` added."""
        full = _with_notes(body, notes)
        if len(body) <= self.max_chars and self._messages(full) <= self.max_messages:
            return Rendered(display=full, body=body, cut=False)
        notes = [*notes, cut_note]
        keep = body[: self.max_chars]
        parts = plan_split(keep, self.message_limit)
        if len(parts) > self.max_messages:
            keep = keep[: _end_of_part(keep, parts, self.max_messages - 1)]
        for _ in range(_MAX_SHRINKS):
            candidate = _close_code_block(_at_boundary(keep))
            display = _with_notes(candidate, notes)
            overflow = self._messages(display) - self.max_messages
            if overflow <= 0:
                return Rendered(display=display, body=candidate, cut=True)
            keep = keep[: max(0, len(keep) - len(display) + len(candidate) - 64 * overflow)]
            if not keep:
                break
        return Rendered(display=_with_notes("", notes).strip(), body="", cut=True)

    def _messages(self, text: str) -> int:
        return len(split_message(text, self.message_limit))


def _with_notes(body: str, notes: Sequence[str]) -> str:
    return body + "".join(f"\n\n{note}" for note in notes)


def _end_of_part(text: str, parts: Sequence[SplitPart], index: int) -> int:
    """Where part ``index`` of ``plan_split(text)`` ends in ``text`` (each body is a slice of the text)."""
    position = 0
    for part in parts[: index + 1]:
        found = text.find(part.body, position)
        if found < 0:
            return position
        position = found + len(part.body)
    return position


def _at_boundary(text: str) -> str:
    """Cut back to the last line break or space within the last few characters, if there is one."""
    window = text[-_BOUNDARY_LOOKBACK:]
    cut = max(window.rfind("\n"), window.rfind(" "))
    if cut > 0:
        text = text[: len(text) - len(window) + cut]
    return text.rstrip()


def _close_code_block(text: str) -> str:
    open_block = False
    for line in text.split("\n"):
        if fence_language(line) is not None:
            open_block = not open_block
    return f"{text}\n```" if open_block else text
