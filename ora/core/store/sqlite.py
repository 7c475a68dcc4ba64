"""The SQLite connection: opening, WAL, foreign keys, versioned migrations, serialised statements, closing.

Every statement goes through `Database`: there is no way to reach the raw connection. One asyncio lock orders
all statements of the process, and a transaction holds that lock from BEGIN to COMMIT/ROLLBACK, so another
coroutine's statement can never run inside someone else's transaction (and be rolled back with it). Inside a
transaction, statements go through the `Transaction` handle; using the `Database` itself from the task that
holds the transaction is a programming error that raises instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite
import attrs

from ora.cancellation import run_to_end

log = logging.getLogger(__name__)

Params = Sequence[Any]
Row = sqlite3.Row
WRITE_FAILURE_WINDOW = 60.0
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN", "COMMIT")


async def _run_to_end(step: Awaitable[Any]) -> None:
    """Finish `step` even if the caller is cancelled meanwhile (then re-raise the cancellation).

    The statement lock must not be released while a COMMIT or ROLLBACK is still queued on the connection.
    """
    _, cancelled = await run_to_end(step)
    if cancelled:
        raise asyncio.CancelledError


class StoreError(Exception):
    """The database cannot be used (unreadable file, newer schema, failed migration, not open)."""


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


def _is_write(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in _WRITE_VERBS if sql.strip() else False


@attrs.frozen
class WriteFailure:
    """The last write the database refused (disk full, read-only file, I/O error), for /healthz."""

    at: float
    reason: str


class _Statements:
    """execute / fetch_one / fetch_all on a connection; the caller holds the statement lock."""

    def __init__(self, database: Database) -> None:
        self._owner = database

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._owner.guarded(sql):
            cursor = await self._owner.connection.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
        return max(count, 0)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._owner.guarded(sql), self._owner.connection.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._owner.guarded(sql), self._owner.connection.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return list(rows)


class Transaction(_Statements):
    """Statements inside `Database.transaction()`; valid only until the block ends."""


class Database:
    """One aiosqlite connection shared by the whole process; statements and transactions strictly one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._transaction_task: asyncio.Task[Any] | None = None
        self.last_write_failure: WriteFailure | None = None
        self._direct = _Statements(self)

    @property
    def connection(self) -> aiosqlite.Connection:
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
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                await connection.close()

    # -- statements outside a transaction (each one is its own implicit transaction: autocommit) --

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._statement():
            return await self._direct.execute(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._statement():
            return await self._direct.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._statement():
            return await self._direct.fetch_all(sql, params)

    async def execute_many(self, statements: Iterable[tuple[str, Params]]) -> int:
        """Several statements in one transaction; returns the rows changed in all."""
        changed = 0
        async with self.transaction() as tx:
            for sql, params in statements:
                changed += await tx.execute(sql, params)
        return changed

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; no other statement runs meanwhile."""
        async with self._statement():
            self._transaction_task = asyncio.current_task()
            handle = Transaction(self)
            try:
                await handle.execute("BEGIN IMMEDIATE")
                try:
                    yield handle
                except BaseException:
                    await _run_to_end(self._rollback())
                    raise
                await _run_to_end(handle.execute("COMMIT"))
            finally:
                self._transaction_task = None
                # COMMIT itself failed (disk full): leave no transaction open behind us.
                await _run_to_end(self._rollback())

    async def _rollback(self) -> None:
        if self._connection is not None and self._connection.in_transaction:
            await self._connection.execute("ROLLBACK")

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[None]:
        if self._transaction_task is not None and self._transaction_task is asyncio.current_task():
            raise StoreError("a statement was issued on the Database inside its own transaction; use the handle")
        async with self._lock:
            yield

    @asynccontextmanager
    async def guarded(self, sql: str) -> AsyncIterator[None]:
        """Records write failures (for /healthz) and clears them after the next successful write."""
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
            if _is_write(sql) and not isinstance(error, sqlite3.IntegrityError):
                self.last_write_failure = WriteFailure(at=time.time(), reason=str(error))
                log.error("a database write failed: %s", error)  # noqa: TRY400 - the caller gets the traceback
            raise
        else:
            if _is_write(sql) and self.last_write_failure is not None and sql.split(None, 1)[0].upper() != "BEGIN":
                log.info("database writes succeed again")
                self.last_write_failure = None

    def recent_write_failure(self, window: float = WRITE_FAILURE_WINDOW) -> WriteFailure | None:
        failure = self.last_write_failure
        if failure is not None and time.time() - failure.at <= window:
            return failure
        return None

    async def schema_version(self) -> int:
        row = await self.fetch_one("PRAGMA user_version")
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
                async with self._lock:
                    await self.connection.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
            except aiosqlite.Error as error:
                if self.connection.in_transaction:
                    await self.connection.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed: {error}") from error

    async def ping(self) -> bool:
        try:
            return await self.fetch_one("SELECT 1") is not None
        except (aiosqlite.Error, StoreError, ValueError):
            return False
