"""Datasets: metadata of stored files, and their upload to ORA as jobs of the core's `jobs` table."""

from __future__ import annotations

import time
from typing import Any

import attrs

from ora.core.store import IntegrityError, Row, Statements, Store
from ora.core.store.jobs import Job, JobRows, job_from_row

#: The kind of the job that sends a dataset to ORA; its subject is the dataset id.
UPLOAD_JOB = "datasets.upload"

_COLUMNS = (
    "id, owner_id, guild_id, name, original_filename, size_bytes, sha256, content_type, stored_path, remote_id,"
    " created_at"
)
_JOB_COLUMNS = (
    "j.id, j.kind, j.subject, j.user_id, j.payload, j.state, j.attempts, j.next_at, j.last_error, j.lease_owner,"
    " j.interaction_id"
)


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
class DatasetEntry:
    """A dataset and its upload job (None for a row that never had one)."""

    record: DatasetRecord
    upload: Job | None


def _record(row: Row) -> DatasetRecord:
    return DatasetRecord(**{key: row[key] for key in _COLUMNS.replace(" ", "").split(",")})


def upload_subject(dataset_id: int) -> str:
    return str(dataset_id)


class DatasetQueries:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def find_by_hash(self, owner_id: int, sha256: str) -> DatasetRecord | None:
        row = await self._store.fetch_one(
            f"SELECT {_COLUMNS} FROM datasets WHERE owner_id = $1 AND sha256 = $2", (owner_id, sha256)
        )
        return _record(row) if row else None

    async def get(self, dataset_id: int) -> DatasetRecord | None:
        row = await self._store.fetch_one(f"SELECT {_COLUMNS} FROM datasets WHERE id = $1", (dataset_id,))
        return _record(row) if row else None

    async def add(self, new: NewDataset) -> tuple[DatasetRecord, Job] | None:
        """Insert the row and its upload job (pending) together; None when this owner already has the same
        content (same SHA-256)."""
        try:
            async with self._store.transaction() as tx:
                row = await tx.fetch_one(
                    "INSERT INTO datasets (owner_id, guild_id, name, original_filename, size_bytes, sha256,"
                    " content_type, stored_path, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
                        time.time(),
                    ),
                )
                if row is None:
                    raise LookupError("INSERT … RETURNING gave no row")
                record = _record(row)
                job = await JobRows(self._store).enqueue(
                    UPLOAD_JOB, upload_subject(record.id), user_id=record.owner_id, on=tx
                )
        except IntegrityError:
            return None
        return record, job

    async def stored_bytes(self, owner_id: int, on: Statements | None = None) -> int:
        """The bytes of every dataset this owner has stored (what counts against the quota)."""
        row = await (on or self._store).fetch_one(
            "SELECT COALESCE(SUM(size_bytes), 0) AS used FROM datasets WHERE owner_id = $1", (owner_id,)
        )
        return int(row["used"]) if row else 0

    async def set_remote_id(self, dataset_id: int, remote_id: str | None) -> None:
        await self._store.execute("UPDATE datasets SET remote_id = $1 WHERE id = $2", (remote_id, dataset_id))

    async def list(self, owner_id: int, guild_id: int | None, limit: int = 10) -> list[DatasetEntry]:
        """The owner's newest datasets with their upload job: in this guild when `guild_id` is given."""
        where = "d.owner_id = $1" if guild_id is None else "d.owner_id = $1 AND d.guild_id = $4"
        params: tuple[Any, ...] = (owner_id, limit, UPLOAD_JOB) + (() if guild_id is None else (guild_id,))
        columns = ", ".join(f"d.{column.strip()}" for column in _COLUMNS.split(","))
        rows = await self._store.fetch_all(
            f"SELECT {columns}, {_JOB_COLUMNS} FROM datasets d"
            " LEFT JOIN jobs j ON j.kind = $3 AND j.subject = CAST(d.id AS TEXT)"
            f" WHERE {where} ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
            params,
        )
        return [_entry(row) for row in rows]


def _entry(row: Row) -> DatasetEntry:
    values = list(row[index] for index in range(len(_COLUMNS.split(",")) + len(_JOB_COLUMNS.split(","))))
    names = [column.strip() for column in _COLUMNS.split(",")]
    record = DatasetRecord(**dict(zip(names, values[: len(names)], strict=True)))
    job_names = [column.strip().removeprefix("j.") for column in _JOB_COLUMNS.split(",")]
    job_values = dict(zip(job_names, values[len(names) :], strict=True))
    upload = job_from_row(job_values) if job_values["id"] is not None else None  # type: ignore[arg-type]
    return DatasetEntry(record=record, upload=upload)
