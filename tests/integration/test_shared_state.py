"""State shared by processes on one database, on both backends: replicas, leases, jobs, interactions in progress.

"Processes" here are separate `Store`s (their own connections or pools) with their own `Presence`, in one test:
what the database sees is the same as with separate processes, and the test can observe every step.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import pytest

from ora.core.jobs import Done, Failed, JobQueue, JobType, Retry
from ora.core.replicas import Presence, Replica
from ora.core.store import DatabaseUrl, IntegrityError, Store, Transaction
from ora.core.store.interactions import InteractionRows, RecordedInteraction
from ora.core.store.jobs import Job, JobRows
from ora.core.store.leases import Grant, Held, Leases
from ora.core.store.replicas import ReplicaRows
from ora.features.chat.limits import ChatLimiter
from tests.conftest import SCHEMAS
from tests.waiting import eventually


@attrs.define
class Process:
    """One simulated bot process: its store, its presence in the database."""

    store: Store
    presence: Presence

    @property
    def owner(self) -> str:
        return self.presence.replica.owner

    def leases(self) -> Leases:
        return Leases(self.store, self.owner, self.presence.liveness)


StartProcess = Callable[..., Awaitable[Process]]


@pytest.fixture
async def start_process(database_url: DatabaseUrl) -> AsyncIterator[StartProcess]:
    started: list[Process] = []

    async def start(*, name: str = "bot", host: str | None = None, pid: int | None = None) -> Process:
        """A process on a host of its own unless `host` says (processes of one host may tell dead pids)."""
        store = await Store.open(database_url, SCHEMAS)
        replica = Replica(name, host=host or f"host-{len(started)}", pid=pid or os.getpid())
        presence = Presence(store, replica, interval=0.05, liveness=1.0)
        await presence.start()
        process = Process(store, presence)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.presence.close()
        await process.store.close()


async def crash(process: Process) -> None:
    """Stop beating without leaving (what SIGKILL does): the row stays, its heartbeat ages."""
    task = process.presence._task
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    process.presence._task = None


# ---------------------------------------------------------------------------------------------------- leases


async def test_two_processes_allow_at_most_the_per_user_limit_in_total(start_process: StartProcess) -> None:
    first, second = await start_process(), await start_process()
    limits = [
        ChatLimiter(process.leases(), max_total=10, max_per_user=2, lease_seconds=60) for process in (first, second)
    ]
    results = await asyncio.gather(*(limits[index % 2].acquire(42) for index in range(8)))
    held = [slot for slot in results if not isinstance(slot, str)]
    assert len(held) == 2
    assert sorted(result for result in results if isinstance(result, str)) == ["user_busy"] * 6
    assert not isinstance(await limits[0].acquire(43), str)  # another user is not held up
    await held[0].release()
    await held[0].release()  # idempotent: it does not free a slot it no longer holds
    freed = await limits[1].acquire(42)
    assert not isinstance(freed, str)
    assert await limits[0].acquire(42) == "user_busy"


async def test_the_overall_limit_holds_across_processes(start_process: StartProcess) -> None:
    first, second = await start_process(), await start_process()
    one = ChatLimiter(first.leases(), max_total=3, max_per_user=5, lease_seconds=60)
    two = ChatLimiter(second.leases(), max_total=3, max_per_user=5, lease_seconds=60)
    results = [await (one if user % 2 else two).acquire(user) for user in range(6)]
    assert [isinstance(result, str) for result in results] == [False, False, False, True, True, True]
    assert results[3] == "server_busy"


async def test_a_dead_process_frees_its_leases_and_an_expired_lease_counts_no_more(
    start_process: StartProcess,
) -> None:
    first, second = await start_process(host="elsewhere"), await start_process()
    limit = ChatLimiter(first.leases(), max_total=5, max_per_user=1, lease_seconds=60)
    assert not isinstance(await limit.acquire(7), str)
    other = ChatLimiter(second.leases(), max_total=5, max_per_user=1, lease_seconds=60)
    assert await other.acquire(7) == "user_busy"
    await crash(first)

    async def acquired() -> bool:  # the liveness is 1 s in this test
        return not isinstance(await other.acquire(7), str)

    await eventually(acquired)
    short = ChatLimiter(second.leases(), max_total=5, max_per_user=1, lease_seconds=0.01)
    assert not isinstance(await short.acquire(8), str)
    await asyncio.sleep(0.05)
    assert not isinstance(await short.acquire(8), str)  # the first expired: it counts no more
    assert await second.leases().purge() >= 2  # the dead process's and the expired one


async def test_an_admission_can_read_in_the_lease_transaction(start_process: StartProcess) -> None:
    process = await start_process()
    seen: list[Held] = []

    async def admit(held: Held, tx: Transaction) -> Grant | str:
        seen.append(held)
        row = await tx.fetch_one("SELECT COUNT(*) AS n FROM leases")
        assert row is not None
        return Grant(amount=100) if held.subject_amount + 100 <= 250 else "quota"

    leases = process.leases()
    results = [await leases.acquire("quota", "u1", ttl=60, admit=admit) for _ in range(3)]
    assert results[2] == "quota" and not isinstance(results[0], str)
    assert [held.subject_amount for held in seen] == [0, 100, 200]


# ------------------------------------------------------------------------------------------------ replicas


async def test_a_dead_process_on_this_host_is_recognised_at_once(start_process: StartProcess) -> None:
    gone = await start_process(host="this-host", pid=2**22 + 12345)  # no such process on this host
    rows = ReplicaRows(gone.store)
    assert {row.owner for row in await rows.live(time.time() - 60)} == {gone.owner}
    await crash(gone)
    alive = await start_process(host="this-host")  # its start-up sweep finds that pid not running
    owners = {row.owner for row in await rows.live(time.time() - 60)}
    assert gone.owner not in owners and alive.owner in owners


async def test_a_previous_run_with_this_pid_is_dead(start_process: StartProcess) -> None:
    previous = await start_process(host="container")
    await crash(previous)
    now = await start_process(host="container")  # same host, same pid, another run: a container restarted
    assert previous.owner not in await now.presence.live_owners()


async def test_a_silent_process_elsewhere_is_dead_after_the_liveness(start_process: StartProcess) -> None:
    elsewhere = await start_process(host="another-host")
    here = await start_process()
    assert elsewhere.owner in await here.presence.live_owners()
    await crash(elsewhere)

    async def forgotten() -> bool:
        return elsewhere.owner not in await here.presence.live_owners()

    await eventually(forgotten)


async def test_a_process_taken_for_dead_registers_again(start_process: StartProcess) -> None:
    process = await start_process()
    await ReplicaRows(process.store).remove([process.owner])

    async def back() -> bool:
        return process.owner in await process.presence.live_owners()

    await eventually(back)


# ---------------------------------------------------------------------------------------------------- jobs


async def test_two_workers_never_run_one_job_twice(start_process: StartProcess) -> None:
    first, second = await start_process(), await start_process()
    runs: Counter[str] = Counter()
    done = asyncio.Event()
    total = 40

    async def run(job: Job) -> Done:
        runs[job.subject] += 1
        await asyncio.sleep(0.01)
        if sum(runs.values()) >= total:
            done.set()
        return Done()

    queues = [JobQueue(process.store, process.presence, poll_interval=0.05) for process in (first, second)]
    for queue in queues:
        queue.register(JobType(kind="test.work", run=run, concurrency=4))
    for index in range(total):
        await queues[index % 2].enqueue("test.work", f"s{index}")
    for queue in queues:
        queue.start()
    try:
        async with asyncio.timeout(20):
            await done.wait()
            while (await queues[0].wait("test.work", f"s{total - 1}", 5)) is None:
                pass
    finally:
        for queue in queues:
            await queue.close()
    assert len(runs) == total
    assert set(runs.values()) == {1}
    rows = await first.store.fetch_all("SELECT state, attempts FROM jobs")
    assert {(row["state"], row["attempts"]) for row in rows} == {("done", 1)}


async def test_a_retry_waits_for_its_time_and_failures_end_it(start_process: StartProcess) -> None:
    process = await start_process()
    attempts: list[float] = []

    async def run(job: Job) -> Retry | Failed:
        attempts.append(time.monotonic())
        return Retry(0.3, f"busy {job.attempts}") if job.attempts < 3 else Failed("gave up")

    queue = JobQueue(process.store, process.presence, poll_interval=0.05)
    queue.register(JobType(kind="test.retry", run=run))
    await queue.enqueue("test.retry", "one", user_id=5, payload={"x": 1})
    queue.start()
    try:
        ended = await queue.wait("test.retry", "one", 10)
    finally:
        await queue.close()
    assert ended is not None and (ended.state, ended.attempts, ended.last_error) == ("failed", 3, "gave up")
    assert (ended.user_id, ended.payload) == (5, {"x": 1})
    assert len(attempts) == 3
    assert all(later - earlier >= 0.25 for earlier, later in itertools.pairwise(attempts))


async def test_a_shutdown_gives_the_attempt_back_and_another_worker_finishes_it(start_process: StartProcess) -> None:
    first, second = await start_process(), await start_process()
    started = asyncio.Event()
    interrupted: list[Job] = []

    async def hang(_: Job) -> Done:
        started.set()
        await asyncio.Event().wait()
        return Done()

    async def note(job: Job) -> None:
        interrupted.append(job)

    stopping = JobQueue(first.store, first.presence, poll_interval=0.05)
    stopping.register(JobType(kind="test.slow", run=hang, interrupted=note))
    await stopping.enqueue("test.slow", "a")
    stopping.start()
    async with asyncio.timeout(5):
        await started.wait()
    await stopping.close()
    assert [job.subject for job in interrupted] == ["a"]
    job = await JobRows(first.store).get("test.slow", "a")
    assert job is not None and (job.state, job.attempts, job.last_error) == (
        "pending",
        0,
        "interrupted (the bot stopped)",
    )

    async def finish(_: Job) -> Done:
        return Done()

    taking_over = JobQueue(second.store, second.presence, poll_interval=0.05)
    taking_over.register(JobType(kind="test.slow", run=finish))
    taking_over.start()
    try:
        ended = await taking_over.wait("test.slow", "a", 5)
    finally:
        await taking_over.close()
    assert ended is not None and (ended.state, ended.attempts) == ("done", 1)


async def test_a_job_of_a_crashed_process_is_taken_over_with_its_attempt_counted(start_process: StartProcess) -> None:
    crashed = await start_process(host="crashed-host")
    rows = JobRows(crashed.store)
    await rows.enqueue("test.crash", "a")
    claimed = await rows.claim("test.crash", crashed.owner, crashed.presence.liveness)
    assert claimed is not None and claimed.attempts == 1
    await crash(crashed)
    survivor = await start_process()
    assert await JobRows(survivor.store).claim("test.crash", survivor.owner, survivor.presence.liveness) is None
    taken = await eventually(lambda: JobRows(survivor.store).claim("test.crash", survivor.owner, 1.0))
    assert taken.attempts == 2
    # The process taken for dead cannot overwrite the outcome of the one that took its job over.
    assert await rows.finish(claimed, crashed.owner, "failed", error="late") is None
    assert await rows.give_back(claimed, crashed.owner, "late") is False
    ended = await JobRows(survivor.store).finish(taken, survivor.owner, "done")
    assert ended is not None and ended.state == "done"


async def test_a_failed_job_restarts_with_fresh_attempts_and_states_are_checked(start_process: StartProcess) -> None:
    process = await start_process()
    rows = JobRows(process.store)
    job = await rows.enqueue("test.restart", "a")
    assert (await rows.enqueue("test.restart", "a")).id == job.id  # one job per kind and subject
    claimed = await rows.claim("test.restart", process.owner, 60)
    assert claimed is not None
    await rows.finish(claimed, process.owner, "failed", error="HTTP 503:\nbusy")
    failed = await rows.get("test.restart", "a")
    assert failed is not None and (failed.state, failed.last_error) == ("failed", "HTTP 503: busy")
    assert await rows.restart_failed("test.restart", "a") is True
    assert await rows.restart_failed("test.restart", "a") is False  # only a failed job restarts
    again = await rows.get("test.restart", "a")
    assert again is not None and (again.state, again.attempts, again.last_error) == ("pending", 0, None)
    with pytest.raises(IntegrityError):
        await process.store.execute("UPDATE jobs SET state = 'uploading' WHERE id = $1", (job.id,))


# ------------------------------------------------------------------------------------- interactions in progress


def recorded(interaction_id: int, owner: str, *, answering: bool = True, lifetime: float = 900) -> RecordedInteraction:
    now = time.time()
    return RecordedInteraction(
        interaction_id=interaction_id,
        application_id=1,
        token=f"token-{interaction_id}",
        feature="chat",
        user_id=5,
        locale="ja",
        owner=owner,
        answering=answering,
        context={"summary": "s"},
        created_at=now,
        expires_at=now + lifetime,
    )


async def test_answers_of_a_dead_process_are_taken_over_once(start_process: StartProcess) -> None:
    crashed, first, second = await start_process(host="h1"), await start_process(), await start_process()
    rows = InteractionRows(crashed.store)
    await rows.record(recorded(1, crashed.owner))
    await rows.record(recorded(2, crashed.owner, answering=False))  # kept for a job: not an interrupted answer
    await rows.record(recorded(3, crashed.owner, lifetime=-1))  # its token is dead: nothing can be edited
    await rows.record(recorded(4, first.owner))  # a live process's answer
    assert await InteractionRows(first.store).take_orphaned_answers(first.owner, 1.0) == []
    await crash(crashed)

    async def gone() -> bool:
        return crashed.owner not in await first.presence.live_owners()

    await eventually(gone)
    taken = await asyncio.gather(
        InteractionRows(first.store).take_orphaned_answers(first.owner, 1.0),
        InteractionRows(second.store).take_orphaned_answers(second.owner, 1.0),
    )
    flat = [item for batch in taken for item in batch]
    assert [item.interaction_id for item in flat] == [1]
    assert (flat[0].locale, flat[0].token, flat[0].context) == ("ja", "token-1", {"summary": "s"})
    assert await rows.get(3) is None  # expired tokens are not handed out
    assert await rows.purge_expired() == 1
    assert (await rows.get(2)) is not None
