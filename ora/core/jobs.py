"""Durable background work: a worker that claims jobs from the database and runs them, on every process.

A feature registers a `JobType` (what to run, how many at once, what to do when a job ends or is interrupted)
and enqueues jobs in the database; any process of the deployment may run them, one process per job at a time,
and a job outlives the process that enqueued it (see `ora.core.store.jobs`). A job the bot's own shutdown
interrupts is given back (its attempt not counted) and due at once; one a crash interrupted is taken over by the
next worker once its process is known to be dead, the attempt counted.

The worker looks for due jobs when woken (a job enqueued or finished here) and at least every `poll_interval`
seconds (a job enqueued by another process, a retry coming due).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ora.core.cancellation import finish_then_cancel, stop_task
from ora.core.replicas import Presence
from ora.core.store import Statements, Store, StoreError
from ora.core.store.jobs import Job, JobRows

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted (the bot stopped)"
_CLOSE_GRACE = 5.0
_HOOK_TIMEOUT = 2.0


@attrs.frozen
class Done:
    """The work is done."""


@attrs.frozen
class Retry:
    """Try again after `delay` seconds (the handler decides whether attempts are left)."""

    delay: float
    error: str


@attrs.frozen
class Failed:
    """Give up: `error` says why. `counted=False`: this claim made no attempt (there was nothing left to try)."""

    error: str
    counted: bool = True


JobResult = Done | Retry | Failed
JobHook = Callable[[Job], Awaitable[None]]


@attrs.frozen
class JobType:
    kind: str
    run: Callable[[Job], Awaitable[JobResult]]
    #: Called with the job as recorded after each attempt (done, failed, or pending for a retry).
    finished: JobHook | None = None
    #: Called when the bot's shutdown interrupted the job (given back, due at the next start).
    interrupted: JobHook | None = None
    concurrency: int = 2


class JobQueue:
    def __init__(self, store: Store, presence: Presence, *, poll_interval: float = 2.0) -> None:
        self._rows = JobRows(store)
        self._presence = presence
        self._owner = presence.replica.owner
        self._poll_interval = poll_interval
        self._types: dict[str, JobType] = {}
        self._running: dict[str, set[asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._ended = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def register(self, job_type: JobType) -> None:
        if job_type.kind in self._types:
            raise ValueError(f"job kind {job_type.kind!r} is registered twice")
        self._types[job_type.kind] = job_type
        self._running[job_type.kind] = set()
        self._wake.set()

    async def enqueue(
        self,
        kind: str,
        subject: str,
        *,
        user_id: int | None = None,
        payload: dict[str, Any] | None = None,
        on: Statements | None = None,
    ) -> Job:
        """The job for `subject` (created due now unless one exists). With `on` (a transaction), call `wake()`
        after it commits."""
        job = await self._rows.enqueue(kind, subject, user_id=user_id, payload=payload, on=on)
        if on is None:
            self.wake()
        return job

    def wake(self) -> None:
        """Look for due jobs now."""
        self._wake.set()

    async def get(self, kind: str, subject: str) -> Job | None:
        return await self._rows.get(kind, subject)

    async def restart_failed(self, kind: str, subject: str) -> bool:
        restarted = await self._rows.restart_failed(kind, subject)
        if restarted:
            self.wake()
        return restarted

    async def attach_interaction(self, job: Job, interaction_id: int) -> None:
        await self._rows.attach_interaction(job.id, interaction_id)

    async def wait(self, kind: str, subject: str, timeout: float) -> Job | None:
        """The job once it is done or failed; None if it is still going after `timeout` (or does not exist)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            job = await self._rows.get(kind, subject)
            remaining = deadline - loop.time()
            if job is None or job.finished or remaining <= 0:
                return job if job is not None and job.finished else None
            async with self._ended:
                with contextlib.suppress(TimeoutError):
                    # Woken when a job ends here; the bound covers one that another process runs.
                    await asyncio.wait_for(self._ended.wait(), timeout=min(remaining, self._poll_interval))

    @property
    def running(self) -> int:
        return sum(len(tasks) for tasks in self._running.values())

    def start(self) -> None:
        self._closing = False
        if self._task is None:
            self._task = asyncio.create_task(self._work(), name="ora-job-worker")

    async def close(self) -> None:
        """Stop claiming; interrupt running jobs (each is given back); wait a little for them to record it."""
        self._closing = True
        worker, self._task = self._task, None
        if worker is not None:
            await stop_task(worker)
        tasks = [task for tasks in self._running.values() for task in tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_GRACE)

    async def _work(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                await self._claim_what_fits()
                wait = await self._time_to_next_due()
            except StoreError as error:
                log.warning("job worker: %s", error)
                wait = self._poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _claim_what_fits(self) -> None:
        if not self._presence.healthy:  # others may take us for dead: claim nothing they would take over
            return
        for kind, job_type in self._types.items():
            running = self._running[kind]
            while len(running) < job_type.concurrency and not self._closing:
                job = await self._rows.claim(kind, self._owner, self._presence.liveness)
                if job is None:
                    break
                task = asyncio.create_task(self._run(job_type, job), name=f"ora-job-{kind}-{job.subject}")
                running.add(task)
                task.add_done_callback(functools.partial(self._ran, kind))

    def _ran(self, kind: str, task: asyncio.Task[None]) -> None:
        self._running[kind].discard(task)
        self._wake.set()

    async def _time_to_next_due(self) -> float:
        due = await self._rows.next_due(list(self._types))
        if due is None:
            return self._poll_interval
        return min(max(due - time.time(), 0.05), self._poll_interval)

    async def _run(self, job_type: JobType, job: Job) -> None:
        try:
            result = await job_type.run(job)
        except asyncio.CancelledError:
            await self._give_back(job_type, job)
            raise
        except Exception:
            log.exception("job %s %s failed unexpectedly", job.kind, job.subject)
            result = Failed("internal error")
        await self._record(job_type, job, result)

    async def _record(self, job_type: JobType, job: Job, result: JobResult) -> None:
        try:
            if isinstance(result, Done):
                ended = await self._rows.finish(job, self._owner, "done")
            elif isinstance(result, Retry):
                ended = await self._rows.finish(
                    job, self._owner, "pending", error=result.error, retry_at=time.time() + result.delay
                )
            else:
                ended = await self._rows.finish(
                    job, self._owner, "failed", error=result.error, uncount=not result.counted
                )
        except StoreError:
            log.exception("job %s %s: cannot record how it ended (%s)", job.kind, job.subject, result)
            return
        if ended is None:
            log.warning("job %s %s was taken over by another process before it ended here", job.kind, job.subject)
            return
        async with self._ended:
            self._ended.notify_all()
        if job_type.finished is not None:
            try:
                await job_type.finished(ended)
            except Exception:
                log.exception("job %s %s: reporting its end failed", job.kind, job.subject)

    async def _give_back(self, job_type: JobType, job: Job) -> None:
        async def step() -> None:
            try:
                await self._rows.give_back(job, self._owner, INTERRUPTED)
            except StoreError as error:
                log.warning("job %s %s: cannot give it back: %s", job.kind, job.subject, error)
                return
            if job_type.interrupted is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_HOOK_TIMEOUT):
                        await job_type.interrupted(job)

        await finish_then_cancel(step())
