"""Logging: UTC ISO-8601 timestamps with milliseconds and `Z`, to stdout, with secrets redacted."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable

REDACTED = "[REDACTED]"


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
        return redact(super().format(record), self._secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
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
