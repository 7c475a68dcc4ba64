"""Logging: UTC ISO-8601 timestamps with milliseconds and `Z`, to stdout, with secrets redacted.

Secrets are the configured ones (token, API keys, client secret) and every interaction token in a REST path.

Every record is one line that starts at column 0; nothing a user sends can start another. Control characters
(line breaks, ANSI escapes, bidi overrides) in the message, its arguments and the logger name are escaped as
`\\n`, `\\x1b`, `\\u202e`; a traceback keeps its line breaks, but each of its lines is indented, so a line
break inside an exception message cannot forge a record either.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable

REDACTED = "[REDACTED]"
CONTINUATION_INDENT = "  "
# C0 and C1 controls (tab excepted), DEL, the Unicode line and paragraph separators and the bidi controls.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_EXCEPT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}
# Interaction tokens live in REST paths (`/webhooks/{app}/{token}`, `/interactions/{id}/{token}/callback`), and
# hikari's errors quote the whole URL: anyone holding one can post as the bot for 15 minutes.
_INTERACTION_TOKEN_IN_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.\-]{20,}")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` on one line: every control character written as an escape sequence."""
    return _UNSAFE.sub(_escaped, text)


def continuation(text: str) -> str:
    """A traceback or stack: control characters escaped except line breaks, every line indented."""
    lines = _UNSAFE_EXCEPT_NEWLINE.sub(_escaped, text).split("\n")
    return "\n".join(CONTINUATION_INDENT + line for line in lines)


class UTCFormatter(logging.Formatter):
    """`2026-11-25T06:14:00.123Z LEVEL logger: message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class RedactingFormatter(UTCFormatter):
    """Replaces every known secret in the final text, tracebacks and arguments included.

    Redacting the formatted line (not `record.msg`) catches secrets that arrive through `%s` arguments,
    exception messages and third-party loggers alike.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole. Very short values would
        # redact ordinary words, so they are not treated as secrets.
        merged = {*self._secrets, *(secret for secret in secrets if len(secret) >= 6)}
        self._secrets = sorted(merged, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        parts = [escape_controls(self.formatMessage(record))]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(continuation(record.exc_text))
        if record.stack_info:
            parts.append(continuation(self.formatStack(record.stack_info)))
        return redact("\n".join(parts), self._secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "/webhooks/" in text or "/interactions/" in text:
        text = _INTERACTION_TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED}", text)
    return text


def configure_logging(level: int, secrets: Iterable[str] = ()) -> RedactingFormatter:
    """Route every logger (hikari's and aiohttp's too) to stdout through the redacting formatter."""
    formatter = RedactingFormatter(secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # The web access log would print every /healthz probe; keep it for DEBUG only.
    access_level = level if level <= logging.DEBUG else logging.WARNING
    for name in ("aiohttp.access", "ora.web.access"):
        logging.getLogger(name).setLevel(access_level)
    logging.captureWarnings(True)
    return formatter
