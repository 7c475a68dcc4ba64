"""The texts /dataset shows: both languages complete, Discord's limits on command fields, size and name formatting.

Pure checks (no server): they live beside the other dataset tests so the feature's tests stay together.
"""

from __future__ import annotations

import re

import pytest

from ora.app import full_catalog
from ora.features.datasets import strings
from ora.features.datasets.errors import ERROR_CODES
from ora.features.datasets.messages import discord_time, escape_markdown, human_size

# Discord: names 1-32 chars of lower-case letters/digits/-/_ (any script), descriptions 1-100 chars.
NAME = re.compile(r"^[-_\w]{1,32}$")


def test_english_and_japanese_have_the_same_keys() -> None:
    assert strings.EN.keys() == strings.JA.keys()


def test_the_catalog_loads_with_the_dataset_strings() -> None:
    catalog = full_catalog()
    assert catalog.t("ja", "datasets.list.empty") == strings.JA["datasets.list.empty"]


@pytest.mark.parametrize("language", ["EN", "JA"])
def test_command_fields_respect_discord_limits(language: str) -> None:
    table: dict[str, str] = getattr(strings, language)
    for key, value in table.items():
        if not key.startswith("commands."):
            continue
        if key.endswith(".name"):
            assert NAME.match(value) and value == value.lower(), key
        else:
            assert 1 <= len(value) <= 100, key


@pytest.mark.parametrize("code", ERROR_CODES)
@pytest.mark.parametrize("locale", ["en-US", "ja"])
def test_every_error_code_has_a_message(code: str, locale: str) -> None:
    text = full_catalog().t(
        locale, f"datasets.error.{code}", limit="1 MiB", used="1 MiB", size_note="", status_note="", error_id="x"
    )
    assert text and "{" not in text


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (25 * 1024**2, "25.0 MiB"),
        (3 * 1024**4, "3.0 TiB"),
    ],
)
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_markdown_and_mentions_in_names_show_literally() -> None:
    assert escape_markdown("**bold** _it_ `code` @everyone <@1> [x](y) # h") == (
        "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\@everyone \\<\\@1\\> \\[x\\]\\(y\\) \\# h"
    )
    assert escape_markdown("データ.csv") == "データ.csv"


def test_dates_use_discord_timestamps() -> None:
    assert discord_time(1_700_000_000.9) == "<t:1700000000:f>"
