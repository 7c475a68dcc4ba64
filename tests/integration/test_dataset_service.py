"""DatasetService against the emulator's CDN, a controllable CDN of our own, a real Store (SQLite and PostgreSQL)
and FakeOraApi, with the upload to ORA run as a job by a `JobQueue`.

Every test checks what is on disk and in the database afterwards: a failure leaves no file, no row, no upload job,
no add in progress (lease) and no temporary file; a success leaves exactly one file at ``<dir>/<owner>/<sha256>``,
one row and its upload job.

A "bot" here is what one process of the bot runs for datasets: its presence in the database, its job queue (with
the upload job type when ORA is configured), the dataset service. A restart closes one and starts another on the
same database; a crash is simulated in the `jobs` table (a job left `running` by a process that is gone).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from ora.core.downloads import UrlPolicy
from ora.core.jobs import INTERRUPTED, JobQueue
from ora.core.ora_api import OraApiClient
from ora.core.replicas import Presence, Replica
from ora.core.store import Store
from ora.core.store.jobs import Job, JobRows
from ora.core.store.leases import Leases
from ora.core.store.sqlite import SQLiteDatabase
from ora.features.datasets.errors import DatasetError
from ora.features.datasets.queries import UPLOAD_JOB, DatasetQueries, DatasetRecord, upload_subject
from ora.features.datasets.service import ADD_LEASE, TEMP_DIRECTORY, AddResult, DatasetService
from ora.features.datasets.settings import DatasetSettings
from ora.features.datasets.uploads import Uploads
from ora.testing.discord import DiscordEmulator
from ora.testing.ora_api import FakeOraApi
from tests.conftest import SCHEMAS

OWNER = 1_300_000_000_000_000_300
OTHER = 1_300_000_000_000_000_301
GUILD = 1_300_000_000_000_000_100
MIB = 1024 * 1024
WAIT = 10.0
FROM_ATTACHMENT = -1  # `add(declared_size=...)` default: the size in the attachment object
#: Heartbeats are not what these tests are about: rare enough that none lands in a test's critical moment.
HEARTBEAT = 30.0
LIVENESS = 120.0
#: The owner of a job claimed by a process that then died (no replica of that name is alive).
CRASHED = "a-process-that-crashed"

_hosts = itertools.count()


# ---------------------------------------------------------------------------------------------- servers


class ControlledCdn:
    """A CDN whose misbehaviour the test steers: chunked bodies without length, bodies that stall, redirects.

    `hits` counts every request it received (to show that a refused URL was never contacted).
    """

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.hits = 0

    async def start(self) -> None:
        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            self.hits += 1
            response: web.StreamResponse = await handler(request)
            return response

        app = web.Application(middlewares=[count])
        app.router.add_get("/chunked/{size}", self._chunked)
        app.router.add_get("/stall/{size}", self._stall)
        app.router.add_get("/redirect", self._redirect)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        """`size` bytes with chunked transfer encoding: no Content-Length to check in advance."""
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        remaining = int(request.match_info["size"])
        while remaining > 0:
            chunk = min(remaining, 64 * 1024)
            await response.write(b"c" * chunk)
            remaining -= chunk
        await response.write_eof()
        return response

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        """302 to the URL in `?to=`."""
        raise web.HTTPFound(request.query["to"])

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        """Half the body, then nothing until `release` (or the server stops); then the connection is dropped."""
        size = int(request.match_info["size"])
        response = web.StreamResponse()
        response.content_length = size
        await response.prepare(request)
        await response.write(b"s" * (size // 2))
        self.started.set()
        await self.release.wait()
        if request.transport is not None:
            request.transport.close()
        return response


@pytest.fixture
def allowed_origins() -> list[str]:
    """The servers this test started that the service may download from (its `UrlPolicy`)."""
    return []


@pytest.fixture
async def cdn(allowed_origins: list[str]) -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        allowed_origins.append(emulator.rest_url)  # as in the bot: the origin of DISCORD_REST_URL
        yield emulator


@pytest.fixture
async def controlled_cdn(allowed_origins: list[str]) -> AsyncIterator[ControlledCdn]:
    server = ControlledCdn()
    await server.start()
    allowed_origins.append(server.base_url)
    yield server
    await server.stop()


@pytest.fixture
async def fake_ora() -> AsyncIterator[FakeOraApi]:
    async with FakeOraApi(token="ora-secret") as server:
        yield server


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "datasets"


@attrs.define
class Bot:
    """What one bot process runs for datasets: presence, job queue (uploads when ORA is set), the service."""

    service: DatasetService
    jobs: JobQueue
    presence: Presence
    ora: OraApiClient | None
    closed: bool = False

    async def close(self) -> None:
        """Stop as the bot does: the job worker first (a running upload is given back), then the service."""
        if self.closed:
            return
        self.closed = True
        await self.jobs.close()
        await self.service.close()
        await self.presence.close()
        if self.ora is not None:
            await self.ora.close()


StartBot = Callable[..., Awaitable[Bot]]
MakeService = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def start_bot(directory: Path, fake_ora: FakeOraApi, allowed_origins: list[str]) -> AsyncIterator[StartBot]:
    """Starts bots on a given store; closes them (newest first) at the end."""
    started: list[Bot] = []

    async def start(
        store: Store,
        *,
        ora: bool = True,
        ora_url: str | None = None,
        ora_timeout: float = 5.0,
        retry_delay: float = 0.01,
        poll_interval: float = 0.05,
        url_policy: UrlPolicy | None = None,
        max_concurrent_downloads: int = 4,
        **settings: Any,
    ) -> Bot:
        """`settings` are `DatasetSettings` fields (max_bytes, max_per_user, quota_bytes, upload_attempts, ...)."""
        settings.setdefault("max_bytes", 8 * MIB)
        settings.setdefault("download_timeout", 10.0)
        # A host of its own: two live processes of one host with one pid would each take the other for a dead
        # run of itself (a restarted container) and drop it from the replicas.
        replica = Replica("datasets-test", host=f"datasets-test-host-{next(_hosts)}")
        presence = Presence(store, replica, interval=HEARTBEAT, liveness=LIVENESS)
        await presence.start()
        jobs = JobQueue(store, presence, poll_interval=poll_interval)
        queries = DatasetQueries(store)
        client = None
        if ora:
            client = OraApiClient(ora_url or fake_ora.base_url, token="ora-secret", timeout=ora_timeout)
            await client.start()
        service = DatasetService(
            queries,
            Leases(store, replica.owner, presence.liveness),
            jobs,
            DatasetSettings(directory=directory, **settings),
            ora_enabled=client is not None,
            url_policy=url_policy if url_policy is not None else UrlPolicy.allowing(allowed_origins),
            incoming=replica.folder_name,
            max_concurrent_downloads=max_concurrent_downloads,
        )
        bot = Bot(service, jobs, presence, client)
        started.append(bot)
        await service.start(await presence.live_owners())
        if client is not None:
            uploads = Uploads(queries, service, client, jobs, None, retry_delay=retry_delay)
            jobs.register(uploads.job_type())
        jobs.start()
        return bot

    yield start
    for bot in reversed(started):
        await bot.close()


@pytest.fixture
async def make_service(store: Store, start_bot: StartBot) -> MakeService:
    """A bot on the test's store (SQLite, then PostgreSQL); see `start_bot` for the options."""
    return functools.partial(start_bot, store)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """For what only SQLite can show (its trace hook, another connection holding the write lock)."""
    opened = await Store.open(tmp_path / "trace.db", SCHEMAS)
    yield opened
    await opened.close()


@pytest.fixture
async def make_sqlite_service(sqlite_store: Store, start_bot: StartBot) -> MakeService:
    return functools.partial(start_bot, sqlite_store)


# ---------------------------------------------------------------------------------------------- helpers


async def add(
    bot: Bot,
    attachment: dict[str, Any],
    *,
    owner: int = OWNER,
    guild: int | None = GUILD,
    name: str | None = None,
    filename: str | None = None,
    declared_size: int | None = FROM_ATTACHMENT,
    size_limit: int | None = None,
) -> AddResult:
    return await bot.service.add(
        owner_id=owner,
        guild_id=guild,
        attachment_url=str(attachment["url"]),
        declared_size=int(attachment["size"]) if declared_size == FROM_ATTACHMENT else declared_size,
        filename=filename if filename is not None else str(attachment["filename"]),
        content_type=attachment.get("content_type"),
        name=name,
        size_limit=size_limit,
    )


def stored_files(directory: Path) -> list[Path]:
    """Every file under the dataset folder except the (expected empty) temporary folders."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and TEMP_DIRECTORY not in p.parts)


def temp_files(directory: Path) -> list[Path]:
    """Every file in the temporary folders (each process has its own under `.incoming`)."""
    return sorted(p for p in (directory / TEMP_DIRECTORY).rglob("*") if p.is_file())


async def rows(store: Store, owner: int = OWNER) -> list[DatasetRecord]:
    return [entry.record for entry in await DatasetQueries(store).list(owner, None, 100)]


async def upload_job(store: Store, dataset_id: int) -> Job:
    """The upload job of a dataset, as the database has it now."""
    job = await JobRows(store).get(UPLOAD_JOB, upload_subject(dataset_id))
    assert job is not None, f"dataset {dataset_id} has no upload job"
    return job


async def dataset(store: Store, dataset_id: int) -> DatasetRecord:
    record = await DatasetQueries(store).get(dataset_id)
    assert record is not None
    return record


async def assert_nothing_stored(store: Store, directory: Path) -> None:
    assert stored_files(directory) == []
    assert temp_files(directory) == []
    assert await rows(store) == []
    assert await store.fetch_all("SELECT id FROM jobs") == []  # no upload job for what was not stored
    # ...and the add in progress was ended at once (it no longer counts against the user's limits)
    assert await store.fetch_all("SELECT holder FROM leases WHERE name = $1", (ADD_LEASE,)) == []


async def outcome_of(bot: Bot, record: DatasetRecord) -> Job:
    """The upload job once it is done or failed."""
    job = await bot.jobs.wait(UPLOAD_JOB, upload_subject(record.id), WAIT)
    assert job is not None, "the upload did not finish in time"
    return job


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- storing


async def test_stores_file_under_its_hash_and_writes_the_row(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("train.csv", size=3 * MIB + 17, seed=7)
    expected = cdn.attachment_sha256(attachment)

    result = await add(bot, attachment)

    record = result.record
    assert not result.duplicate
    # Without ORA its upload job waits, never tried, until ORA is configured.
    assert result.upload is not None
    assert (result.upload.state, result.upload.attempts) == ("pending", 0)
    assert record.sha256 == expected
    assert record.size_bytes == 3 * MIB + 17
    assert record.name == "train.csv"
    assert record.original_filename == "train.csv"
    assert record.content_type == "text/csv"
    assert record.owner_id == OWNER
    assert record.guild_id == GUILD
    assert await upload_job(store, record.id) == result.upload
    assert record.stored_path == f"{OWNER}/{expected}"
    assert stored_files(directory) == [directory / str(OWNER) / expected]
    assert hashlib.sha256(bot.service.path_of(record).read_bytes()).hexdigest() == expected
    assert temp_files(directory) == []
    assert await rows(store) == [record]


async def test_custom_name_is_cleaned_and_kept_apart_from_the_file_name(
    cdn: DiscordEmulator, make_service: MakeService
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("data.jsonl", b'{"a": 1}\n')
    result = await add(bot, attachment, name="  My\ndataset \u202eevil  ")
    assert result.record.name == "My dataset evil"
    assert result.record.original_filename == "data.jsonl"


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        (".env", "env"),
        ("bad\x00name\nwith\r\nbreaks.txt", "badname with breaks.txt"),
        ("a" * 300 + ".csv", "a" * 196 + ".csv"),
        ("\u202egpj.exe", "gpj.exe"),
        ("学習データ.csv", "学習データ.csv"),
    ],
)
async def test_hostile_file_names_never_reach_the_path(
    cdn: DiscordEmulator, make_service: MakeService, directory: Path, hostile: str, expected: str
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("upload.bin", hostile.encode() + b" content")
    result = await add(bot, attachment, filename=hostile)
    record = result.record
    assert record.original_filename == expected
    assert record.name == expected[:100]  # display names are bounded tighter
    assert record.stored_path == f"{OWNER}/{record.sha256}"
    assert stored_files(directory) == [directory / str(OWNER) / record.sha256]
    assert not (directory.parent / "etc").exists()


async def test_same_content_twice_is_reported_not_stored_twice(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    first = await add(bot, cdn.add_attachment("one.csv", b"a,b\n1,2\n"), name="first name")
    second = await add(bot, cdn.add_attachment("two.csv", b"a,b\n1,2\n"), name="second name")
    assert second.duplicate
    assert second.record == first.record
    assert second.record.name == "first name"
    assert len(stored_files(directory)) == 1
    assert len(await rows(store)) == 1
    assert temp_files(directory) == []


async def test_same_content_from_another_user_is_theirs(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    mine = await add(bot, cdn.add_attachment("x.csv", b"shared"))
    theirs = await add(bot, cdn.add_attachment("x.csv", b"shared"), owner=OTHER)
    assert not theirs.duplicate
    assert theirs.record.id != mine.record.id
    assert len(stored_files(directory)) == 2
    assert len(await rows(store, OTHER)) == 1


async def test_concurrent_adds_of_the_same_content_store_it_once(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, max_per_user=3)
    attachments = [cdn.add_attachment(f"copy{i}.bin", size=MIB, seed=3) for i in range(3)]
    results = await asyncio.gather(*(add(bot, attachment) for attachment in attachments))
    assert sorted(result.duplicate for result in results) == [False, True, True]
    assert len({result.record.id for result in results}) == 1
    assert len(stored_files(directory)) == 1
    assert len(await rows(store)) == 1
    assert temp_files(directory) == []


async def test_a_duplicate_restores_a_file_that_went_missing(cdn: DiscordEmulator, make_service: MakeService) -> None:
    bot = await make_service(ora=False)
    first = await add(bot, cdn.add_attachment("x.csv", b"precious"))
    bot.service.path_of(first.record).unlink()
    again = await add(bot, cdn.add_attachment("x.csv", b"precious"))
    assert again.duplicate
    assert bot.service.path_of(first.record).read_bytes() == b"precious"


# ---------------------------------------------------------------------------------------------- refusals


async def test_declared_size_over_the_limit_is_refused_before_downloading(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, max_bytes=4 * MIB)
    attachment = cdn.add_attachment("big.bin", size=5 * MIB)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)
    assert caught.value.code == "too_large"
    assert caught.value.limit == 4 * MIB
    assert caught.value.size == 5 * MIB
    assert cdn.attachment(attachment).downloads == 0
    await assert_nothing_stored(store, directory)


async def test_the_interaction_limit_lowers_the_configured_one(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, max_bytes=8 * MIB)
    attachment = cdn.add_attachment("big.bin", size=2 * MIB)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment, size_limit=MIB)
    assert caught.value.code == "too_large"
    assert caught.value.limit == MIB
    assert bot.service.limit_for(MIB) == MIB
    assert bot.service.limit_for(None) == 8 * MIB
    await assert_nothing_stored(store, directory)


async def test_content_length_over_the_limit_is_refused_when_size_was_not_declared(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, max_bytes=MIB)
    attachment = cdn.add_attachment("big.bin", size=3 * MIB)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment, declared_size=None)
    assert caught.value.code == "too_large"
    await assert_nothing_stored(store, directory)


async def test_bytes_received_over_the_limit_abort_the_download(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, max_bytes=MIB)
    attachment = {"url": f"{controlled_cdn.base_url}/chunked/{4 * MIB}", "size": 100, "filename": "liar.bin"}
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)  # declares 100 bytes, sends 4 MiB without Content-Length
    assert caught.value.code == "too_large"
    await assert_nothing_stored(store, directory)


async def test_a_body_without_content_length_is_stored_when_within_limits(
    controlled_cdn: ControlledCdn, make_service: MakeService
) -> None:
    bot = await make_service(ora=False)
    size = 2 * MIB + 5
    attachment = {"url": f"{controlled_cdn.base_url}/chunked/{size}", "size": size, "filename": "c.bin"}
    result = await add(bot, attachment)
    assert result.record.sha256 == sha256(b"c" * size)


@pytest.mark.parametrize(("fault", "status"), [("404", 404), ("403", 403)])
async def test_cdn_errors_store_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path, fault: Any, status: int
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("gone.csv", size=MIB, fault=fault)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)
    assert caught.value.code == "download_failed"
    assert caught.value.status == status
    await assert_nothing_stored(store, directory)


async def test_an_expired_or_tampered_url_stores_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("a.csv", b"a,b\n")
    attachment["url"] = str(attachment["url"]).replace("hm=", "hm=0")
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)
    assert caught.value.code == "download_failed"
    assert caught.value.status == 404
    await assert_nothing_stored(store, directory)


@pytest.mark.parametrize("fault", ["drop_mid_body", "wrong_length"])
async def test_bodies_cut_short_store_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path, fault: Any
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("cut.bin", size=3 * MIB, fault=fault)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)
    assert caught.value.code == "download_interrupted"
    await assert_nothing_stored(store, directory)


async def test_a_body_shorter_than_declared_stores_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("short.bin", b"x" * 1000)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment, declared_size=2000)
    assert caught.value.code == "download_interrupted"
    await assert_nothing_stored(store, directory)


async def test_a_body_longer_than_declared_stores_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("long.bin", b"x" * 1000)
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment, declared_size=500)
    assert caught.value.code == "size_mismatch"
    await assert_nothing_stored(store, directory)


async def test_an_empty_file_is_refused(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    with pytest.raises(DatasetError) as caught:
        await add(bot, cdn.add_attachment("empty.csv", b""))
    assert caught.value.code == "empty"
    await assert_nothing_stored(store, directory)


async def test_an_unreachable_cdn_stores_nothing(make_service: MakeService, store: Store, directory: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = await make_service(ora=False, url_policy=UrlPolicy.allowing([f"http://127.0.0.1:{port}"]))
    with pytest.raises(DatasetError) as caught:
        await add(bot, {"url": f"http://127.0.0.1:{port}/x", "size": 10, "filename": "x"})
    assert caught.value.code == "download_failed"
    await assert_nothing_stored(store, directory)


async def test_a_stalled_download_times_out(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, download_timeout=0.5)
    attachment = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)
    assert caught.value.code == "download_timeout"
    await assert_nothing_stored(store, directory)


# ---------------------------------------------------------------------------------------------- lifecycle


async def test_start_removes_temporary_files_left_by_a_crash(
    store: Store, directory: Path, make_service: MakeService
) -> None:
    incoming = directory / TEMP_DIRECTORY
    (incoming / "deadbeef").mkdir(parents=True)  # the folder of a process that no longer runs
    leftover = incoming / "deadbeef" / "0123abcd.part"
    leftover.write_bytes(b"half a file")
    older = incoming / "cafe.part"  # left by a release before per-process folders
    older.write_bytes(b"another half")
    running = await make_service(ora=False)
    assert not leftover.exists()
    assert not older.exists()
    assert temp_files(directory) == []
    assert running.service.temp_directory.is_dir()

    # A download in progress in a process that still runs is left alone by another one starting.
    in_progress = running.service.temp_directory / "4567cdef.part"
    in_progress.write_bytes(b"still arriving")
    await make_service(ora=False)
    assert temp_files(directory) == [in_progress]


async def test_close_during_a_download_cleans_up_and_says_so(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    attachment = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    adding = asyncio.create_task(add(bot, attachment))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    async with asyncio.timeout(WAIT):
        await bot.close()
    with pytest.raises(DatasetError) as caught:
        async with asyncio.timeout(WAIT):
            await adding
    assert caught.value.code == "shutting_down"
    await assert_nothing_stored(store, directory)
    with pytest.raises(DatasetError):
        await add(bot, attachment)


async def test_a_cancelled_command_cancels_its_download(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False)
    attachment = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    adding = asyncio.create_task(add(bot, attachment))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    adding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await adding
    await assert_nothing_stored(store, directory)


# ---------------------------------------------------------------------------------------------- listing


async def test_list_shows_the_newest_ten_of_this_guild(cdn: DiscordEmulator, make_service: MakeService) -> None:
    bot = await make_service(ora=False)
    for index in range(12):
        await add(bot, cdn.add_attachment(f"f{index}.txt", f"content {index}".encode()))
    await add(bot, cdn.add_attachment("dm.txt", b"in a DM"), guild=None)
    await add(bot, cdn.add_attachment("other.txt", b"someone else"), owner=OTHER)

    in_guild = await bot.service.list(OWNER, GUILD)
    assert [entry.record.name for entry in in_guild] == [f"f{index}.txt" for index in range(11, 1, -1)]
    # Without ORA nothing is being uploaded: every upload job waits, untried.
    assert [(e.upload.state, e.upload.attempts) if e.upload else None for e in in_guild] == [("pending", 0)] * 10
    everywhere = await bot.service.list(OWNER, None)
    assert everywhere[0].record.name == "dm.txt"
    assert await bot.service.list(OTHER + 1, GUILD) == []


# ---------------------------------------------------------------------------------------------- ORA


async def test_upload_to_ora_records_the_remote_id(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi, directory: Path
) -> None:
    bot = await make_service()
    attachment = cdn.add_attachment("データ.csv", size=2 * MIB + 3, seed=11, content_type="text/csv")
    result = await add(bot, attachment, name="学習データ")
    outcome = await outcome_of(bot, result.record)

    assert outcome.state == "done"
    assert outcome.attempts == 1
    (ingest,) = fake_ora.ingests
    assert ingest.sha256 == result.record.sha256 == cdn.attachment_sha256(attachment)
    assert ingest.size == 2 * MIB + 3
    assert ingest.filename == "データ.csv"
    assert ingest.content_type == "text/csv"
    assert ingest.fields == {
        "name": "学習データ",
        "sha256": result.record.sha256,
        "size": str(2 * MIB + 3),
        "discord_user_id": str(OWNER),
        "guild_id": str(GUILD),
    }
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert (job.state, job.attempts, job.last_error, job.lease_owner) == ("done", 1, None, None)
    assert row.remote_id is not None
    assert row.remote_id == ingest.remote_id
    assert len(stored_files(directory)) == 1


async def test_upload_from_a_dm_sends_an_empty_guild_id(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    bot = await make_service()
    result = await add(bot, cdn.add_attachment("dm.txt", b"dm"), guild=None)
    assert (await outcome_of(bot, result.record)).state == "done"
    assert fake_ora.ingests[0].fields["guild_id"] == ""


async def test_ora_500_then_success_is_retried(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_failures = 1
    bot = await make_service(upload_attempts=3)
    result = await add(bot, cdn.add_attachment("r.csv", b"retry me"))
    outcome = await outcome_of(bot, result.record)
    assert outcome.state == "done"
    assert outcome.attempts == 2
    assert [ingest.status for ingest in fake_ora.ingests] == [500, 201]
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert (job.state, job.attempts, job.last_error) == ("done", 2, None)
    assert row.remote_id == fake_ora.ingests[1].remote_id


async def test_ora_always_500_fails_after_bounded_attempts_and_keeps_the_file(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi, directory: Path
) -> None:
    fake_ora.ingest_failures = 100
    bot = await make_service(upload_attempts=3)
    result = await add(bot, cdn.add_attachment("f.csv", b"fail me"))
    outcome = await outcome_of(bot, result.record)
    assert outcome.state == "failed"
    assert outcome.attempts == 3
    assert fake_ora.ingest_attempts == 3
    assert outcome.last_error is not None
    assert outcome.last_error.startswith("HTTP 500")
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert (job.state, job.attempts) == ("failed", 3)
    assert job.last_error is not None and job.last_error.startswith("HTTP 500")
    assert row.remote_id is None
    assert bot.service.path_of(row).read_bytes() == b"fail me"
    assert temp_files(directory) == []


async def test_a_client_error_from_ora_is_not_retried(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_failures = 5
    fake_ora.ingest_failure_status = 413
    bot = await make_service(upload_attempts=3)
    result = await add(bot, cdn.add_attachment("f.csv", b"too big for ORA"))
    outcome = await outcome_of(bot, result.record)
    assert outcome.attempts == 1
    assert fake_ora.ingest_attempts == 1
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert job.state == "failed"
    assert job.last_error is not None and job.last_error.startswith("HTTP 413")


async def test_a_slow_ora_times_out_and_retries_a_bounded_number_of_times(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.fault = "slow"
    bot = await make_service(ora_timeout=0.3, upload_attempts=2)
    started = time.monotonic()
    result = await add(bot, cdn.add_attachment("s.csv", b"slow"))
    outcome = await outcome_of(bot, result.record)
    assert time.monotonic() - started < 5
    assert outcome.attempts == 2
    assert fake_ora.ingest_attempts == 2
    assert outcome.last_error is not None
    assert "no answer" in outcome.last_error
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert job.state == "failed"
    assert job.last_error is not None and job.last_error.startswith("no answer")
    assert bot.service.path_of(row).exists()


async def test_an_unreachable_ora_fails_and_keeps_the_file(
    cdn: DiscordEmulator, make_service: MakeService, store: Store
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = await make_service(ora_url=f"http://127.0.0.1:{port}", upload_attempts=2)
    result = await add(bot, cdn.add_attachment("u.csv", b"nobody home"))
    outcome = await outcome_of(bot, result.record)
    assert outcome.attempts == 2
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert job.state == "failed"
    assert job.last_error is not None and job.last_error.startswith("cannot reach ORA")
    assert bot.service.path_of(row).read_bytes() == b"nobody home"


async def test_adding_a_failed_upload_again_retries_it(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi, directory: Path
) -> None:
    fake_ora.ingest_failures = 1
    bot = await make_service(upload_attempts=1)
    first = await add(bot, cdn.add_attachment("again.csv", b"second chance"))
    assert (await outcome_of(bot, first.record)).state == "failed"
    again = await add(bot, cdn.add_attachment("again.csv", b"second chance"))
    assert again.duplicate
    assert again.upload is not None and again.upload.state != "failed"  # the failed job was started again
    assert (await outcome_of(bot, again.record)).state == "done"
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    assert (job.state, job.attempts, job.last_error) == ("done", 1, None)  # a fresh set of attempts
    assert len(stored_files(directory)) == 1
    uploaded_again = await add(bot, cdn.add_attachment("again.csv", b"second chance"))
    assert uploaded_again.duplicate
    assert uploaded_again.upload == job  # already at ORA: nothing is started again
    assert fake_ora.ingest_attempts == 2


async def test_list_marks_uploads_in_progress(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_delay = 0.5
    bot = await make_service()
    result = await add(bot, cdn.add_attachment("p.csv", b"pending"))
    await fake_ora.wait_ingest_attempts(1, WAIT)
    (entry,) = await bot.service.list(OWNER, GUILD)
    assert entry.upload is not None and entry.upload.state == "running"
    await outcome_of(bot, result.record)
    (entry,) = await bot.service.list(OWNER, GUILD)
    assert entry.upload is not None and entry.upload.state == "done"
    assert entry.record.remote_id == fake_ora.ingests[0].remote_id


async def test_waiting_for_an_upload_is_bounded_and_does_not_cancel_it(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_delay = 0.5
    bot = await make_service()
    result = await add(bot, cdn.add_attachment("w.csv", b"wait"))
    assert result.upload is not None
    assert await bot.jobs.wait(UPLOAD_JOB, upload_subject(result.record.id), 0.01) is None
    assert (await outcome_of(bot, result.record)).state == "done"
    assert len(fake_ora.accepted_ingests) == 1


async def test_close_during_an_upload_records_the_interruption_and_the_next_start_finishes_it(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.hold_ingests = True
    bot = await make_service(ora_timeout=30.0, upload_attempts=1)
    result = await add(bot, cdn.add_attachment("i.csv", b"interrupted"))
    await fake_ora.wait_ingest_attempts(1, WAIT)
    (row,) = await rows(store)
    job = await upload_job(store, row.id)
    # Claimed (an attempt counted, this process named) before the bytes went out.
    assert (job.state, job.attempts, job.lease_owner) == ("running", 1, bot.presence.replica.owner)
    async with asyncio.timeout(WAIT):
        await bot.close()
    job = await upload_job(store, row.id)
    # The attempt the shutdown cut off is given back: even with a single attempt allowed, it is tried again.
    assert (job.state, job.attempts, job.last_error, job.lease_owner) == ("pending", 0, INTERRUPTED, None)
    assert job.next_at <= time.time()  # due at once, at the next start
    assert bot.service.path_of(row).read_bytes() == b"interrupted"
    assert result.upload is not None and result.upload.id == job.id

    fake_ora.release_ingests()
    restarted = await make_service(ora_timeout=30.0, upload_attempts=1)
    outcome = await outcome_of(restarted, row)
    assert (outcome.state, outcome.attempts, outcome.last_error) == ("done", 1, None)
    (row,) = await rows(store)
    (accepted,) = fake_ora.accepted_ingests
    assert row.remote_id == accepted.remote_id
    assert accepted.sha256 == row.sha256


async def test_other_work_stays_responsive_during_a_large_add(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    bot = await make_service(max_bytes=32 * MIB)
    attachment = cdn.add_attachment("big.bin", size=24 * MIB, seed=5)
    worst = 0.0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - before - 0.005)

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    try:
        outcome = await outcome_of(bot, (await add(bot, attachment)).record)
    finally:
        stop.set()
        await tick
    assert outcome.state == "done"
    assert fake_ora.ingests[0].sha256 == cdn.attachment_sha256(attachment)
    # The emulator and fake ORA run on this same loop, so this bounds all three together.
    assert worst < 0.25, f"the event loop was blocked for {worst:.3f} s"


# ---------------------------------------------------------------------------------------------- stopping mid-record
# SQLite only: its trace hook shows the bot's statements as they start in aiosqlite's thread, and a second
# connection holding the write lock makes the bot's recording transaction wait there, at a known point.


@attrs.define
class RecordingStall:
    """Makes the bot's recording transaction (the dataset's row and its upload job) wait for SQLite's write lock.

    When the bot looks up the downloaded file's hash (just before it places the file and records it), another
    connection takes the write lock — and, given a `winner`, inserts that row as an identical add that got there
    first would, with its upload job. `recording` is set once the bot's `BEGIN IMMEDIATE` is waiting in its
    thread; `release()` commits the other connection, and the bot's transaction goes on.
    """

    store: Store
    winner: tuple[str, bytes] | None = None
    recording: asyncio.Event = attrs.field(factory=asyncio.Event)
    held: bool = False  # the other connection did take the write lock
    _blocker: sqlite3.Connection | None = None
    _looked_up: bool = False

    async def arm(self) -> None:
        database = self.store.database
        assert isinstance(database, SQLiteDatabase)
        # Used from aiosqlite's thread (the trace hook) and then from this one (release).
        self._blocker = sqlite3.connect(database.path, isolation_level=None, check_same_thread=False)
        loop = asyncio.get_running_loop()

        def trace(sql: str) -> None:  # runs in aiosqlite's thread, as the statement starts
            statement = " ".join(sql.split()).upper()
            if not self._looked_up and "FROM DATASETS WHERE OWNER_ID" in statement and "AND SHA256" in statement:
                self._looked_up = True
                self._hold_the_write_lock()
            elif self._looked_up and statement.startswith("BEGIN IMMEDIATE"):
                loop.call_soon_threadsafe(self.recording.set)

        await database.connection.set_trace_callback(trace)

    def _hold_the_write_lock(self) -> None:
        assert self._blocker is not None
        self._blocker.execute("BEGIN IMMEDIATE")
        if self.winner is not None:
            name, content = self.winner
            digest = sha256(content)
            self._blocker.execute(
                "INSERT INTO datasets (owner_id, guild_id, name, original_filename, size_bytes, sha256, stored_path,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (OWNER, GUILD, name, f"{name}.csv", len(content), digest, f"{OWNER}/{digest}"),
            )
            self._blocker.execute(
                "INSERT INTO jobs (kind, subject, user_id, state, next_at, created_at, updated_at)"
                " VALUES (?, CAST(last_insert_rowid() AS TEXT), ?, 'pending', 0, 0, 0)",
                (UPLOAD_JOB, OWNER),
            )
        self.held = True

    async def release(self) -> None:
        blocker, self._blocker = self._blocker, None
        if blocker is not None:
            if blocker.in_transaction:
                blocker.execute("COMMIT")
            blocker.close()
        database = self.store.database
        assert isinstance(database, SQLiteDatabase)
        await database.connection.set_trace_callback(None)  # type: ignore[arg-type]  # None ends the tracing (sqlite3)


async def close_while_recording(bot: Bot) -> asyncio.Task[None]:
    """Stop the bot while its recording transaction waits in aiosqlite's thread: the job worker first (as the
    bot stops it, before the services), then the service, which cancels the add."""
    await bot.jobs.close()
    closing = asyncio.create_task(bot.service.close())
    # Loop iterations only (no time passes): close() cancels the add and the add reacts to the cancellation,
    # while the transaction is still waiting for the write lock in its thread.
    for _ in range(10):
        await asyncio.sleep(0)
    return closing


async def test_a_shutdown_during_the_insert_keeps_the_row_and_its_file_together(
    cdn: DiscordEmulator, make_sqlite_service: MakeService, sqlite_store: Store, fake_ora: FakeOraApi
) -> None:
    store = sqlite_store
    # A long poll: the job worker must not queue a statement behind the write lock while the test holds it.
    bot = await make_sqlite_service(poll_interval=60.0)
    stall = RecordingStall(store)
    await stall.arm()
    content = b"recorded while the bot was stopping"
    try:
        adding = asyncio.create_task(add(bot, cdn.add_attachment("late.csv", content)))
        async with asyncio.timeout(WAIT):
            await stall.recording.wait()
        closing = await close_while_recording(bot)
    finally:
        await stall.release()
    async with asyncio.timeout(WAIT):
        await closing
        (result,) = await asyncio.gather(adding, return_exceptions=True)
    assert stall.held

    (row,) = await rows(store)  # the INSERT went through...
    assert bot.service.path_of(row).read_bytes() == content  # ...and the file it points to is there
    assert isinstance(result, AddResult), f"the user was told {result!r}"  # not "nothing was stored"
    assert result.interrupted
    assert result.record == row
    assert result.upload is None
    job = await upload_job(store, row.id)  # recorded with the row; it waits for the next start
    assert (job.state, job.attempts) == ("pending", 0)
    assert fake_ora.ingest_attempts == 0
    await bot.close()

    restarted = await make_sqlite_service()  # the next start sends it
    assert (await outcome_of(restarted, row)).state == "done"
    (row,) = await rows(store)
    assert [ingest.sha256 for ingest in fake_ora.accepted_ingests] == [row.sha256]
    assert row.remote_id == fake_ora.accepted_ingests[0].remote_id


async def test_a_cancelled_insert_never_removes_the_file_of_an_identical_add_that_won(
    cdn: DiscordEmulator, make_sqlite_service: MakeService, sqlite_store: Store
) -> None:
    store = sqlite_store
    bot = await make_sqlite_service(ora=False)
    content = b"the same bytes, added twice at once"
    # The identical add that got there first: its row points to the very path the bot is about to fill.
    stall = RecordingStall(store, winner=("first", content))
    await stall.arm()
    try:
        adding = asyncio.create_task(add(bot, cdn.add_attachment("second.csv", content)))
        async with asyncio.timeout(WAIT):
            await stall.recording.wait()
        closing = await close_while_recording(bot)
    finally:
        await stall.release()
    async with asyncio.timeout(WAIT):
        await closing
        (result,) = await asyncio.gather(adding, return_exceptions=True)
    assert stall.held

    (row,) = await rows(store)
    assert row.name == "first"
    assert bot.service.path_of(row).read_bytes() == content
    assert stored_files(bot.service.directory) == [bot.service.path_of(row)]
    assert temp_files(bot.service.directory) == []
    assert isinstance(result, AddResult), f"the user was told {result!r}"
    assert result.interrupted  # the add was cancelled while its insert waited
    assert result.duplicate
    assert result.record == row
    # The losing insert left nothing behind: the only upload job is the winner's.
    assert [job["subject"] for job in await store.fetch_all("SELECT subject FROM jobs")] == [upload_subject(row.id)]


# ---------------------------------------------------------------------------------------------- resuming uploads


async def crashed_mid_upload(bot: Bot, store: Store, attachment: dict[str, Any], attempts: int) -> int:
    """A stored dataset whose upload a crash cut off after `attempts` attempts: each one claimed by a process
    that then died (the job is left `running` under an owner that is not alive, as SIGKILL leaves it)."""
    record = (await add(bot, attachment)).record
    jobs = JobRows(store)
    for attempt in range(1, attempts + 1):
        claimed = await jobs.claim(UPLOAD_JOB, CRASHED, LIVENESS)
        assert claimed is not None and claimed.subject == upload_subject(record.id)
        assert (claimed.state, claimed.attempts) == ("running", attempt)
    return record.id


async def test_an_upload_a_crash_cut_off_is_finished_at_the_next_start(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    dataset_id = await crashed_mid_upload(local, store, cdn.add_attachment("c.csv", b"crashed"), attempts=1)
    bot = await make_service(upload_attempts=3)
    outcome = await outcome_of(bot, await dataset(store, dataset_id))
    assert (outcome.state, outcome.attempts) == ("done", 2)  # the crashed attempt counts
    job = await upload_job(store, dataset_id)
    assert (job.state, job.attempts, job.lease_owner) == ("done", 2, None)
    assert len(fake_ora.accepted_ingests) == 1
    assert (await dataset(store, dataset_id)).remote_id == fake_ora.accepted_ingests[0].remote_id


async def test_a_crash_during_the_last_attempt_ends_as_failed_without_another_try(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    dataset_id = await crashed_mid_upload(local, store, cdn.add_attachment("c.csv", b"crashed twice"), attempts=2)
    bot = await make_service(upload_attempts=2)
    await outcome_of(bot, await dataset(store, dataset_id))
    job = await upload_job(store, dataset_id)
    assert job.state == "failed"
    # Both allowed attempts were used; taking the job over only to give up is not counted as another one.
    assert job.attempts == 2
    assert job.last_error == "the bot stopped during the last attempt"
    assert fake_ora.ingest_attempts == 0
    (entry,) = await bot.service.list(OWNER, GUILD)
    assert entry.upload is not None and entry.upload.state == "failed"  # not being uploaded any more


async def test_files_stored_without_ora_are_sent_once_ora_is_configured(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    for index in range(5):
        await add(local, cdn.add_attachment(f"f{index}.csv", f"kept locally {index}".encode()))
    await local.close()
    assert fake_ora.ingest_attempts == 0
    assert {(await upload_job(store, row.id)).state for row in await rows(store)} == {"pending"}
    bot = await make_service()
    outcomes = [await outcome_of(bot, row) for row in await rows(store)]
    assert {outcome.state for outcome in outcomes} == {"done"}
    assert sorted(ingest.sha256 for ingest in fake_ora.accepted_ingests) == sorted(r.sha256 for r in await rows(store))
    assert all(row.remote_id is not None for row in await rows(store))


async def test_a_retry_due_later_waits_for_its_time_after_a_restart(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    record = (await add(local, cdn.add_attachment("r.csv", b"retry later"))).record
    jobs = JobRows(store)
    claimed = await jobs.claim(UPLOAD_JOB, CRASHED, LIVENESS)
    assert claimed is not None and claimed.attempts == 1
    retried = await jobs.finish(claimed, CRASHED, "pending", error="HTTP 503: busy", retry_at=time.time() + 0.5)
    assert retried is not None and (retried.state, retried.last_error) == ("pending", "HTTP 503: busy")
    started = time.monotonic()
    bot = await make_service()
    outcome = await outcome_of(bot, record)
    assert time.monotonic() - started >= 0.4
    assert (outcome.state, outcome.attempts) == ("done", 2)
    job = await upload_job(store, record.id)
    assert (job.state, job.attempts, job.last_error) == ("done", 2, None)
    assert len(fake_ora.accepted_ingests) == 1


# ---------------------------------------------------------------------------------------------- where downloads go


async def test_an_attachment_url_off_the_allowed_hosts_is_not_fetched(
    make_service: MakeService, store: Store, directory: Path
) -> None:
    outsider = ControlledCdn()  # a real server, but not one the policy allows
    await outsider.start()
    try:
        bot = await make_service(ora=False)
        with pytest.raises(DatasetError) as caught:
            await add(bot, {"url": f"{outsider.base_url}/chunked/10", "size": 10, "filename": "x.bin"})
    finally:
        await outsider.stop()
    assert caught.value.code == "url_refused"
    assert outsider.hits == 0
    await assert_nothing_stored(store, directory)


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.discordapp.com/attachments/1/2/x.csv",
        "https://cdn.discordapp.com:8443/attachments/1/2/x.csv",
        "https://cdn.discordapp.com.example.net/attachments/1/2/x.csv",
        "https://user:pw@cdn.discordapp.com/attachments/1/2/x.csv",
        "https://cdn.discordapp.com@127.0.0.1/attachments/1/2/x.csv",
        "http://127.0.0.1:1/attachments/1/2/x.csv",
        "file:///etc/passwd",
    ],
)
async def test_the_default_policy_refuses_anything_but_discord_over_https(
    make_service: MakeService, store: Store, directory: Path, url: str
) -> None:
    bot = await make_service(ora=False, url_policy=UrlPolicy.for_discord())
    with pytest.raises(DatasetError) as caught:
        await add(bot, {"url": url, "size": 10, "filename": "x.csv"})
    assert caught.value.code == "url_refused"
    await assert_nothing_stored(store, directory)


async def test_a_redirect_off_the_allowed_hosts_is_not_followed(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    outsider = ControlledCdn()
    await outsider.start()
    try:
        bot = await make_service(ora=False)
        attachment = cdn.add_attachment("moved.bin", b"x" * 10)
        cdn.attachment(attachment).redirect_to = f"{outsider.base_url}/chunked/10"
        with pytest.raises(DatasetError) as caught:
            await add(bot, attachment)
    finally:
        await outsider.stop()
    assert caught.value.code == "url_refused"
    assert cdn.attachment(attachment).downloads == 1
    assert outsider.hits == 0
    await assert_nothing_stored(store, directory)


async def test_a_redirect_within_the_allowed_hosts_is_followed(cdn: DiscordEmulator, make_service: MakeService) -> None:
    bot = await make_service(ora=False)
    target = cdn.add_attachment("real.csv", b"moved content")
    attachment = cdn.add_attachment("moved.csv", b"moved content")
    cdn.attachment(attachment).redirect_to = str(target["url"])
    result = await add(bot, attachment)
    assert result.record.sha256 == sha256(b"moved content")
    assert cdn.attachment(target).downloads == 1


async def test_a_redirect_loop_is_cut_off(cdn: DiscordEmulator, make_service: MakeService, store: Store) -> None:
    bot = await make_service(ora=False)
    attachment = cdn.add_attachment("loop.csv", b"never")
    cdn.attachment(attachment).redirect_to = str(attachment["url"])
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment)
    assert caught.value.code == "url_refused"
    assert cdn.attachment(attachment).downloads == 4  # the first request and MAX_REDIRECTS (3) hops
    assert await rows(store) == []


# ---------------------------------------------------------------------------------------------- fair shares


async def test_one_user_flooding_neither_fills_the_disk_nor_delays_another_user(
    cdn: DiscordEmulator, make_service: MakeService, store: Store
) -> None:
    bot = await make_service(ora=False, max_bytes=16 * MIB)
    # 24 adds of 9 MiB at once, each trickling in for about 7 s, as in the report (issue 9, item 9).
    flood = [cdn.add_attachment(f"flood{i}.bin", size=9 * MIB, seed=i, fault="slow") for i in range(24)]
    flooding = [asyncio.create_task(add(bot, attachment)) for attachment in flood]
    async with asyncio.timeout(WAIT):
        while sum(task.done() for task in flooding) < 23:
            await asyncio.wait(flooding, return_when=asyncio.FIRST_COMPLETED)
    refused = [task.exception() for task in flooding if task.done()]
    assert all(isinstance(error, DatasetError) and error.code == "busy" for error in refused)

    started = time.monotonic()
    async with asyncio.timeout(WAIT):
        small = await add(bot, cdn.add_attachment("small.txt", b"8 bytes!"), owner=OTHER)
    waited = time.monotonic() - started
    print(f"\nthe other user's 8-byte add took {waited * 1000:.0f} ms while one user flooded")
    assert waited < 1.0
    assert small.record.size_bytes == 8

    async with asyncio.timeout(WAIT):
        await bot.close()
        await asyncio.gather(*flooding, return_exceptions=True)
    assert await rows(store) == []  # nothing of the flood was stored (the one running add was stopped)
    assert [row.id for row in await rows(store, OTHER)] == [small.record.id]


async def test_a_user_has_one_add_at_a_time_and_others_are_not_held_up(
    cdn: DiscordEmulator, controlled_cdn: ControlledCdn, make_service: MakeService, store: Store
) -> None:
    bot = await make_service(ora=False)
    slow = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    first = asyncio.create_task(add(bot, slow))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    with pytest.raises(DatasetError) as caught:
        await add(bot, cdn.add_attachment("second.csv", b"second"))
    assert caught.value.code == "busy"
    theirs = await add(bot, cdn.add_attachment("theirs.csv", b"theirs"), owner=OTHER)
    assert not theirs.duplicate
    controlled_cdn.release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(first, return_exceptions=True)
    again = await add(bot, cdn.add_attachment("second.csv", b"second"))  # free again once it ended
    assert again.record.name == "second.csv"


async def test_the_wait_for_a_download_slot_is_bounded(
    cdn: DiscordEmulator, controlled_cdn: ControlledCdn, make_service: MakeService, store: Store
) -> None:
    bot = await make_service(ora=False, max_concurrent_downloads=1, slot_wait=0.3)
    slow = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    holding = asyncio.create_task(add(bot, slow))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    started = time.monotonic()
    with pytest.raises(DatasetError) as caught:
        async with asyncio.timeout(WAIT):
            await add(bot, cdn.add_attachment("small.txt", b"tiny"), owner=OTHER)
    waited = time.monotonic() - started
    assert caught.value.code == "server_busy"
    assert 0.3 <= waited < 2.0
    assert await rows(store, OTHER) == []
    controlled_cdn.release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(holding, return_exceptions=True)


async def test_the_quota_counts_what_the_user_has_stored(
    cdn: DiscordEmulator, make_service: MakeService, store: Store
) -> None:
    kib = 1024
    bot = await make_service(ora=False, quota_bytes=MIB)
    await add(bot, cdn.add_attachment("a.bin", size=600 * kib, seed=1))
    too_much = cdn.add_attachment("b.bin", size=600 * kib, seed=2)
    with pytest.raises(DatasetError) as caught:
        await add(bot, too_much)
    assert caught.value.code == "quota_exceeded"
    assert (caught.value.limit, caught.value.used, caught.value.size) == (MIB, 600 * kib, 600 * kib)
    assert cdn.attachment(too_much).downloads == 0
    await add(bot, cdn.add_attachment("c.bin", size=424 * kib, seed=3))  # exactly what was left
    assert await DatasetQueries(store).stored_bytes(OWNER) == MIB
    assert len(await rows(store)) == 2
    await add(bot, cdn.add_attachment("b.bin", size=600 * kib, seed=2), owner=OTHER)  # everyone has their own


async def test_the_quota_counts_adds_in_flight(
    cdn: DiscordEmulator, controlled_cdn: ControlledCdn, make_service: MakeService, store: Store
) -> None:
    bot = await make_service(ora=False, quota_bytes=MIB, max_per_user=2)
    size = 600 * 1024
    first = asyncio.create_task(
        add(bot, {"url": f"{controlled_cdn.base_url}/stall/{size}", "size": size, "filename": "slow.bin"})
    )
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    with pytest.raises(DatasetError) as caught:
        await add(bot, cdn.add_attachment("b.bin", size=size, seed=2))
    assert caught.value.code == "quota_exceeded"
    assert caught.value.used == size
    controlled_cdn.release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(first, return_exceptions=True)
    await add(bot, cdn.add_attachment("b.bin", size=size, seed=2))  # the stalled one ended: room again


async def test_a_body_of_undeclared_size_stops_at_the_quota(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    bot = await make_service(ora=False, quota_bytes=MIB)
    attachment = {"url": f"{controlled_cdn.base_url}/chunked/{2 * MIB}", "size": 2 * MIB, "filename": "big.bin"}
    with pytest.raises(DatasetError) as caught:
        await add(bot, attachment, declared_size=None)
    assert caught.value.code == "quota_exceeded"
    await assert_nothing_stored(store, directory)
