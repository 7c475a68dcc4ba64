"""What /dataset answers, in the user's language (pure: a translator function in, text out).

Shared by the commands and by the upload job, which finishes a reply after the command is long over.
"""

from __future__ import annotations

import re
from typing import Protocol

from ora.core.store.jobs import Job
from ora.features.datasets.errors import DatasetError
from ora.features.datasets.queries import DatasetEntry, DatasetRecord

LIST_NAME_CHARS = 60
_MARKDOWN = re.compile(r"([\\*_~`|>#<@\[\]()])")
_UNITS = ("KiB", "MiB", "GiB", "TiB")


class Text(Protocol):
    """The translated string `key` formatted with `values`, in the reader's language."""

    def __call__(self, key: str, /, **values: object) -> str: ...


def human_size(size: int) -> str:
    """`512 B`, `1.5 KiB`, `25.0 MiB` (binary units, as file managers show them)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def escape_markdown(text: str) -> str:
    """Show `text` literally in a Discord message (names are user input)."""
    return _MARKDOWN.sub(r"\\\1", text)


def discord_time(timestamp: float) -> str:
    """A timestamp every reader sees in their own time zone and language."""
    return f"<t:{int(timestamp)}:f>"


def error_text(text: Text, error: DatasetError, error_id: str) -> str:
    values: dict[str, object] = {"error_id": error_id, "size_note": "", "status_note": "", "limit": "?", "used": "?"}
    if error.limit is not None:
        values["limit"] = human_size(error.limit)
    if error.used is not None:
        values["used"] = human_size(error.used)
    if error.size is not None:
        values["size_note"] = text("datasets.error.too_large.size_note", size=human_size(error.size))
    if error.status is not None:
        values["status_note"] = text("datasets.error.download_failed.status_note", status=error.status)
    return text(f"datasets.error.{error.code}", **values)


def summary(text: Text, record: DatasetRecord, *, duplicate: bool) -> str:
    name = escape_markdown(record.name)
    size = human_size(record.size_bytes)
    if duplicate:
        return text("datasets.add.duplicate", name=name, size=size, date=discord_time(record.created_at))
    return text("datasets.add.stored", name=name, size=size, sha=record.sha256[:12])


def upload_status(text: Text, record: DatasetRecord, upload: Job | None, *, ora_enabled: bool) -> str:
    """Where the file is on its way to ORA, for the /dataset add reply."""
    state = upload.state if upload is not None else None
    if state == "done":
        if record.remote_id:
            # Shown in a code span, where backslash escapes would show literally: only backticks must go.
            return text("datasets.status.uploaded", remote_id=record.remote_id.replace("`", "'"))
        return text("datasets.status.uploaded_no_id")
    if not ora_enabled:
        return text("datasets.status.local_only")
    if state == "failed":
        return text("datasets.status.failed", reason=escape_markdown((upload and upload.last_error) or "?"))
    return text("datasets.add.upload_later")


def list_status(text: Text, entry: DatasetEntry, *, ora_enabled: bool, attempts: int) -> str:
    upload = entry.upload
    state = upload.state if upload is not None else None
    if state == "done":
        return text("datasets.list.status.uploaded")
    if upload is not None and state == "failed":
        return text("datasets.list.status.failed", reason=escape_markdown((upload.last_error or "?")[:80]))
    if not ora_enabled:
        return text("datasets.list.status.local_only")
    if upload is not None and state == "pending" and upload.last_error and upload.attempts > 0:
        return text(
            "datasets.list.status.retrying",
            attempt=upload.attempts,
            attempts=attempts,
            reason=escape_markdown(upload.last_error[:80]),
        )
    if state == "running":
        return text("datasets.list.status.uploading")
    return text("datasets.list.status.waiting")


def list_line(text: Text, entry: DatasetEntry, *, ora_enabled: bool, attempts: int) -> str:
    record = entry.record
    name = record.name if len(record.name) <= LIST_NAME_CHARS else record.name[: LIST_NAME_CHARS - 1] + "…"
    return text(
        "datasets.list.line",
        name=escape_markdown(name),
        size=human_size(record.size_bytes),
        date=discord_time(record.created_at),
        status=list_status(text, entry, ora_enabled=ora_enabled, attempts=attempts),
    )
