"""Fetch what a user attached, from Discord only: every URL and every redirect hop is checked first.

An attachment URL arrives inside an interaction payload, and fetching it makes the bot send a request wherever
it points. So only these origins (scheme, host, port) are contacted:

* ``https://cdn.discordapp.com`` and ``https://media.discordapp.net`` (Discord's attachment hosts, port 443);
* the origin of ``DISCORD_REST_URL`` (``https://discord.com`` by default; the emulator's address in tests).

A URL with credentials (``user@host``), another scheme, host or port is refused before any connection is made.
Redirects are followed by hand, at most `MAX_REDIRECTS` hops, each one checked the same way, so a redirect can
never lead off those hosts. Nothing here knows about datasets: any feature that downloads attachments (datasets
today, ``/chat`` attachments later) opens them through `open_download` with the same `UrlPolicy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from urllib.parse import urljoin, urlsplit

import aiohttp
import attrs

__all__ = [
    "DISCORD_ATTACHMENT_HOSTS",
    "MAX_REDIRECTS",
    "DownloadRefused",
    "Origin",
    "UrlPolicy",
    "open_download",
]

DISCORD_ATTACHMENT_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DownloadRefused(Exception):
    """The URL, or a redirect hop, is not on an allowed origin (or there were too many hops): not fetched.

    `origin` is what was refused (``scheme://host:port``, never the path or the signed query).
    """

    def __init__(self, reason: str, origin: str = "") -> None:
        super().__init__(f"{reason} ({origin})" if origin else reason)
        self.reason = reason
        self.origin = origin


@attrs.frozen(order=True)
class Origin:
    """``scheme://host:port`` with the scheme and host in lower case and the port always explicit."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an absolute http(s) URL; `DownloadRefused` for anything else."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise DownloadRefused(f"not a valid URL: {error}") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise DownloadRefused("not an absolute http(s) URL", scheme or "no scheme")
        origin = cls(scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme])
        if parts.username is not None or parts.password is not None:
            raise DownloadRefused("credentials in the URL", str(origin))
        return origin

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@attrs.frozen
class UrlPolicy:
    """The origins a download may contact."""

    origins: frozenset[Origin]

    @classmethod
    def for_discord(cls, rest_url: str | None = None) -> UrlPolicy:
        """Discord's attachment hosts over https, plus the origin of the configured REST URL (if given)."""
        origins = {Origin("https", host, 443) for host in DISCORD_ATTACHMENT_HOSTS}
        if rest_url:
            origins.add(Origin.of(rest_url))
        return cls(frozenset(origins))

    @classmethod
    def allowing(cls, urls: Iterable[str]) -> UrlPolicy:
        """Exactly the origins of `urls` (tests and special deployments)."""
        return cls(frozenset(Origin.of(url) for url in urls))

    def check(self, url: str) -> Origin:
        """The URL's origin if it is allowed; `DownloadRefused` otherwise."""
        origin = Origin.of(url)
        if origin not in self.origins:
            raise DownloadRefused("not one of Discord's attachment hosts", str(origin))
        return origin


@asynccontextmanager
async def open_download(
    session: aiohttp.ClientSession,
    url: str,
    policy: UrlPolicy,
    *,
    timeout: float,
    connect_timeout: float = 10.0,
    max_redirects: int = MAX_REDIRECTS,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET `url`, following at most `max_redirects` redirects, each hop checked against `policy` first.

    Yields the final response (any status; a 3xx without ``Location`` too) with its body unread. `timeout`
    bounds everything (all hops and reading the body). Raises `DownloadRefused`, `TimeoutError` and
    aiohttp's client errors.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(max_redirects + 1):
        policy.check(url)
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        hop_timeout = aiohttp.ClientTimeout(total=remaining, sock_connect=min(connect_timeout, remaining))
        response = await session.get(url, allow_redirects=False, timeout=hop_timeout)
        location = response.headers.get("Location")
        if response.status not in _REDIRECT_STATUSES or not location:
            try:
                yield response
            finally:
                response.release()
            return
        response.release()
        url = urljoin(url, location.strip()).split("#", 1)[0]
    raise DownloadRefused(f"more than {max_redirects} redirects")
