"""Log lines: UTC ISO-8601 with milliseconds and Z; secrets redacted wherever they appear."""

from __future__ import annotations

import io
import logging
import re

import pytest

from ora.logs import REDACTED, RedactingFormatter

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
