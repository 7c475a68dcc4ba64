"""Every string exists in English and Japanese with the same placeholders."""

from __future__ import annotations

import string

import hikari
import pytest

from ora.app import full_catalog
from ora.core.i18n import ENGLISH, JAPANESE, language_from_accept, language_of


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    catalog = full_catalog()
    english, japanese = catalog.strings(ENGLISH), catalog.strings(JAPANESE)
    assert set(english) == set(japanese)
    for key, template in english.items():
        assert placeholders(template) == placeholders(japanese[key]), key


def test_command_names_are_valid_discord_names() -> None:
    catalog = full_catalog()
    for language in (ENGLISH, JAPANESE):
        for key, value in catalog.strings(language).items():
            if key.startswith("commands.") and key.endswith(".name"):
                assert 1 <= len(value) <= 32 and value == value.lower() and " " not in value, (key, value)
            if key.startswith("commands.") and key.endswith(".description"):
                assert 1 <= len(value) <= 100, key


@pytest.mark.parametrize(
    ("locale", "language"), [("ja", "ja"), ("en-US", "en"), ("en-GB", "en"), ("fr", "en"), (None, "en")]
)
def test_language_of_discord_locale(locale: str | None, language: str) -> None:
    assert language_of(locale) == language


@pytest.mark.parametrize(
    ("header", "language"),
    [("ja,en-US;q=0.9", "ja"), ("en-US,en;q=0.9,ja;q=0.8", "en"), ("fr-FR", "en"), ("", "en"), ("ja-JP", "ja")],
)
def test_language_from_accept_language(header: str, language: str) -> None:
    assert language_from_accept(header) == language


def test_japanese_replies_and_localization_provider() -> None:
    catalog = full_catalog()
    assert catalog.t("ja", "say.not_admin") != catalog.t("en-US", "say.not_admin")
    provider = catalog.localization_provider()
    assert (
        provider("commands.ping.description")[hikari.Locale.JA]
        == catalog.strings(JAPANESE)["commands.ping.description"]
    )
