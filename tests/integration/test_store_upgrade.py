"""Upgrading databases written by earlier releases, and the migrations of both backends kept in step.

`tests/fixtures/release-0.1.db` was written by release 0.1 itself (see make_release_0_1_database.py beside it).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from ora.core.store import CORE_SCHEMA, Store
from ora.core.store.jobs import JobRows
from ora.core.store.migrations import SQLITE_LAYOUT_VERSION, legacy_migrations, load_migrations
from ora.core.store.replicas import ReplicaRows
from ora.core.store.users import UserPreferences
from ora.features.account.queries import AccountQueries
from ora.features.chat.queries import ChatMemory
from ora.features.datasets.queries import DatasetQueries
from ora.features.link.queries import LinkCodes
from tests.conftest import SCHEMAS

RELEASE_0_1 = Path(__file__).parents[1] / "fixtures" / "release-0.1.db"


@pytest.fixture
def old_database(tmp_path: Path) -> Path:
    copy = tmp_path / "ora_bot.db"
    shutil.copyfile(RELEASE_0_1, copy)
    return copy


def schema_of(path: Path) -> dict[str, object]:
    """Each table's columns (name, type, not null, default, key) and each index's columns."""
    with sqlite3.connect(path) as raw:
        tables = [row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        shape: dict[str, object] = {}
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            shape[table] = sorted(tuple(row[1:]) for row in raw.execute(f"PRAGMA table_info({table})"))
            for index in raw.execute(f"PRAGMA index_list({table})").fetchall():
                shape[f"{table}.{index[1]}"] = [row[2] for row in raw.execute(f"PRAGMA index_info({index[1]})")]
    return shape


async def test_a_release_0_1_database_upgrades_without_losing_anything(old_database: Path) -> None:
    with sqlite3.connect(old_database) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
    store = await Store.open(old_database, SCHEMAS)
    try:
        preferences, accounts = UserPreferences(store), AccountQueries(store)
        assert await preferences.get_privacy_mode(1001) == "public"
        assert await preferences.get_privacy_mode(1002) == "private"
        aiko = await accounts.get_user(1001)
        assert aiko is not None and (aiko.google_sub, aiko.google_email) == ("google-sub-1001", "aiko@example.com")
        assert (await accounts.get_user(1003)) is not None
        assert await accounts.peek_login_state("live-login-state") == 1002
        assert await accounts.peek_login_state("used-login-state") is None
        assert await accounts.take_oauth_flow("flow-cookie", "oauth-state") is not None
        pending = await accounts.take_pending_link("csrf-token", "flow-cookie")
        assert pending is not None and pending.google_email == "kenji@example.com"
        assert await LinkCodes(store).redeem("7KQF-M2XA-PZ9C") == 1002
        turns = await ChatMemory(store).recent_turns(1001, 555, max_turns=10, max_chars=10_000)
        assert [turn.prompt for turn in turns] == ["question 0", "question 1", "question 2"]

        entries = {entry.record.name: entry for entry in await DatasetQueries(store).list(1001, None, limit=10)}
        assert set(entries) == {"set pending", "set uploading", "set uploaded", "set failed"}
        jobs = {name: entry.upload for name, entry in entries.items()}
        assert all(job is not None for job in jobs.values())
        waiting, crashed, uploaded, failed = (
            jobs["set pending"],
            jobs["set uploading"],
            jobs["set uploaded"],
            jobs["set failed"],
        )
        assert waiting is not None and (waiting.state, waiting.attempts, waiting.last_error) == (
            "pending",
            1,
            "HTTP 503 from ORA",
        )
        assert uploaded is not None and uploaded.state == "done"
        assert entries["set uploaded"].record.remote_id == "ora-remote-42"
        assert failed is not None and (failed.state, failed.attempts, failed.last_error) == (
            "failed",
            3,
            "HTTP 400: unsupported file",
        )
        # The upload a crash cut off is running under a process that no longer exists: the next worker takes it,
        # and the attempt it used counts.
        assert crashed is not None and (crashed.state, crashed.attempts) == ("running", 1)
        await ReplicaRows(store).register("worker", "test", "here", 1)
        claimed = [await JobRows(store).claim("datasets.upload", "worker", liveness=60) for _ in range(3)]
        assert {(job.subject, job.attempts) for job in claimed if job} >= {(crashed.subject, 2)}
        assert entries["set pending"].record.size_bytes == 100 and entries["set uploaded"].record.guild_id == 77
        expected = {schema.name: len(load_migrations(schema, "sqlite")) for schema in [CORE_SCHEMA, *SCHEMAS]}
        assert await store.schema_versions() == expected | {"ora": 1}
    finally:
        await store.close()
    with sqlite3.connect(old_database) as raw:
        # Release 0.1 refuses a user_version above 3: it cannot mistake the upgraded file for its own.
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SQLITE_LAYOUT_VERSION > 3


async def test_an_upgraded_database_has_the_tables_of_a_new_one(old_database: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    for path in (old_database, fresh):
        store = await Store.open(path, SCHEMAS)
        await store.close()
    assert schema_of(old_database) == schema_of(fresh)


async def test_a_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    version, _, sql = legacy_migrations()[0]
    with sqlite3.connect(path) as raw:
        raw.executescript(sql)
        raw.execute(f"PRAGMA user_version = {version}")
        raw.execute(
            "INSERT INTO users (discord_user_id, privacy_mode, created_at, updated_at) VALUES (5, 'public', 0, 0)"
        )
        raw.execute(
            "INSERT INTO datasets (owner_id, name, original_filename, size_bytes, sha256, stored_path,"
            " remote_status, created_at) VALUES (5, 'n', 'n.csv', 1, 'abc', '5/abc', 'failed: interrupted', ?)",
            (time.time(),),
        )
    store = await Store.open(path, SCHEMAS)
    try:
        assert await UserPreferences(store).get_privacy_mode(5) == "public"
        accounts = AccountQueries(store)
        await accounts.create_login_state("state-with-name", 5, ttl=60, discord_name="aiko")
        entries = await DatasetQueries(store).list(5, None)
        assert [entry.upload.state for entry in entries if entry.upload] == ["pending"]  # an interrupted upload resumes
    finally:
        await store.close()


def test_both_backends_have_the_same_migration_steps() -> None:
    for schema in [CORE_SCHEMA, *SCHEMAS]:
        sqlite = [(step.version, step.name) for step in load_migrations(schema, "sqlite")]
        postgresql = [(step.version, step.name) for step in load_migrations(schema, "postgresql")]
        assert sqlite == postgresql, schema.name
        assert sqlite, f"{schema.name} ships no migrations"
