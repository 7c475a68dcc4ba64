"""Why adding a dataset failed, as a stable code the commands translate."""

from __future__ import annotations

from typing import Literal, get_args

ErrorCode = Literal[
    "too_large",
    "download_failed",
    "download_interrupted",
    "download_timeout",
    "size_mismatch",
    "empty",
    "storage_failed",
    "shutting_down",
    "url_refused",
    "busy",
    "quota_exceeded",
    "server_busy",
]
#: Every `DatasetError.code`; each has a translated message `datasets.error.<code>`.
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


class DatasetError(Exception):
    """Adding a dataset failed in a way the user should hear about; nothing was stored.

    `code` is one of `ERROR_CODES`; `limit`/`size`/`used` (bytes) and `status` (HTTP) fill in the message
    (`limit` is the quota for ``quota_exceeded``).
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        limit: int | None = None,
        size: int | None = None,
        status: int | None = None,
        used: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: ErrorCode = code
        self.detail = detail
        self.limit = limit
        self.size = size
        self.status = status
        self.used = used
