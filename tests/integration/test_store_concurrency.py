"""Writes that returned are durable whatever another coroutine's transaction does, on both backends.

The old store ran `BEGIN IMMEDIATE` on the one shared connection, so statements other coroutines issued while it
was open ran inside it and were undone by its ROLLBACK (a refused link). Each check reads the database through a
second, independent store (its own connection) after the first has returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ora.core.store import DatabaseUrl, Store, StoreError
from ora.core.store.users import UserPreferences
from ora.features.account.queries import AccountQueries, LinkConflictError
from ora.features.chat.queries import ChatMemory
from ora.features.datasets.queries import DatasetQueries, NewDataset
from tests.conftest import SCHEMAS

ROUNDS = 40


@pytest.fixture
async def reader(store: Store, database_url: DatabaseUrl) -> AsyncIterator[Store]:
    """A second store on the same database: it sees only what was committed."""
    opened = await Store.open(database_url, SCHEMAS)
    yield opened
    await opened.close()


async def count(store: Store, sql: str) -> int:
    row = await store.fetch_one(sql)
    assert row is not None
    return int(row[0])


def dataset(owner: int, index: int) -> NewDataset:
    return NewDataset(
        owner_id=owner,
        guild_id=None,
        name=f"d{index}",
        original_filename=f"d{index}.txt",
        size_bytes=1,
        sha256=f"{index:064x}",
        content_type="text/plain",
        stored_path=f"{owner}/{index}.txt",
    )


async def refused_link(store: Store) -> bool:
    try:
        await AccountQueries(store).upsert_google_sub(2, "taken-sub", "b@example.com")
    except LinkConflictError:
        return True
    return False


async def test_a_refused_link_never_rolls_back_other_users_writes(store: Store, reader: Store) -> None:
    accounts = AccountQueries(store)
    await accounts.upsert_google_sub(1, "taken-sub", "a@example.com")
    await accounts.create_login_state("state-0", 7, ttl=600)
    refusals = 0
    for index in range(ROUNDS):
        results = await asyncio.gather(
            refused_link(store),
            UserPreferences(store).set_privacy_mode(100 + index, "public"),
            ChatMemory(store).add_turn(100 + index, 5, f"prompt {index}", f"answer {index}", "m"),
            DatasetQueries(store).add(dataset(100 + index, index)),
            accounts.create_oauth_flow(
                flow_secret=f"flow-{index}",
                state="state-0",
                oauth_state=f"oauth-{index}",
                code_verifier="v",
                nonce="n",
                ttl=600,
            ),
            refused_link(store),
        )
        refusals += results[0] + results[-1]
    assert refusals == 2 * ROUNDS
    assert await count(reader, "SELECT COUNT(*) FROM users WHERE privacy_mode = 'public'") == ROUNDS
    assert await count(reader, "SELECT COUNT(*) FROM chat_turns") == ROUNDS
    assert await count(reader, "SELECT COUNT(*) FROM datasets") == ROUNDS
    assert await count(reader, "SELECT COUNT(*) FROM jobs") == ROUNDS
    assert await count(reader, "SELECT COUNT(*) FROM oauth_flows") >= 1
    assert await count(reader, "SELECT COUNT(*) FROM users WHERE google_sub = 'taken-sub'") == 1


async def test_a_consumed_login_state_stays_consumed_when_a_transaction_fails(store: Store) -> None:
    accounts = AccountQueries(store)
    await accounts.upsert_google_sub(1, "taken-sub", "a@example.com")
    for index in range(ROUNDS):
        await accounts.create_login_state(f"s{index}", 9, ttl=600)
        consumed, _ = await asyncio.gather(accounts.consume_login_state(f"s{index}"), refused_link(store))
        assert consumed == 9
        assert await accounts.consume_login_state(f"s{index}") is None, f"state s{index} became usable again"


async def test_statements_never_join_an_open_transaction(store: Store, reader: Store) -> None:
    """SQLite makes the statement wait for the transaction; PostgreSQL runs it on another connection. Either way
    the transaction's ROLLBACK takes only its own row."""
    database = store.database
    await database.execute("CREATE TABLE t (v INTEGER)")
    entered = asyncio.Event()
    release = asyncio.Event()

    async def failing_transaction() -> None:
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            entered.set()
            await release.wait()
            raise RuntimeError("refused")

    failing = asyncio.create_task(failing_transaction())
    await entered.wait()
    outside = asyncio.create_task(database.execute("INSERT INTO t VALUES (2)"))
    if store.dialect == "sqlite":
        await asyncio.sleep(0)  # let the outside statement reach the lock
        assert not outside.done()
    else:
        assert await outside == 1  # its own connection: it does not wait
    release.set()
    with pytest.raises(RuntimeError):
        await failing
    assert await outside == 1
    rows = await reader.fetch_all("SELECT v FROM t")
    assert [row[0] for row in rows] == [2]


async def test_using_the_database_inside_its_own_transaction_raises_instead_of_deadlocking(store: Store) -> None:
    async with asyncio.timeout(5):
        with pytest.raises(StoreError, match="inside its own transaction"):
            async with store.transaction():
                await store.execute("SELECT 1")
        assert await store.fetch_one("SELECT 1") is not None  # the lock (or connection) was released


async def test_a_cancelled_transaction_is_rolled_back_before_the_next_statement(store: Store, reader: Store) -> None:
    database = store.database
    await database.execute("CREATE TABLE t (v INTEGER)")
    entered = asyncio.Event()

    async def slow_transaction() -> None:
        async with database.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(slow_transaction())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await database.execute("INSERT INTO t VALUES (2)") == 1
    assert [row[0] for row in await database.fetch_all("SELECT v FROM t")] == [2]
    assert await count(reader, "SELECT COUNT(*) FROM t") == 1
