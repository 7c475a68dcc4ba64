"""The HTTP client session the bot's outside clients share (LLM, ORA, OpenID provider, attachment downloads).

One `aiohttp.ClientSession` per process: one connection pool with keep-alive per host, opened at start and closed
at the end. A client built without a shared session (a test, a script) opens one of its own on `start()` and
closes it on `close()`; one given the shared session never closes it.
"""

from __future__ import annotations

import aiohttp

USER_AGENT = "ORA-bot"


def new_session() -> aiohttp.ClientSession:
    """Errors are the caller's to read (no `raise_for_status`); every request names the bot."""
    return aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}, raise_for_status=False)


class SessionHandle:
    """A client's access to an HTTP session: the shared one, or its own (opened and closed by the client)."""

    def __init__(self, shared: aiohttp.ClientSession | None = None, *, owner: str = "this client") -> None:
        self._shared = shared
        self._own: aiohttp.ClientSession | None = None
        self._owner = owner

    async def start(self) -> None:
        if self._shared is None and (self._own is None or self._own.closed):
            self._own = new_session()

    async def close(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            await own.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        session = self._shared or self._own
        if session is None or session.closed:
            raise RuntimeError(f"{self._owner}: start() was not called (or the session is closed)")
        return session
