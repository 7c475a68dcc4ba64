"""Datasets: metadata of stored files and the state of their upload to ORA."""

from __future__ import annotations

from typing import Any

import aiosqlite

from ora.store.base import Database, now
from ora.store.models import DatasetRecord, NewDataset

_COLUMNS = (
    "id, owner_id, guild_id, name, original_filename, size_bytes, sha256, content_type, stored_path,"
    " upload_state, upload_attempts, upload_error, upload_next_at, remote_id, created_at"
)
#: Bound on a stored error text (ORA's messages are already cut at 300 characters).
MAX_UPLOAD_ERROR_CHARS = 300


def _record(row: Any) -> DatasetRecord:
    return DatasetRecord(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - sqlite3.Row is not a dict


def _error_text(error: str) -> str:
    return " ".join(error.split())[:MAX_UPLOAD_ERROR_CHARS] or "unknown error"


class DatasetQueries:
    _database: Database

    async def find_dataset_by_hash(self, owner_id: int, sha256: str) -> DatasetRecord | None:
        row = await self._database.fetch_one(
            f"SELECT {_COLUMNS} FROM datasets WHERE owner_id = ? AND sha256 = ?", (owner_id, sha256)
        )
        return _record(row) if row else None

    async def get_dataset(self, dataset_id: int) -> DatasetRecord | None:
        row = await self._database.fetch_one(f"SELECT {_COLUMNS} FROM datasets WHERE id = ?", (dataset_id,))
        return _record(row) if row else None

    async def add_dataset(self, new: NewDataset) -> DatasetRecord | None:
        """Insert the row (upload `pending`); None when this owner already has the same content (same SHA-256)."""
        try:
            row = await self._database.fetch_one(
                "INSERT INTO datasets (owner_id, guild_id, name, original_filename, size_bytes, sha256,"
                " content_type, stored_path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                f" RETURNING {_COLUMNS}",
                (
                    new.owner_id,
                    new.guild_id,
                    new.name,
                    new.original_filename,
                    new.size_bytes,
                    new.sha256,
                    new.content_type,
                    new.stored_path,
                    now(),
                ),
            )
        except aiosqlite.IntegrityError:
            return None
        return _record(row) if row else None

    async def dataset_bytes(self, owner_id: int) -> int:
        """The bytes of every dataset this owner has stored (what counts against the quota)."""
        row = await self._database.fetch_one(
            "SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE owner_id = ?", (owner_id,)
        )
        return int(row[0]) if row else 0

    async def list_datasets(self, owner_id: int, guild_id: int | None, limit: int = 10) -> list[DatasetRecord]:
        """The owner's newest datasets: in this guild when `guild_id` is given, else everywhere."""
        if guild_id is None:
            query = f"SELECT {_COLUMNS} FROM datasets WHERE owner_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
            params: tuple[Any, ...] = (owner_id, limit)
        else:
            query = (
                f"SELECT {_COLUMNS} FROM datasets WHERE owner_id = ? AND guild_id = ?"
                " ORDER BY created_at DESC, id DESC LIMIT ?"
            )
            params = (owner_id, guild_id, limit)
        rows = await self._database.fetch_all(query, params)
        return [_record(row) for row in rows]

    # -- the upload to ORA: pending → uploading → uploaded | pending (retry) | failed --

    async def unfinished_dataset_uploads(self) -> list[DatasetRecord]:
        """Rows not yet at ORA that may still get there (`pending`, or `uploading` when a crash cut it off)."""
        rows = await self._database.fetch_all(
            f"SELECT {_COLUMNS} FROM datasets WHERE upload_state IN ('pending', 'uploading') ORDER BY id"
        )
        return [_record(row) for row in rows]

    async def begin_dataset_upload_attempt(self, dataset_id: int) -> int | None:
        """Mark an attempt as running before it starts; returns its number (None: nothing left to upload)."""
        row = await self._database.fetch_one(
            "UPDATE datasets SET upload_state = 'uploading', upload_attempts = upload_attempts + 1,"
            " upload_next_at = NULL WHERE id = ? AND upload_state IN ('pending', 'uploading')"
            " RETURNING upload_attempts",
            (dataset_id,),
        )
        return int(row[0]) if row else None

    async def record_dataset_uploaded(self, dataset_id: int, remote_id: str | None) -> None:
        await self._database.execute(
            "UPDATE datasets SET upload_state = 'uploaded', remote_id = ?, upload_error = NULL,"
            " upload_next_at = NULL WHERE id = ?",
            (remote_id, dataset_id),
        )

    async def schedule_dataset_upload_retry(self, dataset_id: int, error: str, next_at: float) -> None:
        await self._database.execute(
            "UPDATE datasets SET upload_state = 'pending', upload_error = ?, upload_next_at = ? WHERE id = ?",
            (_error_text(error), next_at, dataset_id),
        )

    async def record_dataset_upload_failed(self, dataset_id: int, error: str) -> None:
        await self._database.execute(
            "UPDATE datasets SET upload_state = 'failed', upload_error = ?, upload_next_at = NULL WHERE id = ?",
            (_error_text(error), dataset_id),
        )

    async def interrupt_dataset_upload(self, dataset_id: int, error: str) -> bool:
        """The bot is stopping mid-attempt: give the attempt back and make it due at the next start.

        Only a running attempt is touched, so an outcome written just before (uploaded, failed, a scheduled
        retry) stays. True when a running attempt was interrupted.
        """
        changed = await self._database.execute(
            "UPDATE datasets SET upload_state = 'pending', upload_attempts = MAX(upload_attempts - 1, 0),"
            " upload_error = ?, upload_next_at = ? WHERE id = ? AND upload_state = 'uploading'",
            (_error_text(error), now(), dataset_id),
        )
        return changed > 0

    async def restart_dataset_upload(self, dataset_id: int) -> bool:
        """A failed upload gets a fresh set of attempts (the user added the file again). True when it was failed."""
        changed = await self._database.execute(
            "UPDATE datasets SET upload_state = 'pending', upload_attempts = 0, upload_error = NULL,"
            " upload_next_at = NULL WHERE id = ? AND upload_state = 'failed'",
            (dataset_id,),
        )
        return changed > 0
