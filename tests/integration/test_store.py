"""The Store against a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ora.store import LinkConflictError, NewDataset, Store, StoreError, digest
from ora.store.base import migrations
from ora.store.housekeeping import ExpiredRowsPurger
from ora.store.login import MAX_FLOWS_PER_STATE


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    opened = await Store.open(tmp_path / "nested" / "folder" / "ora.db")
    yield opened  # type: ignore[misc]
    await opened.close()


async def test_open_creates_parent_folders_wal_and_schema(store: Store) -> None:
    assert store.path.exists()
    assert await store.schema_version() == len(migrations())
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "login_states", "datasets", "chat_turns"} <= tables


async def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "ora.db"
    first = await Store.open(path)
    await first.set_privacy_mode(1, "public")
    await first.close()
    second = await Store.open(path)
    try:
        assert await second.get_privacy_mode(1) == "public"
    finally:
        await second.close()


async def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 999")
    with pytest.raises(StoreError, match="schema version 999, newer"):
        await Store.open(path)


async def test_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        await Store.open(path)


async def test_login_state_is_consumed_once_and_only_its_hash_is_stored(store: Store) -> None:
    state = "s3cret-state-value-with-128-bits-or-more"
    await store.create_login_state(state, 42, ttl=900)
    assert await store.peek_login_state(state) == 42
    results = await asyncio.gather(*(store.consume_login_state(state) for _ in range(5)))
    assert sorted(results, key=lambda value: value or 0) == [None, None, None, None, 42]
    assert await store.peek_login_state(state) is None
    with sqlite3.connect(store.path) as raw:
        dump = "\n".join(raw.iterdump())
    assert state not in dump


async def test_expired_login_state_is_refused_and_purged(store: Store) -> None:
    await store.create_login_state("old-state", 7, ttl=-1)
    assert await store.consume_login_state("old-state") is None
    assert await store.purge_expired() >= 1


async def test_google_link_conflict_and_unlink(store: Store) -> None:
    await store.upsert_google_sub(1, "sub-a", "a@example.com")
    await store.upsert_google_sub(1, "sub-a", "a2@example.com")  # same user again: fine, email updated
    user = await store.get_user(1)
    assert user is not None and user.google_email == "a2@example.com"
    with pytest.raises(LinkConflictError):
        await store.upsert_google_sub(2, "sub-a", "b@example.com")
    assert await store.unlink_google(1) is True
    assert await store.unlink_google(1) is False
    await store.upsert_google_sub(2, "sub-a", "b@example.com")
    user2 = await store.get_user(2)
    assert user2 is not None and user2.google_sub == "sub-a"


async def test_privacy_mode_defaults_to_none_then_persists(store: Store) -> None:
    assert await store.get_privacy_mode(5) is None
    await store.set_privacy_mode(5, "public")
    await store.set_privacy_mode(5, "private")
    assert await store.get_privacy_mode(5) == "private"


async def test_datasets_duplicate_by_hash_and_newest_first(store: Store) -> None:
    def new(sha: str, guild: int | None = 9) -> NewDataset:
        return NewDataset(
            owner_id=1,
            guild_id=guild,
            name=sha,
            original_filename=f"{sha}.csv",
            size_bytes=3,
            sha256=sha,
            content_type="text/csv",
            stored_path=f"ab/{sha}",
        )

    first = await store.add_dataset(new("a" * 64))
    assert first is not None and (first.upload_state, first.upload_attempts) == ("pending", 0)
    assert await store.add_dataset(new("a" * 64)) is None
    for index in range(12):
        await store.add_dataset(new(f"{index:064d}"))
    await store.add_dataset(new("f" * 64, guild=None))
    listed = await store.list_datasets(1, 9)
    assert len(listed) == 10
    assert listed[0].sha256 == f"{11:064d}"
    assert all(item.guild_id == 9 for item in listed)
    assert await store.begin_dataset_upload_attempt(first.id) == 1
    await store.record_dataset_uploaded(first.id, "remote-1")
    found = await store.find_dataset_by_hash(1, "a" * 64)
    assert found is not None and (found.upload_state, found.remote_id) == ("uploaded", "remote-1")


async def test_chat_memory_is_bounded_by_turns_and_characters(store: Store) -> None:
    for index in range(8):
        await store.add_chat_turn(1, 100, f"q{index}", "a" * 10, "model")
    await store.add_chat_turn(1, 200, "other channel", "x", "model")
    turns = await store.recent_chat_turns(1, 100, max_turns=5, max_chars=1000)
    assert [turn.prompt for turn in turns] == ["q3", "q4", "q5", "q6", "q7"]
    turns = await store.recent_chat_turns(1, 100, max_turns=5, max_chars=25)
    assert [turn.prompt for turn in turns] == ["q6", "q7"]
    assert await store.clear_chat_turns(1, 100) == 8
    assert await store.recent_chat_turns(1, 200, max_turns=5, max_chars=1000) != []


async def test_a_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    version, _, sql = migrations()[0]
    with sqlite3.connect(path) as raw:
        raw.executescript(sql)
        raw.execute(f"PRAGMA user_version = {version}")
        raw.execute(
            "INSERT INTO users (discord_user_id, privacy_mode, created_at, updated_at) VALUES (5, 'public', 0, 0)"
        )
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(migrations()) > 1
        assert await store.get_privacy_mode(5) == "public"
        await store.create_login_state("state-with-name", 5, ttl=60, discord_name="aiko")
        assert await store.login_state_name(digest("state-with-name")) == "aiko"
    finally:
        await store.close()


async def test_chat_memory_keeps_only_the_turns_that_can_be_read_back(store: Store) -> None:
    for index in range(16):
        await store.add_chat_turn(1, 10, f"p{index}", f"a{index}", "m", keep=6)
    await store.add_chat_turn(1, 11, "other channel", "a", "m", keep=6)
    await store.add_chat_turn(2, 10, "other user", "a", "m", keep=6)
    with sqlite3.connect(store.path) as raw:
        kept = [
            row[0]
            for row in raw.execute("SELECT prompt FROM chat_turns WHERE user_id = 1 AND channel_id = 10 ORDER BY id")
        ]
        total = raw.execute("SELECT COUNT(*) FROM chat_turns").fetchone()[0]
    assert kept == [f"p{index}" for index in range(10, 16)]
    assert total == 8
    turns = await store.recent_chat_turns(1, 10, max_turns=6, max_chars=10_000)
    assert [turn.prompt for turn in turns] == kept


async def test_chat_memory_disabled_stores_nothing(store: Store) -> None:
    await store.add_chat_turn(1, 10, "p", "a", "m", keep=0)
    assert await store.recent_chat_turns(1, 10, max_turns=6, max_chars=10_000) == []


async def test_one_login_state_keeps_at_most_a_few_flows_newest_first(store: Store) -> None:
    await store.create_login_state("flooded", 5, ttl=600)
    for index in range(50):
        await store.create_oauth_flow(
            flow_secret=f"f{index}", state="flooded", oauth_state=f"o{index}", code_verifier="v", nonce="n", ttl=600
        )
    with sqlite3.connect(store.path) as raw:
        rows = raw.execute("SELECT COUNT(*) FROM oauth_flows").fetchone()[0]
    assert rows == MAX_FLOWS_PER_STATE
    assert await store.take_oauth_flow("f49", "o49") is not None  # the newest browser can finish
    assert await store.take_oauth_flow("f0", "o0") is None


async def test_expired_rows_are_purged_on_a_timer_without_a_new_login(store: Store) -> None:
    await store.create_login_state("old", 5, ttl=0.01)
    await store.create_oauth_flow(flow_secret="f", state="old", oauth_state="o", code_verifier="v", nonce="n", ttl=0.01)
    await store.create_link_code("code", 5, ttl=0.01)
    purger = ExpiredRowsPurger(store, interval=0.05)
    purger.start()
    try:
        async with asyncio.timeout(5):
            while True:
                with sqlite3.connect(store.path) as raw:
                    left = sum(
                        raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                        for table in ("login_states", "oauth_flows", "link_codes")
                    )
                if left == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        await purger.close()
    assert left == 0


async def test_a_failing_purge_is_logged_and_the_timer_keeps_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = await Store.open(tmp_path / "closed.db")
    await closed.close()  # every statement now raises StoreError
    purger = ExpiredRowsPurger(closed, interval=0.02)
    purger.start()
    try:
        async with asyncio.timeout(5):
            while True:  # the log is not awaitable: poll it, bounded by the timeout
                if sum("purging expired login rows failed" in r.getMessage() for r in caplog.records) >= 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        await purger.close()
    assert all(record.levelname == "WARNING" for record in caplog.records if "purging" in record.getMessage())
