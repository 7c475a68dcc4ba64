"""The account feature's settings: the OpenID Connect client (Google by default) and the /login URL's life."""

from __future__ import annotations

import attrs

from ora.core.config import Settings, SettingsReader, SettingsSection, http_url, positive_int


@attrs.frozen
class LoginSettings:
    google_client_id: str | None = None
    google_client_secret: str | None = attrs.field(default=None, repr=False)
    google_issuer: str = "https://accounts.google.com"
    #: seconds a /login URL stays valid
    state_ttl: int = 900

    @property
    def configured(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret)

    def secrets(self) -> list[str]:
        return [self.google_client_secret] if self.google_client_secret else []


def read_settings(read: SettingsReader, _: Settings) -> LoginSettings:
    client_id = read.raw("GOOGLE_CLIENT_ID")
    client_secret = read.raw("GOOGLE_CLIENT_SECRET")
    if bool(client_id) != bool(client_secret):
        read.problem("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together (one of them is missing).")
    return LoginSettings(
        google_client_id=client_id,
        google_client_secret=client_secret,
        google_issuer=read.parse("GOOGLE_ISSUER", http_url, "https://accounts.google.com"),
        state_ttl=read.parse("LOGIN_STATE_TTL", positive_int, 900),
    )


SECTION = SettingsSection(LoginSettings, read_settings)
