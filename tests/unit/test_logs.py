"""Log lines: UTC ISO-8601 with milliseconds and Z; secrets redacted wherever they appear."""

from __future__ import annotations

import io
import logging
import re

import pytest

from ora.core.logs import REDACTED, RedactingFormatter

SECRET = "MTA5.super-secret-token.xyz"


@pytest.fixture
def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter([SECRET, "sk-llm-key-123", "abc"]))
    logger = logging.getLogger("test.logs")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


def test_timestamp_is_utc_iso8601_with_milliseconds(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("hello")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO    test\.logs: hello$", stream.getvalue().strip())


def test_secrets_are_redacted_in_messages_arguments_and_tracebacks(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info("token is %s", SECRET)
    logger.warning(f"inline {SECRET} and key sk-llm-key-123")
    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError:
        logger.exception("failed")
    output = stream.getvalue()
    assert SECRET not in output
    assert "sk-llm-key-123" not in output
    assert output.count(REDACTED) >= 4
    assert "ValueError" in output


def test_short_values_are_not_treated_as_secrets(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("abc is an ordinary word")
    assert "abc is an ordinary word" in stream.getvalue()


FORGED = "2026-11-25T06:14:00.123Z INFO    ora: forged"


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_line_break_in_a_message_or_argument_cannot_start_a_record(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info("path %s", f"/x\n{FORGED}")
    logger.warning(f"inline\r\n{FORGED}")
    records = lines_of(stream)
    assert len(records) == 2
    assert all(not line.startswith(FORGED) for line in records)
    assert f"/x\\n{FORGED}" in records[0]
    assert f"inline\\r\\n{FORGED}" in records[1]


def test_terminal_escapes_and_bidi_controls_are_escaped(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.warning("model %s not found", "\x1b[2J\x1b[31mred\u202eevil\u2028next\x00\x85")
    text = stream.getvalue()
    for raw in ("\x1b", "\u202e", "\u2028", "\x00", "\x85"):
        assert raw not in text
    assert "model \\x1b[2J\\x1b[31mred\\u202eevil\\u2028next\\x00\\x85 not found" in text


def test_tracebacks_keep_their_lines_but_cannot_forge_a_record(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise ValueError(f"bad input\n{FORGED}\x1b[0m")
    except ValueError:
        logger.exception("failed")
    first, *rest = lines_of(stream)
    assert first.endswith("ERROR   test.logs: failed")
    assert rest[0] == "  Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in rest)  # only a record's first line starts at column 0
    assert f"  {FORGED}\\x1b[0m" in rest


def test_tabs_and_ordinary_text_are_unchanged(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("a\tb ünïcödé 日本語 \\n literal")
    assert stream.getvalue().rstrip("\n").endswith("a\tb ünïcödé 日本語 \\n literal")


def test_interaction_tokens_in_rest_urls_are_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    token = "aW50ZXJhY3Rpb246MTMwMDAwMDAwMDAwMDAwMDAwMDpmYWtlLXRva2Vu-_.x"
    try:
        raise RuntimeError(
            f"Service Unavailable 503: 'https://discord.com/api/v10/webhooks/1300000000000000001/{token}'"
        )
    except RuntimeError:
        logger.exception("follow-up failed for /interactions/1300000000000000009/%s/callback", token)
    text = stream.getvalue()
    assert token not in text
    assert "/webhooks/1300000000000000001/[REDACTED]" in text
    assert "/interactions/1300000000000000009/[REDACTED]/callback" in text
