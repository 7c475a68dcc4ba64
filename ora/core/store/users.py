"""Users: privacy mode and the linked Google account."""

from __future__ import annotations

from typing import cast

import aiosqlite

from ora.config import PrivacyMode
from ora.store.base import Database, now
from ora.store.models import LinkConflictError, UserRecord


class UserQueries:
    _database: Database

    async def get_user(self, discord_user_id: int) -> UserRecord | None:
        row = await self._database.fetch_one(
            "SELECT discord_user_id, google_sub, google_email, privacy_mode, linked_at"
            " FROM users WHERE discord_user_id = ?",
            (discord_user_id,),
        )
        if row is None:
            return None
        return UserRecord(
            discord_user_id=row["discord_user_id"],
            google_sub=row["google_sub"],
            google_email=row["google_email"],
            privacy_mode=cast("PrivacyMode | None", row["privacy_mode"]),
            linked_at=row["linked_at"],
        )

    async def get_privacy_mode(self, discord_user_id: int) -> PrivacyMode | None:
        """The user's own choice, or None when they never chose (then PRIVACY_DEFAULT applies)."""
        row = await self._database.fetch_one(
            "SELECT privacy_mode FROM users WHERE discord_user_id = ?", (discord_user_id,)
        )
        return cast("PrivacyMode | None", row["privacy_mode"]) if row else None

    async def set_privacy_mode(self, discord_user_id: int, mode: PrivacyMode) -> None:
        stamp = now()
        await self._database.execute(
            "INSERT INTO users (discord_user_id, privacy_mode, created_at, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (discord_user_id) DO UPDATE SET privacy_mode = excluded.privacy_mode,"
            " updated_at = excluded.updated_at",
            (discord_user_id, mode, stamp, stamp),
        )

    async def upsert_google_sub(self, discord_user_id: int, sub: str, email: str | None) -> None:
        """Link `sub` to the Discord user (replacing their previous link).

        Raises `LinkConflictError` when another Discord user already holds this Google account: moving a
        link silently would let whoever controls one Discord account take over another's link.
        """
        stamp = now()
        try:
            async with self._database.transaction() as tx:
                holder = await tx.fetch_one(
                    "SELECT discord_user_id FROM users WHERE google_sub = ? AND discord_user_id != ?",
                    (sub, discord_user_id),
                )
                if holder is not None:
                    raise LinkConflictError(int(holder["discord_user_id"]))
                await tx.execute(
                    "INSERT INTO users (discord_user_id, google_sub, google_email, linked_at, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (discord_user_id) DO UPDATE SET google_sub = excluded.google_sub,"
                    " google_email = excluded.google_email, linked_at = excluded.linked_at,"
                    " updated_at = excluded.updated_at",
                    (discord_user_id, sub, email, stamp, stamp, stamp),
                )
        except aiosqlite.IntegrityError as error:  # a concurrent link won the UNIQUE(google_sub) race
            raise LinkConflictError(0) from error

    async def unlink_google(self, discord_user_id: int) -> bool:
        """Forget the user's Google account; True when there was one."""
        changed = await self._database.execute(
            "UPDATE users SET google_sub = NULL, google_email = NULL, linked_at = NULL, updated_at = ?"
            " WHERE discord_user_id = ? AND google_sub IS NOT NULL",
            (now(), discord_user_id),
        )
        return changed > 0
