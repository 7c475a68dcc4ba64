"""Incremental parser for ``text/event-stream`` (server-sent events), as OpenAI-compatible servers stream.

Pure: bytes in, events out, no I/O.
"""

from __future__ import annotations

import codecs
import re
from typing import ClassVar

import attrs

__all__ = ["SSEEvent", "SSEParser"]


@attrs.frozen
class SSEEvent:
    """One server-sent event."""

    data: str
    event: str = "message"


class SSEParser:
    """Incremental ``text/event-stream`` parser (WHATWG rules) for bytes split at arbitrary points.

    Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends, comments (``: keep-alive``), multi-line ``data``,
    and UTF-8 sequences split between chunks. An event not terminated by a blank line is not dispatched.

    Beyond WHATWG, an ``error`` field is kept: llama.cpp's server (builds before late 2025) reports a failure
    inside a stream as ``error: {json}`` at HTTP 200. It is dispatched as an event named ``error`` whose data
    is the field's value (after the block's ``data`` event, if it had one).
    """

    _EOL: ClassVar[re.Pattern[str]] = re.compile(r"\r\n|\r|\n")

    def __init__(self, max_buffer: int = 4 * 1024 * 1024) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data: list[str] = []
        self._error: list[str] = []
        self._event = ""
        self._started = False
        self._max_buffer = max_buffer

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Feed raw bytes; return the events completed by them. Raises :class:`ValueError` if too big."""
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        buffer = self._buffer + text
        events: list[SSEEvent] = []
        start = 0
        for match in self._EOL.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                break  # maybe the first half of "\r\n"
            self._line(buffer[start : match.start()], events)
            start = match.end()
        self._buffer = buffer[start:]
        if len(self._buffer) + sum(map(len, self._data)) + sum(map(len, self._error)) > self._max_buffer:
            raise ValueError("server-sent event too large")
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(data="\n".join(self._data), event=self._event or "message"))
            if self._error:
                events.append(SSEEvent(data="\n".join(self._error), event="error"))
            self._data = []
            self._error = []
            self._event = ""
            return
        if line.startswith(":"):
            return
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "error":
            self._error.append(value)
