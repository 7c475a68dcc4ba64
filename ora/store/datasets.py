"""Datasets: metadata of stored files and their upload status at ORA."""

from __future__ import annotations

from typing import Any

import aiosqlite

from ora.store.base import Database, now
from ora.store.models import DatasetRecord, NewDataset

_COLUMNS = (
    "id, owner_id, guild_id, name, original_filename, size_bytes, sha256, content_type, stored_path,"
    " remote_status, remote_id, created_at"
)


def _record(row: Any) -> DatasetRecord:
    return DatasetRecord(**{key: row[key] for key in row.keys()})  # noqa: SIM118 - sqlite3.Row is not a dict


class DatasetQueries:
    _database: Database

    async def find_dataset_by_hash(self, owner_id: int, sha256: str) -> DatasetRecord | None:
        row = await self._database.fetch_one(
            f"SELECT {_COLUMNS} FROM datasets WHERE owner_id = ? AND sha256 = ?", (owner_id, sha256)
        )
        return _record(row) if row else None

    async def add_dataset(self, new: NewDataset) -> DatasetRecord | None:
        """Insert the row; None when this owner already has the same content (same SHA-256)."""
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

    async def set_dataset_remote_status(self, dataset_id: int, status: str, remote_id: str | None) -> None:
        await self._database.execute(
            "UPDATE datasets SET remote_status = ?, remote_id = ? WHERE id = ?", (status, remote_id, dataset_id)
        )

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
