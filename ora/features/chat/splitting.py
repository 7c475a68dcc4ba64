"""Split long text into Discord-sized messages without breaking code blocks (pure, no I/O).

Splits prefer line boundaries, then spaces, and only cut a word that is longer than a whole message
(after Japanese/CJK punctuation when there is one). When a split falls inside a fenced code block,
the part is closed with a fence line and the next part reopens the block with the same language; those
added lines count towards the limit. The whitespace at a split point is dropped.

A line is a fence line when it starts (after at most three spaces) with three backticks; every fence
line toggles the code-block state, as in the Markdown LLMs write.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["DISCORD_MESSAGE_LIMIT", "MIN_LIMIT", "SplitPart", "fence_language", "plan_split", "split_message"]

DISCORD_MESSAGE_LIMIT = 2000
#: The smallest limit that still leaves room for content between an added opening and closing fence.
MIN_LIMIT = 16

_FENCE = "```"
_FENCE_RE = re.compile(r" {0,3}```")
# Where a word with no spaces (Japanese prose, a long URL) may be cut: after these characters.
_SOFT_BREAKS = frozenset("。、！？．，；：）」』】〕〉》…,.;:!?)]}/-_&=")


@attrs.frozen
class SplitPart:
    """One message: ``prefix`` and ``suffix`` are the fence lines added by the splitter."""

    body: str
    prefix: str = ""
    suffix: str = ""

    @property
    def text(self) -> str:
        """The message as sent."""
        return self.prefix + self.body + self.suffix


def fence_language(line: str) -> str | None:
    """Return the info string of a fence line (``""`` for a bare fence), or ``None`` if it is not one."""
    match = _FENCE_RE.match(line)
    if match is None:
        return None
    return line[match.end() :].strip("`").strip()


def split_message(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters; never returns an empty message.

    Text that is empty or only whitespace gives an empty list.
    """
    return [part.text for part in plan_split(text, limit)]


def plan_split(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> list[SplitPart]:
    """Like :func:`split_message`, but keeps the added fence lines apart from the original text."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    builder = _Builder(limit)
    open_language: str | None = None  # the info string of the open code block, if one is open
    for line in text.split("\n"):
        language = fence_language(line)
        after = open_language
        if language is not None:
            after = language if open_language is None else None
        builder.add_line(line, after)
        open_language = after
    return builder.finish()


class _Builder:
    """Greedy packer: lines, then words, then slices of words, into parts within the limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[SplitPart] = []
        self._prefix = ""
        self._body = ""
        self._open: str | None = None  # code block open at the end of the current body

    def add_line(self, line: str, open_after: str | None) -> None:
        sep = "\n" if self._body else ""
        if self._fits(sep + line, open_after):
            self._append(sep + line, open_after)
            return
        if len(line) + len(self._reopen_line(self._open)) + len(self._suffix(open_after)) <= self._limit:
            self._flush()  # the line fits in a part of its own: keep it whole
            self._append(line, open_after)
            return
        self._add_long_line(line, open_after)

    def finish(self) -> list[SplitPart]:
        self._flush()
        return self._parts

    def _add_long_line(self, line: str, open_after: str | None) -> None:
        # A word starting with ``` must not begin a new part, where it would read as a fence line.
        words: list[str] = []
        for word in line.split(" "):
            if words and word.startswith(_FENCE):
                words[-1] += " " + word
            else:
                words.append(word)
        for index, word in enumerate(words):
            sep = ("\n" if index == 0 else " ") if self._body else ""
            if self._fits(sep + word, open_after):
                self._append(sep + word, open_after)
                continue
            self._flush()
            if self._fits(word, open_after):
                self._append(word, open_after)
                continue
            rest = word
            while rest:
                room = self._limit - len(self._prefix) - len(self._body) - len(self._suffix(open_after))
                cut = _cut_point(rest, room)
                self._append(rest[:cut], open_after)
                rest = rest[cut:]
                if rest:
                    self._flush()

    def _suffix(self, open_language: str | None) -> str:
        return "" if open_language is None else "\n" + _FENCE

    def _fits(self, addition: str, open_after: str | None) -> bool:
        if not self._body and not addition.strip():
            return True  # whitespace at the start of a part is dropped, so it always fits
        size = len(self._prefix) + len(self._body) + len(addition) + len(self._suffix(open_after))
        return size <= self._limit

    def _append(self, addition: str, open_after: str | None) -> None:
        if self._body or addition.strip():
            self._body += addition
        self._open = open_after

    def _flush(self) -> None:
        body = self._body.rstrip()
        if body:
            self._parts.append(SplitPart(body=body, prefix=self._prefix, suffix=self._suffix(self._open)))
            self._prefix = "" if self._open is None else self._reopen_line(self._open)
        self._body = ""

    def _reopen_line(self, language: str | None) -> str:
        if language is None:
            return ""
        # Keep the language only while the added fence lines take at most half of a part.
        line = f"{_FENCE}{language}\n"
        if len(line) + len(self._suffix(language)) > self._limit // 2:
            line = f"{_FENCE}\n"
        return line


def _cut_point(word: str, room: int) -> int:
    """Where to cut a word too long for a part: a soft break in the second half if any, else ``room``.

    Never cuts so that the remainder starts with a backtick (it could read as a fence line).
    """
    room = max(1, min(room, len(word)))
    if room == len(word):
        return room
    for i in range(room, room // 2, -1):
        if word[i - 1] in _SOFT_BREAKS and word[i] != "`":
            return i
    cut = room
    while cut > 1 and word[cut] == "`":
        cut -= 1
    return cut if word[cut] != "`" else room
