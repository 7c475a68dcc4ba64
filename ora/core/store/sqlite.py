"""The SQLite backend: one aiosqlite connection per process, WAL, foreign keys, statements one at a time.

One asyncio lock orders all statements of the process, and a transaction holds it from `BEGIN IMMEDIATE` to
`COMMIT`/`ROLLBACK`, so another coroutine's statement can never run inside someone else's transaction (and be
rolled back with it). `BEGIN IMMEDIATE` takes SQLite's write lock at once, so transactions of other processes
on the same file wait for it (up to the busy timeout) instead of failing halfway. A write the database refuses
(disk full, read-only file, I/O error) is reported by `health()` until a write succeeds again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import aiosqlite

from ora.core.cancellation import finish_then_cancel
from ora.core.store import migrations
from ora.core.store.database import Database, Params, Row
from ora.core.store.errors import IntegrityError, SchemaTooNew, StoreError

log = logging.getLogger(__name__)

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "COMMIT")
_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=512)
def sqlite_sql(sql: str) -> str:
    """`$1` → `?1`: the store's SQL uses PostgreSQL's placeholders, which SQLite knows as `?NNN`."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def _is_write(sql: str) -> bool:
    words = sql.split(None, 1)
    return bool(words) and words[0].upper() in _WRITE_VERBS


# A COMMIT or ROLLBACK is finished even when the caller is cancelled meanwhile (the cancellation is raised after):
# the statement lock must not be released while one is still queued on the connection.
_run_to_end = finish_then_cancel


class _Handle:
    """Statements on the connection; the caller holds the statement lock."""

    dialect: Final = "sqlite"

    def __init__(self, database: SQLiteDatabase) -> None:
        self._db = database

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._db.guarded(sql):
            cursor = await self._db.connection.execute(sqlite_sql(sql), params)
            count = cursor.rowcount
            await cursor.close()
        return max(count, 0)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._db.guarded(sql), self._db.connection.execute(sqlite_sql(sql), params) as cursor:
            row: Row | None = await cursor.fetchone()
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._db.guarded(sql), self._db.connection.execute(sqlite_sql(sql), params) as cursor:
            rows = await cursor.fetchall()
        return list(rows)

    async def lock(self, key: str) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` already runs every write transaction alone."""


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        super().__init__()
        self.path = path
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._direct = _Handle(self)

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    @property
    def connection(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise StoreError("the database is not open")
        return self._connection

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the database {self.path}: {error}") from error
        self._connection = connection
        try:
            connection.row_factory = aiosqlite.Row
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            await connection.execute("PRAGMA synchronous = NORMAL")
            await connection.execute("SELECT count(*) FROM sqlite_master")  # an unreadable file fails here
        except sqlite3.DatabaseError as error:
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

    async def _execute(self, sql: str, params: Params) -> int:
        async with self._lock:
            return await self._direct.execute(sql, params)

    async def _fetch_one(self, sql: str, params: Params) -> Row | None:
        async with self._lock:
            return await self._direct.fetch_one(sql, params)

    async def _fetch_all(self, sql: str, params: Params) -> list[Row]:
        async with self._lock:
            return await self._direct.fetch_all(sql, params)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Handle]:
        async with self._lock:
            handle = _Handle(self)
            try:
                await handle.execute("BEGIN IMMEDIATE")
                try:
                    yield handle
                except BaseException:
                    await _run_to_end(self._rollback())
                    raise
                await _run_to_end(handle.execute("COMMIT"))
            finally:
                # COMMIT itself failed (disk full): leave no transaction open behind us.
                await _run_to_end(self._rollback())

    async def _rollback(self) -> None:
        if self._connection is not None and self._connection.in_transaction:
            await self._connection.execute("ROLLBACK")

    @asynccontextmanager
    async def guarded(self, sql: str) -> AsyncIterator[None]:
        """Maps sqlite3's errors to the store's; records refused writes (for health) until one succeeds."""
        try:
            yield
        except sqlite3.IntegrityError as error:
            raise IntegrityError(str(error)) from error
        except sqlite3.Error as error:
            if _is_write(sql):
                self._record_failure("write", str(error))
            raise StoreError(f"database error: {error}") from error
        except ValueError as error:  # aiosqlite on a closed connection
            raise StoreError(f"database error: {error}") from error
        else:
            if _is_write(sql):
                self._record_success()

    # -- migrations --

    async def schema_versions(self) -> dict[str, int]:
        async with self._lock:
            return await self._read_versions()

    async def _read_versions(self) -> dict[str, int]:
        tables = await self._direct.fetch_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ora_schema'"
        )
        if tables is None:
            return {}
        rows = await self._direct.fetch_all("SELECT component, version FROM ora_schema")
        return {str(row["component"]): int(row["version"]) for row in rows}

    async def migrate(self, schemas: Sequence[migrations.Schema]) -> None:
        async with self._lock:
            row = await self._direct.fetch_one("PRAGMA user_version")
            layout = int(row[0]) if row else 0
            if layout > migrations.SQLITE_LAYOUT_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema version {layout}, newer than this ORA bot knows "
                    f"({migrations.SQLITE_LAYOUT_VERSION}). Upgrade the bot, or point ORA_BOT_DB at another file."
                )
            if layout < migrations.SQLITE_LAYOUT_VERSION:
                await self._adopt_layout(layout)
            steps = migrations.plan(schemas, "sqlite", await self._read_versions())
            for step in steps:
                log.info("applying database migration %s %s", step.component, step.name)
                await self._script(step.sql + "\n" + _record_version(step.component, step.version), step.name)

    async def _adopt_layout(self, legacy_version: int) -> None:
        """An empty file, or one made before components: bring it to the per-component layout."""
        baselines: dict[str, int] = {}
        if legacy_version > 0:
            for version, name, sql in migrations.legacy_migrations():
                if version > legacy_version:
                    log.info("applying database migration %s", name)
                    await self._script(f"{sql}\nPRAGMA user_version = {version};", name)
            baselines = dict(migrations.LEGACY_BASELINES)
            log.info("recording the tables of this database per component: %s", baselines)
        recorded = "\n".join(_record_version(component, version) for component, version in baselines.items())
        await self._script(
            f"{migrations.SCHEMA_TABLE_SQL};\n{recorded}\n"
            f"{_record_version(migrations.LAYOUT_COMPONENT, migrations.LAYOUT_VERSION)}\n"
            f"PRAGMA user_version = {migrations.SQLITE_LAYOUT_VERSION};",
            "the per-component layout",
        )

    async def _script(self, sql: str, name: str) -> None:
        """One migration step, atomically (executescript commits first; the BEGIN makes the rest one unit)."""
        try:
            await self.connection.executescript(f"BEGIN IMMEDIATE;\n{sql}\nCOMMIT;")
        except sqlite3.Error as error:
            if self.connection.in_transaction:
                await self.connection.execute("ROLLBACK")
            raise StoreError(f"migration {name} failed: {error}") from error


def _record_version(component: str, version: int) -> str:
    # Component names are checked identifiers and versions integers: nothing here comes from outside.
    return (
        "INSERT INTO ora_schema (component, version, updated_at)"
        f" VALUES ('{component}', {int(version)}, {time.time()})"
        " ON CONFLICT (component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at;"
    )
