"""The example's one setting, read with the rest of the configuration (problems reported together)."""

from __future__ import annotations

import attrs

from ora.core.config import Settings, SettingsReader, SettingsSection


@attrs.frozen
class ExampleSettings:
    greeting: str = "Hello"


def _greeting(value: str) -> str:
    if len(value) > 40 or not value.isprintable():
        raise ValueError("expected at most 40 printable characters")
    return value


def read_settings(read: SettingsReader, _: Settings) -> ExampleSettings:
    return ExampleSettings(greeting=read.parse("EXAMPLE_GREETING", _greeting, "Hello"))


SECTION = SettingsSection(ExampleSettings, read_settings)
