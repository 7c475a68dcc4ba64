"""The datasets table against a real SQLite file: the v2 → v3 upgrade of upload states, and their transitions."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ora.store import NewDataset, Store
from ora.store.base import migrations

OWNER = 7


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "ora.db")
    yield opened
    await opened.close()


def new(sha: str, size: int = 10) -> NewDataset:
    return NewDataset(
        owner_id=OWNER,
        guild_id=9,
        name=f"name {sha[:4]}",
        original_filename=f"{sha[:4]}.csv",
        size_bytes=size,
        sha256=sha,
        content_type="text/csv",
        stored_path=f"{OWNER}/{sha}",
    )


async def test_a_version_2_database_keeps_every_dataset_and_gets_upload_states(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as raw:
        for version, _, sql in migrations()[:2]:
            raw.executescript(sql)
            raw.execute(f"PRAGMA user_version = {version}")
        statuses = {
            "a": "uploaded",
            "b": "local only",  # no ORA, or a bot killed mid-upload: not at ORA either way
            "c": "failed: interrupted (the bot stopped)",  # a shutdown cut it off: to be resumed
            "d": "failed: HTTP 413: too large for ORA",
        }
        for key, status in statuses.items():
            raw.execute(
                "INSERT INTO datasets (owner_id, guild_id, name, original_filename, size_bytes, sha256,"
                " content_type, stored_path, remote_status, remote_id, created_at)"
                " VALUES (?, 9, ?, ?, 5, ?, 'text/csv', ?, ?, ?, 1700000000.5)",
                (OWNER, f"name {key}", f"{key}.csv", key * 64, f"{OWNER}/{key * 64}", status,
                 "ds_1" if key == "a" else None),
            )  # fmt: skip
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(migrations()) >= 3
        by_key = {record.sha256[0]: record for record in await store.list_datasets(OWNER, None, 10)}
        assert {key: (r.upload_state, r.upload_error) for key, r in by_key.items()} == {
            "a": ("uploaded", None),
            "b": ("pending", None),
            "c": ("pending", "interrupted (the bot stopped)"),
            "d": ("failed", "HTTP 413: too large for ORA"),
        }
        assert all(record.upload_attempts == 0 and record.upload_next_at is None for record in by_key.values())
        a = by_key["a"]
        assert (a.remote_id, a.name, a.original_filename, a.size_bytes, a.content_type, a.stored_path) == (
            "ds_1",
            "name a",
            "a.csv",
            5,
            "text/csv",
            f"{OWNER}/{'a' * 64}",
        )
        assert a.created_at == 1700000000.5
        assert [record.sha256[0] for record in await store.unfinished_dataset_uploads()] == ["b", "c"]
        with sqlite3.connect(path) as raw:
            columns = {row[1] for row in raw.execute("PRAGMA table_info(datasets)")}
        assert "remote_status" not in columns  # one source of truth: the columns
    finally:
        await store.close()


async def test_an_attempt_is_counted_before_it_runs_and_a_shutdown_gives_it_back(store: Store) -> None:
    record = await store.add_dataset(new("a" * 64))
    assert record is not None and (record.upload_state, record.upload_attempts) == ("pending", 0)
    assert await store.begin_dataset_upload_attempt(record.id) == 1
    assert await store.interrupt_dataset_upload(record.id, "interrupted") is True
    row = await store.get_dataset(record.id)
    assert row is not None
    assert (row.upload_state, row.upload_attempts, row.upload_error) == ("pending", 0, "interrupted")
    assert row.upload_next_at is not None


async def test_an_interruption_never_overwrites_an_outcome(store: Store) -> None:
    record = await store.add_dataset(new("b" * 64))
    assert record is not None
    assert await store.begin_dataset_upload_attempt(record.id) == 1
    await store.record_dataset_uploaded(record.id, "ds_9")
    assert await store.interrupt_dataset_upload(record.id, "interrupted") is False
    assert await store.begin_dataset_upload_attempt(record.id) is None  # nothing left to send
    row = await store.get_dataset(record.id)
    assert row is not None and (row.upload_state, row.remote_id, row.upload_attempts) == ("uploaded", "ds_9", 1)


async def test_retry_failure_and_a_fresh_start(store: Store) -> None:
    record = await store.add_dataset(new("c" * 64))
    assert record is not None
    await store.begin_dataset_upload_attempt(record.id)
    await store.schedule_dataset_upload_retry(record.id, "HTTP 503:\nbusy", 1234.5)
    row = await store.get_dataset(record.id)
    assert row is not None and (row.upload_state, row.upload_error, row.upload_next_at) == (
        "pending",
        "HTTP 503: busy",
        1234.5,
    )
    await store.begin_dataset_upload_attempt(record.id)
    await store.record_dataset_upload_failed(record.id, "HTTP 503: busy")
    assert await store.unfinished_dataset_uploads() == []
    assert await store.restart_dataset_upload(record.id) is True
    row = await store.get_dataset(record.id)
    assert row is not None and (row.upload_state, row.upload_attempts, row.upload_error) == ("pending", 0, None)
    assert await store.restart_dataset_upload(record.id) is False  # only a failed upload restarts


async def test_stored_bytes_per_owner(store: Store) -> None:
    assert await store.dataset_bytes(OWNER) == 0
    await store.add_dataset(new("d" * 64, size=300))
    await store.add_dataset(new("e" * 64, size=700))
    assert await store.dataset_bytes(OWNER) == 1000
    assert await store.dataset_bytes(OWNER + 1) == 0


async def test_an_unknown_upload_state_is_refused_by_the_schema(store: Store) -> None:
    record = await store.add_dataset(new("f" * 64))
    assert record is not None
    with sqlite3.connect(store.path) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute("UPDATE datasets SET upload_state = 'local only' WHERE id = ?", (record.id,))
