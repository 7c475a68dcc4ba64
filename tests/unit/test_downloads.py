"""Which attachment URLs the bot may fetch (`UrlPolicy`): Discord's hosts over https and the REST origin only."""

from __future__ import annotations

import pytest

from ora.core.downloads import DownloadRefused, Origin, UrlPolicy

DISCORD = UrlPolicy.for_discord("https://discord.com/api/v10")
EMULATOR = UrlPolicy.for_discord("http://127.0.0.1:9000/api/v10")


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.discordapp.com/attachments/1/2/data.csv?ex=1&is=2&hm=3",
        "https://media.discordapp.net/attachments/1/2/data.csv",
        "https://CDN.DiscordApp.com:443/attachments/1/2/data.csv",
        "https://discord.com/attachments/1/2/data.csv",
    ],
)
def test_discord_urls_are_allowed(url: str) -> None:
    assert DISCORD.check(url).scheme == "https"


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.discordapp.com/attachments/1/2/x",  # not https
        "https://cdn.discordapp.com:8443/attachments/1/2/x",  # another port
        "https://cdn.discordapp.com.evil.example/attachments/1/2/x",
        "https://evil.example/cdn.discordapp.com/attachments/1/2/x",
        "https://user@cdn.discordapp.com/attachments/1/2/x",
        "https://cdn.discordapp.com@evil.example/attachments/1/2/x",
        "https://cdn.discordapp.com:notaport/x",
        "https://[::1]/x",
        "https://127.0.0.1/x",
        "ftp://cdn.discordapp.com/x",
        "file:///etc/passwd",
        "//cdn.discordapp.com/x",
        "/attachments/1/2/x",
        "",
    ],
)
def test_everything_else_is_refused(url: str) -> None:
    with pytest.raises(DownloadRefused):
        DISCORD.check(url)


def test_the_rest_origin_is_allowed_exactly() -> None:
    assert str(EMULATOR.check("http://127.0.0.1:9000/attachments/1/2/x.csv")) == "http://127.0.0.1:9000"
    for url in ("https://127.0.0.1:9000/x", "http://127.0.0.1:9001/x", "http://localhost:9000/x"):
        with pytest.raises(DownloadRefused):
            EMULATOR.check(url)
    assert EMULATOR.check("https://cdn.discordapp.com/x") == Origin("https", "cdn.discordapp.com", 443)


def test_the_refusal_names_the_origin_but_not_the_signed_query() -> None:
    with pytest.raises(DownloadRefused) as caught:
        DISCORD.check("https://evil.example:8443/attachments/secret-path?hm=signature")
    assert caught.value.origin == "https://evil.example:8443"
    assert "signature" not in str(caught.value) and "secret-path" not in str(caught.value)


def test_without_a_rest_url_only_the_attachment_hosts_are_allowed() -> None:
    assert UrlPolicy.for_discord().origins == {
        Origin("https", "cdn.discordapp.com", 443),
        Origin("https", "media.discordapp.net", 443),
    }
