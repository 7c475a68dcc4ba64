"""SQLite storage. `Store` is the one object the rest of the bot talks to; it knows SQL, not Discord."""

from __future__ import annotations

from pathlib import Path

from ora.store.base import Database, StoreError, WriteFailure, digest
from ora.store.chat import ChatQueries
from ora.store.datasets import DatasetQueries
from ora.store.login import LoginQueries
from ora.store.models import (
    ChatTurn,
    DatasetRecord,
    LinkConflictError,
    NewDataset,
    OAuthFlow,
    PendingLink,
    UserRecord,
)
from ora.store.users import UserQueries

__all__ = [
    "ChatTurn",
    "DatasetRecord",
    "LinkConflictError",
    "NewDataset",
    "OAuthFlow",
    "PendingLink",
    "Store",
    "StoreError",
    "UserRecord",
    "WriteFailure",
    "digest",
]


class Store(UserQueries, LoginQueries, DatasetQueries, ChatQueries):
    """Queries grouped by table family (one module each) over one `Database` connection."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path)

    @property
    def path(self) -> Path:
        return self._database.path

    @classmethod
    async def open(cls, path: Path) -> Store:
        store = cls(path)
        await store._database.open()
        return store

    async def close(self) -> None:
        await self._database.close()

    async def ping(self) -> bool:
        return await self._database.ping()

    async def schema_version(self) -> int:
        return await self._database.schema_version()

    def recent_write_failure(self) -> WriteFailure | None:
        """The last refused write (disk full, read-only, I/O error) if it is recent and none succeeded since."""
        return self._database.recent_write_failure()
