"""Rows as immutable values. Nothing here knows about Discord or HTTP."""

from __future__ import annotations

import attrs

from ora.config import PrivacyMode


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


@attrs.frozen
class DatasetRecord:
    id: int
    owner_id: int
    guild_id: int | None
    name: str
    original_filename: str
    size_bytes: int
    sha256: str
    content_type: str | None
    stored_path: str
    remote_status: str
    remote_id: str | None
    created_at: float


@attrs.frozen
class NewDataset:
    owner_id: int
    guild_id: int | None
    name: str
    original_filename: str
    size_bytes: int
    sha256: str
    content_type: str | None
    stored_path: str


@attrs.frozen
class ChatTurn:
    prompt: str
    answer: str


class LinkConflictError(Exception):
    """The Google account is already linked to another Discord user."""

    def __init__(self, other_discord_user_id: int) -> None:
        super().__init__("this Google account is linked to another Discord user")
        self.other_discord_user_id = other_discord_user_id
