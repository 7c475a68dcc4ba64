"""What the emulator observed: interaction records and a change signal for bounded waits.

An :class:`InteractionRecord` is created for every interaction the emulator sends. The REST side appends
to it (callbacks, edits of ``@original``, follow-ups) and wakes waiters through a :class:`ChangeSignal`;
tests wait with :meth:`InteractionRecord.wait_for` and friends — every wait is bounded and wakes on change,
never by polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from ora.testing.discord.payloads import JSON

__all__ = ["EPHEMERAL", "ChangeSignal", "InteractionRecord", "UploadedFile"]

EPHEMERAL = 1 << 6
LOADING = 1 << 7
_T = TypeVar("_T")


class ChangeSignal:
    """Wakes every waiter when something changed; waiters re-check their condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Something changed: wake all current waiters."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, check: Callable[[], _T | None], timeout: float, describe: Callable[[], str]) -> _T:
        """Return ``check()``'s first truthy value; ``TimeoutError`` naming ``describe()`` after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._event
                    result = check()
                    if result:
                        return result
                    await event.wait()
        except TimeoutError:
            msg = f"timed out after {timeout} s waiting for {describe()}"
            raise TimeoutError(msg) from None


@attrs.define
class UploadedFile:
    """A file the bot uploaded with a response (multipart ``files[n]``)."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@attrs.define(eq=False)
class InteractionRecord:
    """One interaction sent to the bot and everything the bot answered to it.

    ``callbacks``/``edits``/``followups`` hold the JSON bodies the bot sent, in arrival order (for multipart
    requests, the ``payload_json``). ``original`` is the message object behind ``@original`` as Discord would
    show it now; ``messages`` are all visible messages (original first, then follow-ups).
    """

    id: int
    token: str
    payload: JSON
    signal: ChangeSignal
    callbacks: list[JSON] = attrs.field(factory=list)
    edits: list[JSON] = attrs.field(factory=list)
    followups: list[JSON] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    uploads: list[UploadedFile] = attrs.field(factory=list)
    original: JSON | None = None
    original_deleted: bool = False
    followup_messages: dict[int, JSON] = attrs.field(factory=dict)
    delivered_at: float | None = None
    responded_at: float | None = None
    deadline_handle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ derived views

    @property
    def command_name(self) -> str:
        """The top-level command name."""
        return str(self.payload["data"]["name"])

    @property
    def initial(self) -> JSON | None:
        """The accepted initial response (first callback), if any."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def initial_type(self) -> int | None:
        """The initial response type (4 message, 5 deferred, 8 autocomplete, 9 modal, ...)."""
        return int(self.callbacks[0]["type"]) if self.callbacks else None

    @property
    def deferred(self) -> bool:
        """Whether the initial response was a deferral (type 5 or 6)."""
        return self.initial_type in {5, 6}

    @property
    def ephemeral(self) -> bool:
        """Whether the initial response (or deferral) had the EPHEMERAL flag (1 << 6)."""
        if not self.callbacks:
            return False
        data = self.callbacks[0].get("data") or {}
        return bool(int(data.get("flags") or 0) & EPHEMERAL)

    @property
    def delivered(self) -> bool:
        """Whether the INTERACTION_CREATE went out over a websocket."""
        return self.delivered_at is not None

    @property
    def autocomplete_choices(self) -> list[JSON] | None:
        """The choices of an autocomplete result (callback type 8)."""
        if self.initial_type != 8 or self.initial is None:
            return None
        return list((self.initial.get("data") or {}).get("choices") or [])

    def final_content(self) -> str:
        """The ``@original`` message's current content ("" if none or still loading)."""
        if self.original is None or self.original_deleted:
            return ""
        return str(self.original.get("content") or "")

    def all_messages(self) -> list[JSON]:
        """Visible messages: ``@original`` (unless deleted) then follow-ups, in order."""
        out: list[JSON] = []
        if self.original is not None and not self.original_deleted:
            out.append(self.original)
        out.extend(self.followup_messages.values())
        return out

    def all_content(self, separator: str = "\n") -> str:
        """The contents of :meth:`all_messages` joined (handy for split replies)."""
        return separator.join(str(m.get("content") or "") for m in self.all_messages())

    def changed(self) -> None:
        """Wake waiters (called by the emulator after each mutation)."""
        self.signal.notify()

    def _describe(self) -> str:
        shown = self.all_messages()
        contents = [str(m.get("content") or "")[:80] for m in shown]
        return (
            f"interaction {self.id} (/{self.command_name}): delivered={self.delivered}, "
            f"callbacks={[c.get('type') for c in self.callbacks]}, edits={len(self.edits)}, "
            f"followups={len(self.followups)}, visible={contents}, errors={self.errors}"
        )

    # ------------------------------------------------------------------ waits

    async def wait_for(self, predicate: Callable[[InteractionRecord], Any], timeout: float = 10.0) -> InteractionRecord:
        """Wait until ``predicate(self)`` is truthy (checked after every change); return ``self``."""
        await self.signal.wait_for(lambda: self if predicate(self) else None, timeout, self._describe)
        return self

    async def wait_initial(self, timeout: float = 5.0) -> JSON:
        """The initial response body (``{"type": 4, "data": {...}}``, ``{"type": 5, ...}``, ...)."""
        await self.wait_for(lambda r: r.callbacks, timeout)
        return self.callbacks[0]

    async def wait_message(self, predicate: Callable[[JSON], Any] | None = None, timeout: float = 10.0) -> JSON:
        """The ``@original`` message once it has visible content (not loading) and satisfies ``predicate``.

        Returns Discord's message object (``content``, ``embeds``, ``flags``...).
        """

        def ready(r: InteractionRecord) -> bool:
            msg = r.original
            if msg is None or r.original_deleted or int(msg.get("flags") or 0) & LOADING:
                return False
            return bool(predicate(msg)) if predicate is not None else True

        await self.wait_for(ready, timeout)
        assert self.original is not None
        return self.original

    async def wait_followups(self, count: int = 1, timeout: float = 10.0) -> list[JSON]:
        """Wait for at least ``count`` follow-up bodies; return all follow-up message objects."""
        await self.wait_for(lambda r: len(r.followups) >= count, timeout)
        return list(self.followup_messages.values())
