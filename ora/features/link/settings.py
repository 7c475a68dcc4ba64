"""The link feature's settings."""

from __future__ import annotations

import attrs

from ora.core.config import Settings, SettingsReader, SettingsSection, bearer_token


@attrs.frozen
class LinkSettings:
    #: bearer token of POST /link/redeem (unset: the route does not exist)
    redeem_token: str | None = attrs.field(default=None, repr=False)

    def secrets(self) -> list[str]:
        return [self.redeem_token] if self.redeem_token else []


def read_settings(read: SettingsReader, _: Settings) -> LinkSettings:
    return LinkSettings(redeem_token=read.parse("LINK_REDEEM_TOKEN", bearer_token, None, secret=True))


SECTION = SettingsSection(LinkSettings, read_settings)
