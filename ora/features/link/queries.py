"""Local /link codes (ORA not configured): stored as digests, redeemable once, deleted when they expire."""

from __future__ import annotations

import time

from ora.core.store import Store, digest


class LinkCodes:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, code: str, discord_user_id: int, ttl: float) -> None:
        stamp = time.time()
        await self._store.execute(
            "INSERT INTO link_codes (code_hash, discord_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            (digest(code), discord_user_id, stamp, stamp + ttl),
        )

    async def redeem(self, code: str) -> int | None:
        """Consume a code; its Discord user, or None if unknown, already redeemed or expired.

        One UPDATE … RETURNING: of two concurrent callers exactly one gets the user id.
        """
        row = await self._store.fetch_one(
            "UPDATE link_codes SET consumed_at = $1 WHERE code_hash = $2 AND consumed_at IS NULL AND expires_at > $1"
            " RETURNING discord_user_id",
            (time.time(), digest(code)),
        )
        return int(row["discord_user_id"]) if row else None

    async def purge_expired(self) -> int:
        return await self._store.execute("DELETE FROM link_codes WHERE expires_at <= $1", (time.time(),))
