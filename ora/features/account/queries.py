"""One-time secrets: /login states, browser-bound OAuth flows, pending confirmations, /link codes.

Only SHA-256 digests of the secrets are stored, so a copy of the database lets nobody finish a login.
"""

from __future__ import annotations

from ora.store.base import Database, digest, now
from ora.store.models import OAuthFlow, PendingLink

MAX_FLOWS_PER_STATE = 3


class LoginQueries:
    _database: Database

    async def create_login_state(
        self, state: str, discord_user_id: int, ttl: float, discord_name: str | None = None
    ) -> None:
        stamp = now()  # expired states are purged on a timer (ora/store/housekeeping.py)
        await self._database.execute(
            "INSERT INTO login_states (state_hash, discord_user_id, discord_name, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (digest(state), discord_user_id, discord_name, stamp, stamp + ttl),
        )

    async def login_state_name(self, state_hash: str) -> str | None:
        """The Discord user name recorded with a login state (used or not), if any."""
        row = await self._database.fetch_one(
            "SELECT discord_name FROM login_states WHERE state_hash = ?", (state_hash,)
        )
        return str(row["discord_name"]) if row and row["discord_name"] else None

    async def peek_login_state(self, state: str) -> int | None:
        """The Discord user of a state that is still usable (unknown, used, expired: None). Does not consume."""
        row = await self._database.fetch_one(
            "SELECT discord_user_id FROM login_states WHERE state_hash = ? AND consumed_at IS NULL AND expires_at > ?",
            (digest(state), now()),
        )
        return int(row["discord_user_id"]) if row else None

    async def consume_login_state(self, state: str) -> int | None:
        """Atomically mark the state used and return its Discord user; None if unknown, used or expired.

        One UPDATE … RETURNING: of two concurrent callers exactly one gets the user id.
        """
        return await self.consume_login_state_by_hash(digest(state))

    async def consume_login_state_by_hash(self, state_hash: str) -> int | None:
        """As `consume_login_state`, for a flow that kept only the digest."""
        row = await self._database.fetch_one(
            "UPDATE login_states SET consumed_at = ?"
            " WHERE state_hash = ? AND consumed_at IS NULL AND expires_at > ?"
            " RETURNING discord_user_id",
            (now(), state_hash, now()),
        )
        return int(row["discord_user_id"]) if row else None

    async def release_login_state(self, state_hash: str) -> bool:
        """Make a consumed, unexpired state usable again: its sign-in failed through no fault of the user.

        Only the callback that consumed the state calls this, after the provider failed it (down, token
        endpoint error, unusable keys); returns whether the state is usable again.
        """
        changed = await self._database.execute(
            "UPDATE login_states SET consumed_at = NULL"
            " WHERE state_hash = ? AND consumed_at IS NOT NULL AND expires_at > ?",
            (state_hash, now()),
        )
        return changed > 0

    async def create_oauth_flow(
        self, *, flow_secret: str, state: str, oauth_state: str, code_verifier: str, nonce: str, ttl: float
    ) -> None:
        """Start one browser's trip; a state keeps at most `MAX_FLOWS_PER_STATE` flows (the newest ones).

        Every visit of a live /login URL starts a flow, so without the cap one URL could fill the database.
        """
        stamp = now()
        state_hash = digest(state)
        async with self._database.transaction() as tx:
            await tx.execute(
                "DELETE FROM oauth_flows WHERE state_hash = ? AND flow_hash NOT IN"
                " (SELECT flow_hash FROM oauth_flows WHERE state_hash = ? ORDER BY created_at DESC, rowid DESC"
                " LIMIT ?)",
                (state_hash, state_hash, MAX_FLOWS_PER_STATE - 1),
            )
            await tx.execute(
                "INSERT INTO oauth_flows (flow_hash, state_hash, oauth_state, code_verifier, nonce, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (digest(flow_secret), state_hash, oauth_state, code_verifier, nonce, stamp, stamp + ttl),
            )

    async def take_oauth_flow(self, flow_secret: str, oauth_state: str) -> OAuthFlow | None:
        """Remove and return the flow matching both the browser cookie and the OAuth state (once)."""
        row = await self._database.fetch_one(
            "DELETE FROM oauth_flows WHERE flow_hash = ? AND oauth_state = ? AND expires_at > ?"
            " RETURNING flow_hash, state_hash, oauth_state, code_verifier, nonce, expires_at",
            (digest(flow_secret), oauth_state, now()),
        )
        if row is None:
            return None
        return OAuthFlow(
            flow_hash=row["flow_hash"],
            state_hash=row["state_hash"],
            oauth_state=row["oauth_state"],
            code_verifier=row["code_verifier"],
            nonce=row["nonce"],
            expires_at=row["expires_at"],
        )

    async def create_pending_link(
        self,
        *,
        csrf_token: str,
        flow_secret: str,
        discord_user_id: int,
        google_sub: str,
        google_email: str | None,
        ttl: float,
    ) -> None:
        stamp = now()
        await self._database.execute(
            "INSERT INTO pending_links (csrf_hash, flow_hash, discord_user_id, google_sub, google_email,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                digest(csrf_token),
                digest(flow_secret),
                discord_user_id,
                google_sub,
                google_email,
                stamp,
                stamp + ttl,
            ),
        )

    async def take_pending_link(self, csrf_token: str, flow_secret: str) -> PendingLink | None:
        """Remove and return the pending link for this CSRF token and browser (once)."""
        row = await self._database.fetch_one(
            "DELETE FROM pending_links WHERE csrf_hash = ? AND flow_hash = ? AND expires_at > ?"
            " RETURNING discord_user_id, google_sub, google_email, flow_hash",
            (digest(csrf_token), digest(flow_secret), now()),
        )
        if row is None:
            return None
        return PendingLink(
            discord_user_id=row["discord_user_id"],
            google_sub=row["google_sub"],
            google_email=row["google_email"],
            flow_hash=row["flow_hash"],
        )

    async def create_link_code(self, code: str, discord_user_id: int, ttl: float) -> None:
        stamp = now()
        await self._database.execute(
            "INSERT INTO link_codes (code_hash, discord_user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (digest(code), discord_user_id, stamp, stamp + ttl),
        )

    async def redeem_link_code(self, code: str) -> int | None:
        """Consume a local /link code; its Discord user, or None if unknown, already redeemed or expired.

        One UPDATE … RETURNING: of two concurrent callers exactly one gets the user id.
        """
        stamp = now()
        row = await self._database.fetch_one(
            "UPDATE link_codes SET consumed_at = ? WHERE code_hash = ? AND consumed_at IS NULL AND expires_at > ?"
            " RETURNING discord_user_id",
            (stamp, digest(code), stamp),
        )
        return int(row["discord_user_id"]) if row else None

    async def purge_expired(self) -> int:
        """Delete expired login states, flows, pending links and link codes; returns rows removed."""
        stamp = now()
        return await self._database.execute_many(
            (f"DELETE FROM {table} WHERE expires_at <= ?", (stamp,))
            for table in ("oauth_flows", "pending_links", "login_states", "link_codes")
        )
