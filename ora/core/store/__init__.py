"""The store: the bot's one database, SQLite or PostgreSQL behind one API.

`Store.open(url, schemas)` opens the backend `DATABASE_URL` names (PostgreSQL's driver is imported only then),
applies each schema component's migrations, and hands out statements and transactions. SQL lives only in the
store's drivers and in `queries.py` modules (the core's and each feature's), which take a `Store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs

from ora.core.store.database import Database, Dialect, Health, Params, Row, Statements, Transaction
from ora.core.store.errors import DatabaseUnavailable, IntegrityError, SchemaTooNew, StoreError
from ora.core.store.migrations import CORE_SCHEMA, Schema, unique
from ora.core.store.url import DatabaseUrl

__all__ = [
    "CORE_SCHEMA",
    "DatabaseUnavailable",
    "DatabaseUrl",
    "Dialect",
    "Health",
    "IntegrityError",
    "Params",
    "Row",
    "Schema",
    "SchemaTooNew",
    "Statements",
    "Store",
    "StoreError",
    "StoreOptions",
    "Transaction",
    "digest",
]


def digest(secret: str) -> str:
    """SHA-256 hex digest: how one-time secrets handed to users are stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


@attrs.frozen
class StoreOptions:
    """Timeouts and pool size (`DATABASE_*` settings). The pool size is PostgreSQL's only."""

    pool_size: int = 10
    connect_timeout: float = 5.0
    statement_timeout: float = 15.0
    start_wait: float = 30.0


class Store:
    """Statements and transactions on the open database (see `ora.core.store.database` for the rules)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    async def open(
        cls, url: DatabaseUrl | Path, schemas: Sequence[Schema] = (), options: StoreOptions | None = None
    ) -> Store:
        """Open the database and migrate the core's and `schemas`' tables. Raises `StoreError`."""
        options = options or StoreOptions()
        if isinstance(url, Path):
            url = DatabaseUrl.sqlite(url)
        database: Database
        if url.path is not None:
            from ora.core.store.sqlite import SQLiteDatabase  # noqa: PLC0415 - only the backend in use is imported

            database = SQLiteDatabase(url.path, busy_timeout=options.statement_timeout)
        else:
            from ora.core.store.postgres import PostgresDatabase  # noqa: PLC0415

            database = PostgresDatabase(
                url,
                pool_size=options.pool_size,
                connect_timeout=options.connect_timeout,
                statement_timeout=options.statement_timeout,
                start_wait=options.start_wait,
            )
        await database.open()
        try:
            await database.migrate(unique(schemas))
        except BaseException:
            await database.close()
            raise
        return cls(database)

    @property
    def dialect(self) -> Dialect:
        return self.database.dialect

    @property
    def description(self) -> str:
        return self.database.description

    async def close(self) -> None:
        await self.database.close()

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self.database.execute(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self.database.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.database.fetch_all(sql, params)

    async def execute_many(self, statements: Iterable[tuple[str, Params]]) -> int:
        return await self.database.execute_many(statements)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.database.transaction() as tx:
            yield tx

    async def ping(self) -> bool:
        return await self.database.ping()

    def health(self) -> Health:
        return self.database.health()

    async def schema_versions(self) -> dict[str, int]:
        return await self.database.schema_versions()
