"""The SQLite connection: opening, WAL, foreign keys, versioned migrations, closing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database cannot be used (unreadable file, newer schema, failed migration)."""


def digest(secret: str) -> str:
    """SHA-256 hex digest: how one-time secrets handed to users are stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def now() -> float:
    return time.time()


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped in `ora/store/migrations`, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("ora.store.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    if [version for version, _, _ in found] != list(range(1, len(found) + 1)):
        raise StoreError("migration files must be numbered 0001, 0002, ... without gaps")
    return found


class Database:
    """One aiosqlite connection shared by the whole process (SQLite serialises writers anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._transaction_lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise StoreError("the database is not open")
        return self._connection

    @property
    def is_open(self) -> bool:
        return self._connection is not None

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(self.path, isolation_level=None)
        except (OSError, aiosqlite.Error) as error:
            raise StoreError(f"cannot open the database {self.path}: {error}") from error
        self._connection = connection
        try:
            connection.row_factory = aiosqlite.Row
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute("PRAGMA busy_timeout = 5000")
            await connection.execute("PRAGMA synchronous = NORMAL")
            await self._migrate()
        except aiosqlite.DatabaseError as error:
            await self.close()
            raise StoreError(f"{self.path} is not a usable SQLite database: {error}") from error
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def schema_version(self) -> int:
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        available = migrations()
        latest = available[-1][0] if available else 0
        current = await self.schema_version()
        if current > latest:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this ORA bot knows ({latest}). "
                "Upgrade the bot, or point ORA_BOT_DB at another file."
            )
        for version, name, sql in available:
            if version <= current:
                continue
            log.info("applying database migration %s", name)
            try:
                # executescript commits first; BEGIN inside the script makes the migration atomic.
                await self.db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
            except aiosqlite.Error as error:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed: {error}") from error

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; one at a time on the connection."""
        async with self._transaction_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def ping(self) -> bool:
        try:
            async with self.db.execute("SELECT 1") as cursor:
                return await cursor.fetchone() is not None
        except (aiosqlite.Error, StoreError, ValueError):
            return False
