"""English and Japanese strings.

The core's strings are in `ora/core/strings.py`; each feature keeps its own beside its code (`Feature.strings`:
two dicts, `en` and `ja`, with the same keys). `Catalog.load(...)` merges them; a key defined twice is an error.
Keys under `commands.` feed Discord's localization fields (through lightbulb's `DictLocalizationProvider`); the
rest are replies and pages, looked up with `catalog.t(locale, key, **values)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import hikari
import lightbulb

from ora.core import strings as core_strings

ENGLISH = "en"
JAPANESE = "ja"
LANGUAGES = (ENGLISH, JAPANESE)


def language_of(locale: str | None) -> str:
    """Discord locale (`ja`, `en-US`, …) or Accept-Language tag → one of LANGUAGES (English otherwise)."""
    if locale and locale.strip().lower().startswith("ja"):
        return JAPANESE
    return ENGLISH


def language_from_accept(header: str | None) -> str:
    """Pick `ja` or `en` from an Accept-Language header by quality, English when neither is asked for."""
    best, best_q = ENGLISH, -1.0
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


class Catalog:
    """All strings of all features, by language."""

    def __init__(self, strings: Mapping[str, Mapping[str, str]]) -> None:
        self._strings = strings

    @classmethod
    def load(cls, tables: Iterable[tuple[str, Mapping[str, str], Mapping[str, str]]] = ()) -> Catalog:
        """The core's strings plus each `(owner, english, japanese)` table."""
        merged: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}
        for owner, english, japanese in [("core", core_strings.EN, core_strings.JA), *tables]:
            for language, table in ((ENGLISH, english), (JAPANESE, japanese)):
                duplicate = merged[language].keys() & table.keys()
                if duplicate:
                    raise ValueError(f"the strings of {owner} redefine {sorted(duplicate)}")
                merged[language].update(table)
        return cls(merged)

    def strings(self, language: str) -> Mapping[str, str]:
        return self._strings[language]

    def t(self, locale: str | None, key: str, /, **values: object) -> str:
        """The string for `key` in the locale's language (English when missing), formatted with `values`."""
        language = language_of(locale)
        template = self._strings[language].get(key) or self._strings[ENGLISH].get(key)
        if template is None:
            raise KeyError(f"no string {key!r}")
        return template.format(**values) if values else template

    def localization_provider(self) -> lightbulb.DictLocalizationProvider:
        """Command names/descriptions for Discord: en-US is the default, en-GB and ja localized."""
        english = {key: value for key, value in self._strings[ENGLISH].items() if key.startswith("commands.")}
        japanese = {key: value for key, value in self._strings[JAPANESE].items() if key.startswith("commands.")}
        return lightbulb.DictLocalizationProvider(
            {hikari.Locale.EN_US: english, hikari.Locale.EN_GB: english, hikari.Locale.JA: japanese}
        )
