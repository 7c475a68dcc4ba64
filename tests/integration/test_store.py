"""The store and the features' queries against a real database: a SQLite file and a PostgreSQL server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ora.core.housekeeping import Housekeeping
from ora.core.store import DatabaseUrl, SchemaTooNew, Store, StoreError, digest
from ora.core.store.users import UserPreferences
from ora.features.account.queries import MAX_FLOWS_PER_STATE, AccountQueries, LinkConflictError
from ora.features.chat.queries import ChatMemory
from ora.features.datasets.queries import DatasetQueries, NewDataset
from ora.features.link.queries import LinkCodes
from tests.conftest import SCHEMAS


async def count(store: Store, table: str) -> int:
    row = await store.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


async def test_open_creates_parent_folders_wal_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "ora.db"
    store = await Store.open(path, SCHEMAS)
    try:
        assert path.exists()
        versions = await store.schema_versions()
        assert versions["core"] >= 2 and versions["datasets"] >= 2 and versions["account"] >= 1
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 4
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "login_states", "datasets", "chat_turns", "jobs", "leases", "replicas", "interactions"} <= tables


async def test_reopening_keeps_data_and_does_not_migrate_twice(database_url: DatabaseUrl) -> None:
    first = await Store.open(database_url, SCHEMAS)
    await UserPreferences(first).set_privacy_mode(1, "public")
    versions = await first.schema_versions()
    await first.close()
    second = await Store.open(database_url, SCHEMAS)
    try:
        assert await UserPreferences(second).get_privacy_mode(1) == "public"
        assert await second.schema_versions() == versions
    finally:
        await second.close()


async def test_a_newer_sqlite_layout_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 999")
    with pytest.raises(SchemaTooNew, match="schema version 999, newer"):
        await Store.open(path, SCHEMAS)


async def test_a_component_newer_than_this_release_is_refused_on_both_backends(database_url: DatabaseUrl) -> None:
    store = await Store.open(database_url, SCHEMAS)
    await store.execute("UPDATE ora_schema SET version = 99 WHERE component = 'chat'")
    await store.execute(
        "INSERT INTO chat_turns (user_id, channel_id, prompt, answer, model, created_at)"
        " VALUES (1, 2, 'kept', 'a', 'm', 0)"
    )
    await store.close()
    with pytest.raises(SchemaTooNew, match=r"newer release of the ORA bot \(schema chat 99"):
        await Store.open(database_url, SCHEMAS)
    # Refused before anything changed: the data is still there, the version untouched.
    reopened = await Store.open(database_url, [schema for schema in SCHEMAS if schema.name != "chat"])
    try:
        assert (await reopened.schema_versions())["chat"] == 99
        assert await count(reopened, "chat_turns") == 1
    finally:
        await reopened.close()


async def test_not_a_database_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        await Store.open(path, SCHEMAS)


async def test_login_state_is_consumed_once_and_only_its_hash_is_stored(store: Store) -> None:
    accounts = AccountQueries(store)
    state = "s3cret-state-value-with-128-bits-or-more"
    await accounts.create_login_state(state, 42, ttl=900)
    assert await accounts.peek_login_state(state) == 42
    results = await asyncio.gather(*(accounts.consume_login_state(state) for _ in range(5)))
    assert sorted(results, key=lambda value: value or 0) == [None, None, None, None, 42]
    assert await accounts.peek_login_state(state) is None
    stored = await store.fetch_all("SELECT state_hash FROM login_states")
    assert [row["state_hash"] for row in stored] == [digest(state)]


async def test_expired_login_state_is_refused_and_purged(store: Store) -> None:
    accounts = AccountQueries(store)
    await accounts.create_login_state("old-state", 7, ttl=-1)
    assert await accounts.consume_login_state("old-state") is None
    assert await accounts.purge_expired() >= 1


async def test_google_link_conflict_and_unlink(store: Store) -> None:
    accounts = AccountQueries(store)
    await accounts.upsert_google_sub(1, "sub-a", "a@example.com")
    await accounts.upsert_google_sub(1, "sub-a", "a2@example.com")  # same user again: fine, email updated
    user = await accounts.get_user(1)
    assert user is not None and user.google_email == "a2@example.com"
    with pytest.raises(LinkConflictError):
        await accounts.upsert_google_sub(2, "sub-a", "b@example.com")
    assert await accounts.unlink_google(1) is True
    assert await accounts.unlink_google(1) is False
    await accounts.upsert_google_sub(2, "sub-a", "b@example.com")
    user2 = await accounts.get_user(2)
    assert user2 is not None and user2.google_sub == "sub-a"


async def test_privacy_mode_defaults_to_none_then_persists(store: Store) -> None:
    preferences = UserPreferences(store)
    assert await preferences.get_privacy_mode(5) is None
    await preferences.set_privacy_mode(5, "public")
    await preferences.set_privacy_mode(5, "private")
    assert await preferences.get_privacy_mode(5) == "private"


async def test_discord_ids_of_64_bits_are_kept_exactly(store: Store) -> None:
    big = (1 << 63) - 1  # the largest id both backends hold (Discord's ids stay below 2**63 until 2084)
    preferences = UserPreferences(store)
    await preferences.set_privacy_mode(big, "public")
    assert await preferences.get_privacy_mode(big) == "public"


def new_dataset(sha: str, guild: int | None = 9, owner: int = 1) -> NewDataset:
    return NewDataset(
        owner_id=owner,
        guild_id=guild,
        name=sha[:8],
        original_filename=f"{sha[:8]}.csv",
        size_bytes=3,
        sha256=sha,
        content_type="text/csv",
        stored_path=f"{owner}/{sha}",
    )


async def test_datasets_duplicate_by_hash_newest_first_with_their_upload_jobs(store: Store) -> None:
    datasets = DatasetQueries(store)
    added = await datasets.add(new_dataset("a" * 64))
    assert added is not None
    first, job = added
    assert (job.kind, job.subject, job.state, job.attempts, job.user_id) == (
        "datasets.upload",
        str(first.id),
        "pending",
        0,
        1,
    )
    assert await datasets.add(new_dataset("a" * 64)) is None
    assert await count(store, "jobs") == 1  # the refused duplicate left no job behind
    for index in range(12):
        await datasets.add(new_dataset(f"{index:064d}"))
    await datasets.add(new_dataset("f" * 64, guild=None))
    listed = await datasets.list(1, 9)
    assert len(listed) == 10
    assert listed[0].record.sha256 == f"{11:064d}"
    assert all(entry.record.guild_id == 9 and entry.upload is not None for entry in listed)
    assert len(await datasets.list(1, None, limit=50)) == 14
    await datasets.set_remote_id(first.id, "remote-1")
    found = await datasets.find_by_hash(1, "a" * 64)
    assert found is not None and found.remote_id == "remote-1"
    assert await datasets.stored_bytes(1) == 14 * 3
    assert await datasets.stored_bytes(2) == 0


async def test_chat_memory_is_bounded_by_turns_and_characters(store: Store) -> None:
    memory = ChatMemory(store)
    for index in range(8):
        await memory.add_turn(1, 100, f"q{index}", "a" * 10, "model")
    await memory.add_turn(1, 200, "other channel", "x", "model")
    turns = await memory.recent_turns(1, 100, max_turns=5, max_chars=1000)
    assert [turn.prompt for turn in turns] == ["q3", "q4", "q5", "q6", "q7"]
    turns = await memory.recent_turns(1, 100, max_turns=5, max_chars=25)
    assert [turn.prompt for turn in turns] == ["q6", "q7"]
    assert await memory.clear(1, 100) == 8
    assert await memory.recent_turns(1, 200, max_turns=5, max_chars=1000) != []


async def test_chat_memory_keeps_only_the_turns_that_can_be_read_back(store: Store) -> None:
    memory = ChatMemory(store)
    for index in range(16):
        await memory.add_turn(1, 10, f"p{index}", f"a{index}", "m", keep=6)
    await memory.add_turn(1, 11, "other channel", "a", "m", keep=6)
    await memory.add_turn(2, 10, "other user", "a", "m", keep=6)
    rows = await store.fetch_all("SELECT prompt FROM chat_turns WHERE user_id = 1 AND channel_id = 10 ORDER BY id")
    kept = [row["prompt"] for row in rows]
    assert kept == [f"p{index}" for index in range(10, 16)]
    assert await count(store, "chat_turns") == 8
    turns = await memory.recent_turns(1, 10, max_turns=6, max_chars=10_000)
    assert [turn.prompt for turn in turns] == kept


async def test_chat_memory_disabled_stores_nothing(store: Store) -> None:
    memory = ChatMemory(store)
    await memory.add_turn(1, 10, "p", "a", "m", keep=0)
    assert await memory.recent_turns(1, 10, max_turns=6, max_chars=10_000) == []


async def test_one_login_state_keeps_at_most_a_few_flows_newest_first(store: Store) -> None:
    accounts = AccountQueries(store)
    await accounts.create_login_state("flooded", 5, ttl=600)
    for index in range(50):
        await accounts.create_oauth_flow(
            flow_secret=f"f{index}", state="flooded", oauth_state=f"o{index}", code_verifier="v", nonce="n", ttl=600
        )
    assert await count(store, "oauth_flows") == MAX_FLOWS_PER_STATE
    assert await accounts.take_oauth_flow("f49", "o49") is not None  # the newest browser can finish
    assert await accounts.take_oauth_flow("f0", "o0") is None


async def test_concurrent_flows_of_one_state_stay_within_the_cap(store: Store) -> None:
    accounts = AccountQueries(store)
    await accounts.create_login_state("raced", 5, ttl=600)
    await asyncio.gather(
        *(
            accounts.create_oauth_flow(
                flow_secret=f"f{index}", state="raced", oauth_state=f"o{index}", code_verifier="v", nonce="n", ttl=600
            )
            for index in range(20)
        )
    )
    assert await count(store, "oauth_flows") == MAX_FLOWS_PER_STATE


async def test_expired_rows_are_purged_on_a_timer_without_a_new_login(store: Store) -> None:
    accounts, codes = AccountQueries(store), LinkCodes(store)
    await accounts.create_login_state("old", 5, ttl=0.01)
    await accounts.create_oauth_flow(
        flow_secret="f", state="old", oauth_state="o", code_verifier="v", nonce="n", ttl=0.01
    )
    await codes.create("code", 5, ttl=0.01)
    housekeeping = Housekeeping(interval=0.05)
    housekeeping.add("login rows", accounts.purge_expired)
    housekeeping.add("link codes", codes.purge_expired)
    housekeeping.start()
    try:
        async with asyncio.timeout(5):
            while True:  # the timer is what is tested: poll its effect, bounded by the timeout
                left = sum([await count(store, table) for table in ("login_states", "oauth_flows", "link_codes")])
                if left == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        await housekeeping.close()
    assert left == 0


async def test_a_failing_purge_is_logged_and_the_timer_keeps_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = await Store.open(tmp_path / "closed.db", SCHEMAS)
    await closed.close()  # every statement now raises StoreError
    housekeeping = Housekeeping(interval=0.02)
    housekeeping.add("login rows", AccountQueries(closed).purge_expired)
    housekeeping.start()
    try:
        async with asyncio.timeout(5):
            while True:  # the log is not awaitable: poll it, bounded by the timeout
                if sum("purging expired login rows failed" in r.getMessage() for r in caplog.records) >= 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        await housekeeping.close()
    assert all(record.levelname == "WARNING" for record in caplog.records if "purging" in record.getMessage())
