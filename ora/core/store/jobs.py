"""Rows of the `jobs` table: durable background work (see `ora.core.jobs` for the worker that runs them).

A job is one piece of work per kind and subject (e.g. "upload dataset 42 to ORA"). `pending` jobs are due at
`next_at`; claiming one makes it `running` under the claiming process and counts an attempt; it ends `done` or
`failed`, or goes back to `pending` for a retry. A `running` job whose process is dead is claimed again (its
attempt counted). On PostgreSQL a claim skips rows another process is claiming (`FOR UPDATE SKIP LOCKED`); on
SQLite the claiming UPDATE takes the write lock before it reads. Either way two processes never run one job.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal, get_args

import attrs

from ora.core.store import Row, Statements, Store
from ora.core.store.replicas import live_owner

JobState = Literal["pending", "running", "done", "failed"]
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
MAX_ERROR_CHARS = 300

_COLUMNS = "id, kind, subject, user_id, payload, state, attempts, next_at, last_error, lease_owner, interaction_id"


@attrs.frozen
class Job:
    id: int
    kind: str
    subject: str
    user_id: int | None
    payload: dict[str, Any]
    state: JobState
    attempts: int
    next_at: float
    last_error: str | None
    lease_owner: str | None
    interaction_id: int | None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def job_from_row(row: Row) -> Job:
    payload = json.loads(row["payload"] or "{}")
    return Job(
        id=int(row["id"]),
        kind=row["kind"],
        subject=row["subject"],
        user_id=row["user_id"],
        payload=payload if isinstance(payload, dict) else {},
        state=row["state"],
        attempts=int(row["attempts"]),
        next_at=row["next_at"],
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        interaction_id=row["interaction_id"],
    )


def error_text(error: str) -> str:
    return " ".join(error.split())[:MAX_ERROR_CHARS] or "unknown error"


class JobRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def enqueue(
        self,
        kind: str,
        subject: str,
        *,
        user_id: int | None = None,
        payload: dict[str, Any] | None = None,
        on: Statements | None = None,
    ) -> Job:
        """The job of this kind and subject: created `pending` (due now) unless it exists; on `on` (a transaction)
        when given, so the job is created with whatever it is about."""
        statements = on or self._store
        now = time.time()
        row = await statements.fetch_one(
            "INSERT INTO jobs (kind, subject, user_id, payload, state, next_at, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)"
            f" ON CONFLICT (kind, subject) DO NOTHING RETURNING {_COLUMNS}",
            (kind, subject, user_id, json.dumps(payload or {}), now),
        )
        if row is None:
            row = await statements.fetch_one(
                f"SELECT {_COLUMNS} FROM jobs WHERE kind = $1 AND subject = $2", (kind, subject)
            )
            if row is None:
                raise LookupError(f"job {kind}/{subject} vanished")
        return job_from_row(row)

    async def get(self, kind: str, subject: str) -> Job | None:
        row = await self._store.fetch_one(
            f"SELECT {_COLUMNS} FROM jobs WHERE kind = $1 AND subject = $2", (kind, subject)
        )
        return job_from_row(row) if row else None

    async def restart_failed(self, kind: str, subject: str) -> bool:
        """A failed job gets a fresh set of attempts, due now; True when it was failed."""
        now = time.time()
        changed = await self._store.execute(
            "UPDATE jobs SET state = 'pending', attempts = 0, last_error = NULL, next_at = $1, updated_at = $1"
            " WHERE kind = $2 AND subject = $3 AND state = 'failed'",
            (now, kind, subject),
        )
        return changed > 0

    async def attach_interaction(self, job_id: int, interaction_id: int) -> None:
        await self._store.execute("UPDATE jobs SET interaction_id = $1 WHERE id = $2", (interaction_id, job_id))

    async def claim(self, kind: str, owner: str, liveness: float) -> Job | None:
        """Take the next due job of `kind` for `owner`: a pending one whose time has come, or a running one whose
        process is dead. Counts an attempt."""
        now = time.time()
        skip_locked = " FOR UPDATE SKIP LOCKED" if self._store.dialect == "postgresql" else ""
        row = await self._store.fetch_one(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, updated_at = $2"
            " WHERE id = (SELECT id FROM jobs WHERE kind = $3 AND ((state = 'pending' AND next_at <= $2)"
            f" OR (state = 'running' AND NOT {live_owner('jobs', 'lease_owner', '$4')}))"
            f" ORDER BY next_at, id LIMIT 1{skip_locked})"
            f" RETURNING {_COLUMNS}",
            (owner, now, kind, now - liveness),
        )
        return job_from_row(row) if row else None

    async def next_due(self, kinds: list[str]) -> float | None:
        """When the earliest pending job of `kinds` is due (None: none is pending)."""
        if not kinds:
            return None
        placeholders = ", ".join(f"${index}" for index in range(1, len(kinds) + 1))
        row = await self._store.fetch_one(
            f"SELECT MIN(next_at) AS due FROM jobs WHERE state = 'pending' AND kind IN ({placeholders})", kinds
        )
        return float(row["due"]) if row and row["due"] is not None else None

    async def finish(
        self,
        job: Job,
        owner: str,
        state: JobState,
        *,
        error: str | None = None,
        retry_at: float | None = None,
        uncount: bool = False,
    ) -> Job | None:
        """End the attempt: `done`, `failed`, or `pending` again at `retry_at`. Only while `owner` still holds
        the job (a process taken for dead must not overwrite the work of the one that took over). `uncount`: this
        claim made no attempt (its count is taken back). The job as it now is, or None when `owner` had lost it."""
        now = time.time()
        row = await self._store.fetch_one(
            "UPDATE jobs SET state = $1, last_error = $2, next_at = $3, lease_owner = NULL, updated_at = $4,"
            " attempts = attempts - $7"
            f" WHERE id = $5 AND lease_owner = $6 AND state = 'running' RETURNING {_COLUMNS}",
            (
                state,
                error_text(error) if error else None,
                retry_at if retry_at is not None else job.next_at,
                now,
                job.id,
                owner,
                1 if uncount and job.attempts > 0 else 0,
            ),
        )
        return job_from_row(row) if row else None

    async def give_back(self, job: Job, owner: str, error: str) -> bool:
        """The process is stopping mid-attempt: the attempt is not counted and the job is due at once."""
        now = time.time()
        changed = await self._store.execute(
            "UPDATE jobs SET state = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
            " last_error = $1, next_at = $2, lease_owner = NULL, updated_at = $2"
            " WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            (error_text(error), now, job.id, owner),
        )
        return changed > 0

    async def delete(self, kind: str, subject: str) -> int:
        return await self._store.execute("DELETE FROM jobs WHERE kind = $1 AND subject = $2", (kind, subject))
