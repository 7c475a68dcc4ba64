"""Rows of the `interactions` table: interactions whose reply may still be edited (see `ora.core.interactions`).

The token is a credential (anyone holding it can post as the bot for 15 minutes): a row lives only until the
reply is complete or the token expires, whichever comes first.
"""

from __future__ import annotations

import json
import time
from typing import Any

import attrs

from ora.core.store import Row, Store
from ora.core.store.replicas import live_owner

_COLUMNS = (
    "interaction_id, application_id, token, feature, user_id, locale, owner, answering, context, created_at, expires_at"
)


@attrs.frozen
class RecordedInteraction:
    interaction_id: int
    application_id: int
    token: str = attrs.field(repr=False)
    feature: str
    user_id: int
    locale: str | None
    owner: str
    answering: bool
    context: dict[str, Any]
    created_at: float
    expires_at: float


def _recorded(row: Row) -> RecordedInteraction:
    context = json.loads(row["context"] or "{}")
    return RecordedInteraction(
        interaction_id=int(row["interaction_id"]),
        application_id=int(row["application_id"]),
        token=row["token"],
        feature=row["feature"],
        user_id=int(row["user_id"]),
        locale=row["locale"],
        owner=row["owner"],
        answering=bool(row["answering"]),
        context=context if isinstance(context, dict) else {},
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


class InteractionRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, recorded: RecordedInteraction) -> None:
        await self._store.execute(
            f"INSERT INTO interactions ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (interaction_id) DO UPDATE SET owner = excluded.owner, answering = excluded.answering,"
            " context = excluded.context",
            (
                recorded.interaction_id,
                recorded.application_id,
                recorded.token,
                recorded.feature,
                recorded.user_id,
                recorded.locale,
                recorded.owner,
                int(recorded.answering),
                json.dumps(recorded.context),
                recorded.created_at,
                recorded.expires_at,
            ),
        )

    async def get(self, interaction_id: int) -> RecordedInteraction | None:
        """The row while its token is valid."""
        row = await self._store.fetch_one(
            f"SELECT {_COLUMNS} FROM interactions WHERE interaction_id = $1 AND expires_at > $2",
            (interaction_id, time.time()),
        )
        return _recorded(row) if row else None

    async def stop_answering(self, interaction_id: int, context: dict[str, Any] | None = None) -> None:
        if context is None:
            await self._store.execute(
                "UPDATE interactions SET answering = 0 WHERE interaction_id = $1", (interaction_id,)
            )
            return
        await self._store.execute(
            "UPDATE interactions SET answering = 0, context = $1 WHERE interaction_id = $2",
            (json.dumps(context), interaction_id),
        )

    async def delete(self, interaction_id: int) -> None:
        await self._store.execute("DELETE FROM interactions WHERE interaction_id = $1", (interaction_id,))

    async def take_orphaned_answers(self, owner: str, liveness: float) -> list[RecordedInteraction]:
        """Answers being written by processes that are gone, whose token still works: now `owner`'s.

        Each row is taken with a compare-and-set on its old owner, so of two processes sweeping at once only one
        gets it.
        """
        now = time.time()
        candidates = await self._store.fetch_all(
            "SELECT interaction_id, owner FROM interactions WHERE answering = 1 AND expires_at > $1"
            f" AND NOT {live_owner('interactions', 'owner', '$2')}",
            (now, now - liveness),
        )
        taken: list[RecordedInteraction] = []
        for candidate in candidates:
            row = await self._store.fetch_one(
                f"UPDATE interactions SET owner = $1 WHERE interaction_id = $2 AND owner = $3 RETURNING {_COLUMNS}",
                (owner, candidate["interaction_id"], candidate["owner"]),
            )
            if row is not None:
                taken.append(_recorded(row))
        return taken

    async def purge_expired(self) -> int:
        return await self._store.execute("DELETE FROM interactions WHERE expires_at <= $1", (time.time(),))
