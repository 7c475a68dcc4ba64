"""What every backend offers the queries: statements, transactions, a ping and a health report.

SQL is written once, with PostgreSQL's numbered placeholders (`$1`, `$2`, a number may repeat); the SQLite
backend rewrites them to SQLite's `?1`, `?2`. Where the dialects differ, a query looks at `dialect`.

A transaction's statements go through its handle (`async with database.transaction() as tx: await
tx.execute(...)`). No other coroutine's statement can run inside it, on either backend: SQLite runs one
statement of the process at a time and a transaction holds that turn from BEGIN to COMMIT; PostgreSQL gives the
transaction a connection of its own. Using the database itself from inside one's own transaction is a
programming error that raises instead of deadlocking.
"""

from __future__ import annotations

import abc
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, Protocol

import attrs

from ora.core.store.errors import StoreError

log = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
#: How long a failure (a refused write, a lost connection) is reported after it happened, unless a statement
#: succeeded since.
FAILURE_WINDOW = 60.0


class Row(Protocol):
    """A result row: by column name or position (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


class Statements(Protocol):
    """What a query can run: the database outside a transaction, or a transaction's handle."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...


class Transaction(Statements, Protocol):
    async def lock(self, key: str) -> None:
        """Hold `key` until the transaction ends: transactions locking the same key run one after another.

        On SQLite every write transaction already runs alone; on PostgreSQL this takes an advisory lock.
        """
        ...


@attrs.frozen
class Failure:
    """The last thing that went wrong with the database: a refused write (disk full, read-only file) or a lost
    connection. Cleared by the next statement that succeeds."""

    at: float
    reason: str
    kind: Literal["write", "connection"]


@attrs.frozen
class Health:
    ok: bool
    reason: str | None = None


_own_transaction: contextvars.ContextVar[Database | None] = contextvars.ContextVar("ora_own_transaction", default=None)


class Database(abc.ABC):
    """One backend, opened once per process and shared by every query."""

    dialect: Dialect

    def __init__(self) -> None:
        self.last_failure: Failure | None = None

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Where the data is, without secrets (a file path, or a URL without its password)."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- statements outside a transaction (each its own implicit transaction) --

    async def execute(self, sql: str, params: Params = ()) -> int:
        self._check_not_in_own_transaction()
        return await self._execute(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        self._check_not_in_own_transaction()
        return await self._fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        self._check_not_in_own_transaction()
        return await self._fetch_all(sql, params)

    async def execute_many(self, statements: Iterable[tuple[str, Params]]) -> int:
        """Several statements in one transaction; the rows changed by all of them."""
        changed = 0
        async with self.transaction() as tx:
            for sql, params in statements:
                changed += await tx.execute(sql, params)
        return changed

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A transaction, committed at the end of the block and rolled back on any exception (cancellation too)."""
        self._check_not_in_own_transaction()
        token = _own_transaction.set(self)
        try:
            async with self._transaction() as handle:
                yield handle
        finally:
            _own_transaction.reset(token)

    async def ping(self) -> bool:
        """Whether a statement gets through now."""
        try:
            return await self.fetch_one("SELECT 1") is not None
        except StoreError:
            return False

    def health(self, window: float = FAILURE_WINDOW) -> Health:
        """Not ok while the last failure is recent and nothing has succeeded since."""
        failure = self.last_failure
        if failure is None or time.time() - failure.at > window:
            return Health(ok=True)
        what = "database writes are failing" if failure.kind == "write" else "the database is unreachable"
        return Health(ok=False, reason=f"{what}: {failure.reason}")

    @abc.abstractmethod
    async def migrate(self, schemas: Sequence[Any]) -> None:
        """Bring every schema component up to date (`ora.core.store.migrations`)."""

    @abc.abstractmethod
    async def schema_versions(self) -> dict[str, int]:
        """The version of each schema component the database holds."""

    # -- for the backends --

    @abc.abstractmethod
    async def _execute(self, sql: str, params: Params) -> int: ...

    @abc.abstractmethod
    async def _fetch_one(self, sql: str, params: Params) -> Row | None: ...

    @abc.abstractmethod
    async def _fetch_all(self, sql: str, params: Params) -> list[Row]: ...

    @abc.abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    def _record_failure(self, kind: Literal["write", "connection"], reason: str) -> None:
        first = self.last_failure is None
        self.last_failure = Failure(at=time.time(), reason=reason, kind=kind)
        if first:
            log.error("database: %s", self.health().reason)

    def _record_success(self) -> None:
        if self.last_failure is not None:
            log.info("database: statements succeed again")
            self.last_failure = None

    def _check_not_in_own_transaction(self) -> None:
        if _own_transaction.get() is self:
            raise StoreError("a statement was issued on the database inside its own transaction; use the handle")
