"""Datasets of release 0.1's predecessors (schema version 2, `remote_status` strings) reach the upload jobs of
today with their state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ora.core.store import Store
from ora.core.store.migrations import legacy_migrations
from ora.features.datasets.queries import DatasetQueries
from tests.conftest import SCHEMAS

OWNER = 7


async def test_a_version_2_database_keeps_every_dataset_and_gets_upload_states(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as raw:
        for version, _, sql in legacy_migrations()[:2]:
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
    store = await Store.open(path, SCHEMAS)
    try:
        entries = {entry.record.sha256[0]: entry for entry in await DatasetQueries(store).list(OWNER, None, 10)}
        jobs = {key: entry.upload for key, entry in entries.items()}
        assert {key: (job.state, job.last_error) for key, job in jobs.items() if job} == {
            "a": ("done", None),
            "b": ("pending", None),
            "c": ("pending", "interrupted (the bot stopped)"),
            "d": ("failed", "HTTP 413: too large for ORA"),
        }
        assert all(job is not None and job.attempts == 0 for job in jobs.values())
        a = entries["a"].record
        assert (a.remote_id, a.name, a.original_filename, a.size_bytes, a.content_type, a.stored_path) == (
            "ds_1",
            "name a",
            "a.csv",
            5,
            "text/csv",
            f"{OWNER}/{'a' * 64}",
        )
        assert a.created_at == 1700000000.5
        with sqlite3.connect(path) as raw:
            columns = {row[1] for row in raw.execute("PRAGMA table_info(datasets)")}
        assert not {"remote_status", "upload_state", "upload_attempts"} & columns  # one source of truth: the job
    finally:
        await store.close()
