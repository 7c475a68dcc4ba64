"""The core's part of the `users` table: each user's reply visibility (`/privacy`), which every reply honours."""

from __future__ import annotations

import time
from typing import cast

from ora.core.config import PrivacyMode
from ora.core.store import Store


class UserPreferences:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get_privacy_mode(self, discord_user_id: int) -> PrivacyMode | None:
        """The user's own choice, or None when they never chose (then PRIVACY_DEFAULT applies)."""
        row = await self._store.fetch_one(
            "SELECT privacy_mode FROM users WHERE discord_user_id = $1", (discord_user_id,)
        )
        return cast("PrivacyMode | None", row["privacy_mode"]) if row else None

    async def set_privacy_mode(self, discord_user_id: int, mode: PrivacyMode) -> None:
        stamp = time.time()
        await self._store.execute(
            "INSERT INTO users (discord_user_id, privacy_mode, created_at, updated_at) VALUES ($1, $2, $3, $3)"
            " ON CONFLICT (discord_user_id) DO UPDATE SET privacy_mode = excluded.privacy_mode,"
            " updated_at = excluded.updated_at",
            (discord_user_id, mode, stamp),
        )
