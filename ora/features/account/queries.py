"""The account feature's tables: /login states, browser-bound OAuth flows, pending confirmations, and the Google
account columns of the core's `users` table.

Only SHA-256 digests of the secrets are stored, so a copy of the database lets nobody finish a login.
`consume_login_state` and `upsert_google_sub` keep the names the original description documents.
"""

from __future__ import annotations

import time
from typing import cast

import attrs

from ora.core.config import PrivacyMode
from ora.core.store import IntegrityError, Store, digest

MAX_FLOWS_PER_STATE = 3


@attrs.frozen
class UserRecord:
    discord_user_id: int
    google_sub: str | None
    google_email: str | None
    privacy_mode: PrivacyMode | None
    linked_at: float | None


@attrs.frozen
class OAuthFlow:
    flow_hash: str
    state_hash: str
    oauth_state: str
    code_verifier: str
    nonce: str
    expires_at: float


@attrs.frozen
class PendingLink:
    discord_user_id: int
    google_sub: str
    google_email: str | None
    flow_hash: str


class LinkConflictError(Exception):
    """The Google account is already linked to another Discord user."""

    def __init__(self, other_discord_user_id: int) -> None:
        super().__init__("this Google account is linked to another Discord user")
        self.other_discord_user_id = other_discord_user_id


class AccountQueries:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- the linked Google account --

    async def get_user(self, discord_user_id: int) -> UserRecord | None:
        row = await self._store.fetch_one(
            "SELECT discord_user_id, google_sub, google_email, privacy_mode, linked_at"
            " FROM users WHERE discord_user_id = $1",
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

    async def upsert_google_sub(self, discord_user_id: int, sub: str, email: str | None) -> None:
        """Link `sub` to the Discord user (replacing their previous link).

        Raises `LinkConflictError` when another Discord user already holds this Google account: moving a
        link silently would let whoever controls one Discord account take over another's link.
        """
        stamp = time.time()
        try:
            async with self._store.transaction() as tx:
                holder = await tx.fetch_one(
                    "SELECT discord_user_id FROM users WHERE google_sub = $1 AND discord_user_id != $2",
                    (sub, discord_user_id),
                )
                if holder is not None:
                    raise LinkConflictError(int(holder["discord_user_id"]))
                await tx.execute(
                    "INSERT INTO users (discord_user_id, google_sub, google_email, linked_at, created_at,"
                    " updated_at) VALUES ($1, $2, $3, $4, $4, $4)"
                    " ON CONFLICT (discord_user_id) DO UPDATE SET google_sub = excluded.google_sub,"
                    " google_email = excluded.google_email, linked_at = excluded.linked_at,"
                    " updated_at = excluded.updated_at",
                    (discord_user_id, sub, email, stamp),
                )
        except IntegrityError as error:  # a concurrent link won the UNIQUE(google_sub) race
            raise LinkConflictError(0) from error

    async def unlink_google(self, discord_user_id: int) -> bool:
        """Forget the user's Google account; True when there was one."""
        changed = await self._store.execute(
            "UPDATE users SET google_sub = NULL, google_email = NULL, linked_at = NULL, updated_at = $1"
            " WHERE discord_user_id = $2 AND google_sub IS NOT NULL",
            (time.time(), discord_user_id),
        )
        return changed > 0

    # -- /login states --

    async def create_login_state(
        self, state: str, discord_user_id: int, ttl: float, discord_name: str | None = None
    ) -> None:
        stamp = time.time()  # expired states are purged on a timer (purge_expired)
        await self._store.execute(
            "INSERT INTO login_states (state_hash, discord_user_id, discord_name, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            (digest(state), discord_user_id, discord_name, stamp, stamp + ttl),
        )

    async def login_state_name(self, state_hash: str) -> str | None:
        """The Discord user name recorded with a login state (used or not), if any."""
        row = await self._store.fetch_one("SELECT discord_name FROM login_states WHERE state_hash = $1", (state_hash,))
        return str(row["discord_name"]) if row and row["discord_name"] else None

    async def peek_login_state(self, state: str) -> int | None:
        """The Discord user of a state that is still usable (unknown, used, expired: None). Does not consume."""
        row = await self._store.fetch_one(
            "SELECT discord_user_id FROM login_states"
            " WHERE state_hash = $1 AND consumed_at IS NULL AND expires_at > $2",
            (digest(state), time.time()),
        )
        return int(row["discord_user_id"]) if row else None

    async def consume_login_state(self, state: str) -> int | None:
        """Atomically mark the state used and return its Discord user; None if unknown, used or expired.

        One UPDATE … RETURNING: of two concurrent callers exactly one gets the user id.
        """
        return await self.consume_login_state_by_hash(digest(state))

    async def consume_login_state_by_hash(self, state_hash: str) -> int | None:
        """As `consume_login_state`, for a flow that kept only the digest."""
        row = await self._store.fetch_one(
            "UPDATE login_states SET consumed_at = $1"
            " WHERE state_hash = $2 AND consumed_at IS NULL AND expires_at > $1"
            " RETURNING discord_user_id",
            (time.time(), state_hash),
        )
        return int(row["discord_user_id"]) if row else None

    async def release_login_state(self, state_hash: str) -> bool:
        """Make a consumed, unexpired state usable again: its sign-in failed through no fault of the user.

        Only the callback that consumed the state calls this, after the provider failed it (down, token
        endpoint error, unusable keys); returns whether the state is usable again.
        """
        changed = await self._store.execute(
            "UPDATE login_states SET consumed_at = NULL"
            " WHERE state_hash = $1 AND consumed_at IS NOT NULL AND expires_at > $2",
            (state_hash, time.time()),
        )
        return changed > 0

    # -- one browser's trip through the provider --

    async def create_oauth_flow(
        self, *, flow_secret: str, state: str, oauth_state: str, code_verifier: str, nonce: str, ttl: float
    ) -> None:
        """Start one browser's trip; a state keeps at most `MAX_FLOWS_PER_STATE` flows (the newest ones).

        Every visit of a live /login URL starts a flow, so without the cap one URL could fill the database.
        """
        stamp = time.time()
        state_hash = digest(state)
        async with self._store.transaction() as tx:
            await tx.lock(f"login_state:{state_hash}")
            await tx.execute(
                "DELETE FROM oauth_flows WHERE state_hash = $1 AND flow_hash NOT IN"
                " (SELECT flow_hash FROM oauth_flows WHERE state_hash = $1"
                " ORDER BY created_at DESC, flow_hash DESC LIMIT $2)",
                (state_hash, MAX_FLOWS_PER_STATE - 1),
            )
            await tx.execute(
                "INSERT INTO oauth_flows (flow_hash, state_hash, oauth_state, code_verifier, nonce, created_at,"
                " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                (digest(flow_secret), state_hash, oauth_state, code_verifier, nonce, stamp, stamp + ttl),
            )

    async def take_oauth_flow(self, flow_secret: str, oauth_state: str) -> OAuthFlow | None:
        """Remove and return the flow matching both the browser cookie and the OAuth state (once)."""
        row = await self._store.fetch_one(
            "DELETE FROM oauth_flows WHERE flow_hash = $1 AND oauth_state = $2 AND expires_at > $3"
            " RETURNING flow_hash, state_hash, oauth_state, code_verifier, nonce, expires_at",
            (digest(flow_secret), oauth_state, time.time()),
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
        stamp = time.time()
        await self._store.execute(
            "INSERT INTO pending_links (csrf_hash, flow_hash, discord_user_id, google_sub, google_email,"
            " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (digest(csrf_token), digest(flow_secret), discord_user_id, google_sub, google_email, stamp, stamp + ttl),
        )

    async def take_pending_link(self, csrf_token: str, flow_secret: str) -> PendingLink | None:
        """Remove and return the pending link for this CSRF token and browser (once)."""
        row = await self._store.fetch_one(
            "DELETE FROM pending_links WHERE csrf_hash = $1 AND flow_hash = $2 AND expires_at > $3"
            " RETURNING discord_user_id, google_sub, google_email, flow_hash",
            (digest(csrf_token), digest(flow_secret), time.time()),
        )
        if row is None:
            return None
        return PendingLink(
            discord_user_id=row["discord_user_id"],
            google_sub=row["google_sub"],
            google_email=row["google_email"],
            flow_hash=row["flow_hash"],
        )

    async def purge_expired(self) -> int:
        """Delete expired login states, flows and pending links; returns rows removed."""
        stamp = time.time()
        return await self._store.execute_many(
            (f"DELETE FROM {table} WHERE expires_at <= $1", (stamp,))
            for table in ("oauth_flows", "pending_links", "login_states")
        )
