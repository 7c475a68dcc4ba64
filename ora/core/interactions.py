"""Interactions whose reply is still being written, kept in the database so that no process's death leaves a
reply saying "thinking…" forever.

A command that answers over time (a streamed /chat answer) records its interaction while it writes; a command
whose outcome a job reports later (an upload to ORA) records it for the job. Discord lets the token edit the
reply for 15 minutes, and the record lives no longer than that. When the process writing an answer dies, the
next sweep of a live process (`ora.core.replicas`), at its start or within seconds, takes the record over and
edits the reply to say it was interrupted: each feature may say how (`on_interrupted`), else a note is added.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import hikari

from ora.core.i18n import Catalog
from ora.core.replicas import Presence
from ora.core.replies import NO_MENTIONS
from ora.core.store import Store, StoreError
from ora.core.store.interactions import InteractionRows, RecordedInteraction

log = logging.getLogger(__name__)

#: How long Discord accepts an interaction's token for edits and follow-ups.
TOKEN_LIFETIME = 15 * 60
InterruptedHandler = Callable[[RecordedInteraction, "InteractionLedger"], Awaitable[None]]

__all__ = ["TOKEN_LIFETIME", "InteractionLedger", "RecordedInteraction"]


def _created_at(interaction: hikari.PartialInteraction) -> float:
    created: datetime.datetime = interaction.created_at
    return created.timestamp()


class InteractionLedger:
    def __init__(self, store: Store, presence: Presence, rest: hikari.api.RESTClient, catalog: Catalog) -> None:
        self._rows = InteractionRows(store)
        self._presence = presence
        self.rest = rest
        self.catalog = catalog
        self._handlers: dict[str, InterruptedHandler] = {}

    def on_interrupted(self, feature: str, handler: InterruptedHandler) -> None:
        """How `feature` tells a user that its answer was cut off by a process that died."""
        self._handlers[feature] = handler

    async def record(
        self,
        interaction: hikari.PartialInteraction,
        feature: str,
        *,
        answering: bool = True,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Keep the interaction's token (until it expires) so another process can finish or correct the reply.
        False when the database refused it (the answer goes on; only the recovery is lost)."""
        created = _created_at(interaction)
        recorded = RecordedInteraction(
            interaction_id=int(interaction.id),
            application_id=int(interaction.application_id),
            token=interaction.token,
            feature=feature,
            user_id=int(interaction.user.id) if isinstance(interaction, hikari.CommandInteraction) else 0,
            locale=str(getattr(interaction, "locale", "") or "") or None,
            owner=self._presence.replica.owner,
            answering=answering,
            context=context or {},
            created_at=created,
            expires_at=created + TOKEN_LIFETIME,
        )
        try:
            await self._rows.record(recorded)
        except StoreError as error:
            log.warning("could not record interaction %s for recovery: %s", recorded.interaction_id, error)
            return False
        return True

    async def stop_answering(self, interaction_id: int, context: dict[str, Any] | None = None) -> None:
        """The command's own part is over; the record stays for a job to finish the reply."""
        await self._rows.stop_answering(interaction_id, context)

    async def get(self, interaction_id: int) -> RecordedInteraction | None:
        return await self._rows.get(interaction_id)

    async def forget(self, interaction_id: int) -> None:
        """The reply is complete: the token is deleted."""
        try:
            await self._rows.delete(interaction_id)
        except StoreError as error:
            log.warning("could not forget interaction %s (it expires by itself): %s", interaction_id, error)

    async def edit(self, recorded: RecordedInteraction, content: str) -> None:
        """Replace the text of the recorded interaction's reply."""
        await self.rest.edit_interaction_response(recorded.application_id, recorded.token, content, **NO_MENTIONS)

    def text(self, recorded: RecordedInteraction, key: str, /, **values: object) -> str:
        return self.catalog.t(recorded.locale, key, **values)

    async def recover_orphans(self) -> int:
        """Tell the users whose answers a dead process was writing; returns how many were told."""
        orphans = await self._rows.take_orphaned_answers(self._presence.replica.owner, self._presence.liveness)
        told = 0
        for recorded in orphans:
            if recorded.expires_at <= time.time():
                continue
            handler = self._handlers.get(recorded.feature, _add_note)
            try:
                await handler(recorded, self)
                told += 1
            except (hikari.HikariError, OSError, TimeoutError) as error:
                log.warning("could not tell user %s that their answer was interrupted: %s", recorded.user_id, error)
            finally:
                await self.forget(recorded.interaction_id)
        if told:
            log.info("told %d user(s) that a stopped process had interrupted their answer", told)
        return told

    async def purge_expired(self) -> int:
        return await self._rows.purge_expired()


async def _add_note(recorded: RecordedInteraction, ledger: InteractionLedger) -> None:
    message = await ledger.rest.fetch_interaction_response(recorded.application_id, recorded.token)
    note = ledger.text(recorded, "error.interrupted")
    await ledger.edit(recorded, f"{message.content}\n\n{note}".strip() if message.content else note)
