"""Rows as immutable values. Nothing here knows about Discord or HTTP."""

from __future__ import annotations

from typing import Literal, get_args

import attrs

from ora.config import PrivacyMode

#: Where a dataset is on its way to ORA: not sent yet (or waiting for a retry), an attempt running (or cut off by
#: a crash), accepted by ORA, or given up on (attempts used up, or an answer that retrying cannot change).
UploadState = Literal["pending", "uploading", "uploaded", "failed"]
UPLOAD_STATES: tuple[UploadState, ...] = get_args(UploadState)


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
    upload_state: UploadState
    #: attempts made (an attempt the bot's own shutdown cut off is given back; one a crash cut off is not)
    upload_attempts: int
    upload_error: str | None
    #: when the next attempt is due (a retry after back-off, or a resume after a shutdown); None: not scheduled
    upload_next_at: float | None
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
