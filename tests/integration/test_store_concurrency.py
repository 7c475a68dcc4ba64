"""Writes that returned are durable whatever another coroutine's transaction does (issue 9, item 1).

The old store ran `BEGIN IMMEDIATE` on the one shared connection, so statements other coroutines issued while it
was open ran inside it and were undone by its ROLLBACK (a refused link). Each check reads the file through a
second, independent SQLite connection after the store has returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ora.store import LinkConflictError, NewDataset, Store, StoreError
from ora.store.base import Database

ROUNDS = 40


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "ora.db")
    yield opened
    await opened.close()


def count(path: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return int(raw.execute(sql, params).fetchone()[0])


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
        await store.upsert_google_sub(2, "taken-sub", "b@example.com")
    except LinkConflictError:
        return True
    return False


async def test_a_refused_link_never_rolls_back_other_users_writes(store: Store) -> None:
    await store.upsert_google_sub(1, "taken-sub", "a@example.com")
    await store.create_login_state("state-0", 7, ttl=600)
    refusals = 0
    for index in range(ROUNDS):
        results = await asyncio.gather(
            refused_link(store),
            store.set_privacy_mode(100 + index, "public"),
            store.add_chat_turn(100 + index, 5, f"prompt {index}", f"answer {index}", "m"),
            store.add_dataset(dataset(100 + index, index)),
            store.create_oauth_flow(
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
    assert count(store.path, "SELECT COUNT(*) FROM users WHERE privacy_mode = 'public'") == ROUNDS
    assert count(store.path, "SELECT COUNT(*) FROM chat_turns") == ROUNDS
    assert count(store.path, "SELECT COUNT(*) FROM datasets") == ROUNDS
    assert count(store.path, "SELECT COUNT(*) FROM oauth_flows") >= 1
    assert count(store.path, "SELECT COUNT(*) FROM users WHERE google_sub = 'taken-sub'") == 1


async def test_a_consumed_login_state_stays_consumed_when_a_transaction_fails(store: Store) -> None:
    await store.upsert_google_sub(1, "taken-sub", "a@example.com")
    for index in range(ROUNDS):
        await store.create_login_state(f"s{index}", 9, ttl=600)
        consumed, _ = await asyncio.gather(store.consume_login_state(f"s{index}"), refused_link(store))
        assert consumed == 9
        assert await store.consume_login_state(f"s{index}") is None, f"state s{index} became usable again"


async def test_statements_wait_for_an_open_transaction_instead_of_joining_it(tmp_path: Path) -> None:
    database = Database(tmp_path / "raw.db")
    await database.open()
    try:
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
        await asyncio.sleep(0)  # let the outside statement reach the lock
        assert not outside.done()
        release.set()
        with pytest.raises(RuntimeError):
            await failing
        assert await outside == 1
        rows = await database.fetch_all("SELECT v FROM t")
        assert [row[0] for row in rows] == [2]
    finally:
        await database.close()


async def test_using_the_database_inside_its_own_transaction_raises_instead_of_deadlocking(tmp_path: Path) -> None:
    database = Database(tmp_path / "raw.db")
    await database.open()
    try:
        async with asyncio.timeout(5):
            with pytest.raises(StoreError, match="inside its own transaction"):
                async with database.transaction():
                    await database.execute("SELECT 1")
            assert await database.fetch_one("SELECT 1") is not None  # the lock was released
    finally:
        await database.close()


async def test_a_cancelled_transaction_is_rolled_back_before_the_next_statement(tmp_path: Path) -> None:
    database = Database(tmp_path / "raw.db")
    await database.open()
    try:
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
        assert count(database.path, "SELECT COUNT(*) FROM t") == 1
    finally:
        await database.close()
