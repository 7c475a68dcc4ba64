"""The example's table: greetings per user. SQL lives here (and nowhere else in the feature)."""

from __future__ import annotations

import time

from ora.core.store import Store


class Greetings:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def count_one(self, user_id: int) -> int:
        """One more greeting for `user_id`; how many they have had now."""
        row = await self._store.fetch_one(
            "INSERT INTO example_greetings (user_id, count, last_at) VALUES ($1, 1, $2)"
            " ON CONFLICT (user_id) DO UPDATE SET count = example_greetings.count + 1, last_at = excluded.last_at"
            " RETURNING count",
            (user_id, time.time()),
        )
        return int(row["count"]) if row else 0

    async def total(self) -> int:
        row = await self._store.fetch_one("SELECT COALESCE(SUM(count), 0) AS total FROM example_greetings")
        return int(row["total"]) if row else 0
