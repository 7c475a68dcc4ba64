"""The PostgreSQL backend: an asyncpg connection pool, imported only when DATABASE_URL names PostgreSQL.

Each transaction holds a pooled connection of its own, so no other coroutine's statement can enter it. The pool
size, the time to open a connection (or wait for a free one) and the time a statement may take are settings.

A lost server is not fatal. Opening a connection is retried with back-off for up to the connect timeout, and a
statement that only reads is run again on a fresh connection when its connection died under it; a write whose
connection died mid-statement is not repeated (it may have been applied) and raises `DatabaseUnavailable`.
Until a statement succeeds again, `health()` reports the failure (for /health and /healthz). At start-up the
server is waited for up to `start_wait` seconds, so replicas started with it do not give up at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ora.core.cancellation import finish_then_cancel
from ora.core.store import migrations
from ora.core.store.database import Database, Params, Row
from ora.core.store.errors import DatabaseUnavailable, IntegrityError, StoreError
from ora.core.store.url import DatabaseUrl

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

_T = TypeVar("_T")
#: pg_advisory_lock key held while migrating, so replicas starting together migrate one after another.
MIGRATION_LOCK = 0x0A0A_0000_0001
_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)


def _import_asyncpg() -> Any:
    try:
        import asyncpg  # noqa: PLC0415 - imported only when PostgreSQL is used
    except ImportError as error:
        raise StoreError(
            "DATABASE_URL names PostgreSQL but its driver is not installed: pip install 'ora-bot[postgres]'"
        ) from error
    return asyncpg


def _row_count(status: str) -> int:
    """asyncpg's command status (`UPDATE 3`, `INSERT 0 1`, `DELETE 0`) → rows changed."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _is_read(sql: str) -> bool:
    words = sql.split(None, 1)
    return bool(words) and words[0].upper() == "SELECT"


class _Errors:
    """asyncpg's exception classes, sorted by what they mean for us (asyncpg is imported lazily)."""

    def __init__(self, asyncpg: Any) -> None:
        self.integrity: type[BaseException] = asyncpg.IntegrityConstraintViolationError
        self.postgres: type[BaseException] = asyncpg.PostgresError
        # Opening a connection failed: nothing was sent, so anything may be tried again.
        self.connect: tuple[type[BaseException], ...] = (
            OSError,
            TimeoutError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.InvalidCatalogNameError,
        )
        # The connection died during a statement (a server restart, a network cut, an operator's termination).
        self.lost: tuple[type[BaseException], ...] = (
            OSError,
            TimeoutError,
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.InterfaceError,
            asyncpg.OperatorInterventionError,
        )


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


class _Handle:
    """Statements on one connection inside a transaction."""

    dialect: Final = "postgresql"

    def __init__(self, database: PostgresDatabase, connection: asyncpg.Connection) -> None:
        self._db = database
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        status = await self._db.mapped(self._connection.execute(sql, *params))
        return _row_count(status)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._db.mapped(self._connection.fetchrow(sql, *params))
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._db.mapped(self._connection.fetch(sql, *params))
        return rows

    async def lock(self, key: str) -> None:
        await self.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", (key,))


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(
        self,
        url: DatabaseUrl,
        *,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
        statement_timeout: float = 15.0,
        start_wait: float = 30.0,
    ) -> None:
        super().__init__()
        if url.dsn is None:
            raise ValueError("a PostgreSQL URL is needed")
        self.url = url
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.start_wait = start_wait
        self._asyncpg: Any = None
        self._errors: _Errors | None = None
        self._pool: asyncpg.Pool | None = None

    @property
    def description(self) -> str:
        return f"PostgreSQL {self.url.describe()}"

    @property
    def errors(self) -> _Errors:
        if self._errors is None:
            raise StoreError("the database is not open")
        return self._errors

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the database is not open")
        return self._pool

    async def open(self) -> None:
        self._asyncpg = _import_asyncpg()
        self._errors = _Errors(self._asyncpg)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_wait
        for attempt in range(1_000):
            try:
                self._pool = await self._asyncpg.create_pool(
                    self.url.dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.connect_timeout,
                    command_timeout=self.statement_timeout,
                    server_settings={"application_name": "ora-bot"},
                )
            except self.errors.connect as error:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise DatabaseUnavailable(
                        f"cannot connect to {self.description} within {self.start_wait:g} s: {_reason(error)}"
                    ) from error
                log.warning("waiting for %s: %s", self.description, _reason(error))
                await asyncio.sleep(min(_BACKOFF[min(attempt, len(_BACKOFF) - 1)] * 4, remaining))
            except self.errors.postgres as error:  # wrong password, no such role: waiting will not help
                raise StoreError(f"{self.description} refused the connection: {_reason(error)}") from error
            else:
                return
        raise DatabaseUnavailable(f"cannot connect to {self.description}")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except TimeoutError:
                pool.terminate()

    # -- statements --

    async def _execute(self, sql: str, params: Params) -> int:
        status: str = await self._run(sql, lambda connection: connection.execute(sql, *params))
        return _row_count(status)

    async def _fetch_one(self, sql: str, params: Params) -> Row | None:
        row: Row | None = await self._run(sql, lambda connection: connection.fetchrow(sql, *params))
        return row

    async def _fetch_all(self, sql: str, params: Params) -> list[Row]:
        rows: list[Row] = await self._run(sql, lambda connection: connection.fetch(sql, *params))
        return rows

    async def _run(self, sql: str, operation: Callable[[asyncpg.Connection], Awaitable[_T]]) -> _T:
        """One statement on a pooled connection, retried as the module docstring says."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        for attempt in range(len(_BACKOFF) + 1):
            connection = await self._acquire(deadline)
            try:
                result = await self.mapped(operation(connection), retry_lost=True)
            except _Lost as lost:
                if not _is_read(sql) or loop.time() >= deadline or attempt == len(_BACKOFF):
                    raise DatabaseUnavailable(f"the connection to the database was lost: {lost.reason}") from None
                await asyncio.sleep(_BACKOFF[attempt])
                continue
            finally:
                await self._release(connection)
            return result
        raise AssertionError("unreachable")

    async def _acquire(self, deadline: float) -> asyncpg.Connection:
        """A pooled connection; opening one is retried until `deadline`."""
        loop = asyncio.get_running_loop()
        for attempt in range(1_000):
            remaining = deadline - loop.time()
            try:
                connection: asyncpg.Connection = await self.pool.acquire(timeout=max(remaining, 0.05))
            except self.errors.connect as error:
                self._record_failure("connection", _reason(error))
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise DatabaseUnavailable(f"cannot reach the database: {_reason(error)}") from error
                await asyncio.sleep(min(_BACKOFF[min(attempt, len(_BACKOFF) - 1)], remaining))
            except self._asyncpg.InterfaceError as error:  # the pool is closing: the bot is stopping
                raise StoreError(f"the database is closed: {error}") from error
            else:
                return connection
        raise DatabaseUnavailable("cannot reach the database")

    async def _release(self, connection: asyncpg.Connection) -> None:
        try:
            await finish_then_cancel(self.pool.release(connection))
        except Exception:  # a broken connection is dropped by the pool; nothing to tell the caller
            log.debug("releasing a database connection failed", exc_info=True)

    async def mapped(self, statement: Awaitable[_T], *, retry_lost: bool = False) -> _T:
        """Await `statement`, mapping asyncpg's errors to the store's and keeping `health()` current."""
        errors = self.errors
        try:
            result = await statement
        except errors.integrity as error:
            self._record_success()  # the server answered
            raise IntegrityError(_reason(error)) from error
        except errors.lost as error:
            self._record_failure("connection", _reason(error))
            if retry_lost:
                raise _Lost(_reason(error)) from error
            raise DatabaseUnavailable(f"the connection to the database was lost: {_reason(error)}") from error
        except errors.postgres as error:
            raise StoreError(f"database error: {_reason(error)}") from error
        self._record_success()
        return result

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Handle]:
        loop = asyncio.get_running_loop()
        connection = await self._acquire(loop.time() + self.connect_timeout)
        try:
            transaction = connection.transaction()
            await self.mapped(transaction.start())
            try:
                yield _Handle(self, connection)
            except BaseException:
                try:
                    await finish_then_cancel(transaction.rollback())
                except Exception:  # the connection is gone: the server rolled back already
                    log.debug("rolling back failed", exc_info=True)
                raise
            await finish_then_cancel(self.mapped(transaction.commit()))
        finally:
            await self._release(connection)

    # -- migrations --

    async def schema_versions(self) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        connection = await self._acquire(loop.time() + self.connect_timeout)
        try:
            return await self._read_versions(connection)
        finally:
            await self._release(connection)

    async def _read_versions(self, connection: asyncpg.Connection) -> dict[str, int]:
        exists = await self.mapped(connection.fetchval("SELECT to_regclass('ora_schema') IS NOT NULL"))
        if not exists:
            return {}
        rows = await self.mapped(connection.fetch("SELECT component, version FROM ora_schema"))
        return {str(row["component"]): int(row["version"]) for row in rows}

    async def migrate(self, schemas: Sequence[migrations.Schema]) -> None:
        loop = asyncio.get_running_loop()
        connection = await self._acquire(loop.time() + self.connect_timeout)
        try:
            await self.mapped(connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK))
            try:
                await self.mapped(connection.execute(migrations.SCHEMA_TABLE_SQL))
                applied = await self._read_versions(connection)
                steps = migrations.plan(schemas, "postgresql", applied)
                if migrations.LAYOUT_COMPONENT not in applied:
                    await self._record(connection, migrations.LAYOUT_COMPONENT, migrations.LAYOUT_VERSION)
                for step in steps:
                    log.info("applying database migration %s %s", step.component, step.name)
                    try:
                        async with connection.transaction():
                            await connection.execute(step.sql)
                            await self._record(connection, step.component, step.version)
                    except self.errors.postgres as error:
                        raise StoreError(f"migration {step.component} {step.name} failed: {_reason(error)}") from error
            finally:
                await self.mapped(connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK))
        finally:
            await self._release(connection)

    @staticmethod
    async def _record(connection: asyncpg.Connection, component: str, version: int) -> None:
        await connection.execute(
            "INSERT INTO ora_schema (component, version, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
            component,
            version,
            time.time(),
        )


class _Lost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
