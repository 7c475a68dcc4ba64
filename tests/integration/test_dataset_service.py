"""DatasetService against the emulator's CDN, a controllable CDN of our own, a real SQLite Store and FakeOraApi.

Every test checks what is on disk and in the database afterwards: a failure leaves no file, no row and no
temporary file; a success leaves exactly one file at ``<dir>/<owner>/<sha256>`` and one row.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ora.services.datasets import (
    INTERRUPTED,
    TEMP_DIRECTORY,
    AddResult,
    DatasetError,
    DatasetService,
    UploadOutcome,
)
from ora.services.downloads import UrlPolicy
from ora.services.ora_api import OraApiClient
from ora.store import DatasetRecord, Store
from ora.testing.discord import DiscordEmulator
from ora.testing.ora_api import FakeOraApi

OWNER = 1_300_000_000_000_000_300
OTHER = 1_300_000_000_000_000_301
GUILD = 1_300_000_000_000_000_100
MIB = 1024 * 1024
WAIT = 10.0
FROM_ATTACHMENT = -1  # `add(declared_size=...)` default: the size in the attachment object

MakeService = Callable[..., Awaitable[DatasetService]]


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
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "ora_bot.db")
    yield opened
    await opened.close()


@pytest.fixture
async def fake_ora() -> AsyncIterator[FakeOraApi]:
    async with FakeOraApi(token="ora-secret") as server:
        yield server


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "datasets"


@pytest.fixture
async def make_service(
    store: Store, directory: Path, fake_ora: FakeOraApi, allowed_origins: list[str]
) -> AsyncIterator[MakeService]:
    opened: list[DatasetService | OraApiClient] = []

    async def make(
        *,
        ora: bool = True,
        ora_url: str | None = None,
        ora_timeout: float = 5.0,
        max_bytes: int = 8 * MIB,
        **kwargs: Any,
    ) -> DatasetService:
        client = None
        if ora:
            client = OraApiClient(ora_url or fake_ora.base_url, token="ora-secret", timeout=ora_timeout)
            await client.start()
            opened.append(client)
        kwargs.setdefault("retry_delay", 0.01)
        kwargs.setdefault("download_timeout", 10.0)
        kwargs.setdefault("url_policy", UrlPolicy.allowing(allowed_origins))
        service = DatasetService(store, directory, max_bytes, client, **kwargs)
        await service.start()
        opened.append(service)
        return service

    yield make
    for item in reversed(opened):
        await item.close()


# ---------------------------------------------------------------------------------------------- helpers


async def add(
    service: DatasetService,
    attachment: dict[str, Any],
    *,
    owner: int = OWNER,
    guild: int | None = GUILD,
    name: str | None = None,
    filename: str | None = None,
    declared_size: int | None = FROM_ATTACHMENT,
    size_limit: int | None = None,
) -> AddResult:
    return await service.add(
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
    """Every file under the dataset folder except the (expected empty) temporary folder."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and TEMP_DIRECTORY not in p.parts)


def temp_files(directory: Path) -> list[Path]:
    return sorted((directory / TEMP_DIRECTORY).glob("*"))


async def rows(store: Store, owner: int = OWNER) -> list[DatasetRecord]:
    return await store.list_datasets(owner, None, 100)


async def assert_nothing_stored(store: Store, directory: Path) -> None:
    assert stored_files(directory) == []
    assert temp_files(directory) == []
    assert await rows(store) == []


async def outcome_of(result: AddResult) -> UploadOutcome:
    assert result.upload is not None
    outcome = await result.upload.wait(WAIT)
    assert outcome is not None, "the upload did not finish in time"
    return outcome


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- storing


async def test_stores_file_under_its_hash_and_writes_the_row(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("train.csv", size=3 * MIB + 17, seed=7)
    expected = cdn.attachment_sha256(attachment)

    result = await add(service, attachment)

    record = result.record
    assert not result.duplicate
    assert result.upload is None
    assert record.sha256 == expected
    assert record.size_bytes == 3 * MIB + 17
    assert record.name == "train.csv"
    assert record.original_filename == "train.csv"
    assert record.content_type == "text/csv"
    assert record.owner_id == OWNER
    assert record.guild_id == GUILD
    assert record.upload_state == "pending"
    assert record.upload_attempts == 0
    assert record.stored_path == f"{OWNER}/{expected}"
    assert stored_files(directory) == [directory / str(OWNER) / expected]
    assert hashlib.sha256(service.path_of(record).read_bytes()).hexdigest() == expected
    assert temp_files(directory) == []
    assert await rows(store) == [record]


async def test_custom_name_is_cleaned_and_kept_apart_from_the_file_name(
    cdn: DiscordEmulator, make_service: MakeService
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("data.jsonl", b'{"a": 1}\n')
    result = await add(service, attachment, name="  My\ndataset \u202eevil  ")
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
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("upload.bin", hostile.encode() + b" content")
    result = await add(service, attachment, filename=hostile)
    record = result.record
    assert record.original_filename == expected
    assert record.name == expected[:100]  # display names are bounded tighter
    assert record.stored_path == f"{OWNER}/{record.sha256}"
    assert stored_files(directory) == [directory / str(OWNER) / record.sha256]
    assert not (directory.parent / "etc").exists()


async def test_same_content_twice_is_reported_not_stored_twice(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    first = await add(service, cdn.add_attachment("one.csv", b"a,b\n1,2\n"), name="first name")
    second = await add(service, cdn.add_attachment("two.csv", b"a,b\n1,2\n"), name="second name")
    assert second.duplicate
    assert second.record == first.record
    assert second.record.name == "first name"
    assert len(stored_files(directory)) == 1
    assert len(await rows(store)) == 1
    assert temp_files(directory) == []


async def test_same_content_from_another_user_is_theirs(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    mine = await add(service, cdn.add_attachment("x.csv", b"shared"))
    theirs = await add(service, cdn.add_attachment("x.csv", b"shared"), owner=OTHER)
    assert not theirs.duplicate
    assert theirs.record.id != mine.record.id
    assert len(stored_files(directory)) == 2
    assert len(await rows(store, OTHER)) == 1


async def test_concurrent_adds_of_the_same_content_store_it_once(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, max_per_user=3)
    attachments = [cdn.add_attachment(f"copy{i}.bin", size=MIB, seed=3) for i in range(3)]
    results = await asyncio.gather(*(add(service, attachment) for attachment in attachments))
    assert sorted(result.duplicate for result in results) == [False, True, True]
    assert len({result.record.id for result in results}) == 1
    assert len(stored_files(directory)) == 1
    assert len(await rows(store)) == 1
    assert temp_files(directory) == []


async def test_a_duplicate_restores_a_file_that_went_missing(cdn: DiscordEmulator, make_service: MakeService) -> None:
    service = await make_service(ora=False)
    first = await add(service, cdn.add_attachment("x.csv", b"precious"))
    service.path_of(first.record).unlink()
    again = await add(service, cdn.add_attachment("x.csv", b"precious"))
    assert again.duplicate
    assert service.path_of(first.record).read_bytes() == b"precious"


# ---------------------------------------------------------------------------------------------- refusals


async def test_declared_size_over_the_limit_is_refused_before_downloading(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, max_bytes=4 * MIB)
    attachment = cdn.add_attachment("big.bin", size=5 * MIB)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)
    assert caught.value.code == "too_large"
    assert caught.value.limit == 4 * MIB
    assert caught.value.size == 5 * MIB
    assert cdn.attachment(attachment).downloads == 0
    await assert_nothing_stored(store, directory)


async def test_the_interaction_limit_lowers_the_configured_one(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, max_bytes=8 * MIB)
    attachment = cdn.add_attachment("big.bin", size=2 * MIB)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment, size_limit=MIB)
    assert caught.value.code == "too_large"
    assert caught.value.limit == MIB
    assert service.limit_for(MIB) == MIB
    assert service.limit_for(None) == 8 * MIB
    await assert_nothing_stored(store, directory)


async def test_content_length_over_the_limit_is_refused_when_size_was_not_declared(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, max_bytes=MIB)
    attachment = cdn.add_attachment("big.bin", size=3 * MIB)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment, declared_size=None)
    assert caught.value.code == "too_large"
    await assert_nothing_stored(store, directory)


async def test_bytes_received_over_the_limit_abort_the_download(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, max_bytes=MIB)
    attachment = {"url": f"{controlled_cdn.base_url}/chunked/{4 * MIB}", "size": 100, "filename": "liar.bin"}
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)  # declares 100 bytes, sends 4 MiB without Content-Length
    assert caught.value.code == "too_large"
    await assert_nothing_stored(store, directory)


async def test_a_body_without_content_length_is_stored_when_within_limits(
    controlled_cdn: ControlledCdn, make_service: MakeService
) -> None:
    service = await make_service(ora=False)
    size = 2 * MIB + 5
    attachment = {"url": f"{controlled_cdn.base_url}/chunked/{size}", "size": size, "filename": "c.bin"}
    result = await add(service, attachment)
    assert result.record.sha256 == sha256(b"c" * size)


@pytest.mark.parametrize(("fault", "status"), [("404", 404), ("403", 403)])
async def test_cdn_errors_store_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path, fault: Any, status: int
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("gone.csv", size=MIB, fault=fault)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)
    assert caught.value.code == "download_failed"
    assert caught.value.status == status
    await assert_nothing_stored(store, directory)


async def test_an_expired_or_tampered_url_stores_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("a.csv", b"a,b\n")
    attachment["url"] = str(attachment["url"]).replace("hm=", "hm=0")
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)
    assert caught.value.code == "download_failed"
    assert caught.value.status == 404
    await assert_nothing_stored(store, directory)


@pytest.mark.parametrize("fault", ["drop_mid_body", "wrong_length"])
async def test_bodies_cut_short_store_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path, fault: Any
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("cut.bin", size=3 * MIB, fault=fault)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)
    assert caught.value.code == "download_interrupted"
    await assert_nothing_stored(store, directory)


async def test_a_body_shorter_than_declared_stores_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("short.bin", b"x" * 1000)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment, declared_size=2000)
    assert caught.value.code == "download_interrupted"
    await assert_nothing_stored(store, directory)


async def test_a_body_longer_than_declared_stores_nothing(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("long.bin", b"x" * 1000)
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment, declared_size=500)
    assert caught.value.code == "size_mismatch"
    await assert_nothing_stored(store, directory)


async def test_an_empty_file_is_refused(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    with pytest.raises(DatasetError) as caught:
        await add(service, cdn.add_attachment("empty.csv", b""))
    assert caught.value.code == "empty"
    await assert_nothing_stored(store, directory)


async def test_an_unreachable_cdn_stores_nothing(make_service: MakeService, store: Store, directory: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = await make_service(ora=False, url_policy=UrlPolicy.allowing([f"http://127.0.0.1:{port}"]))
    with pytest.raises(DatasetError) as caught:
        await add(service, {"url": f"http://127.0.0.1:{port}/x", "size": 10, "filename": "x"})
    assert caught.value.code == "download_failed"
    await assert_nothing_stored(store, directory)


async def test_a_stalled_download_times_out(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, download_timeout=0.5)
    attachment = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)
    assert caught.value.code == "download_timeout"
    await assert_nothing_stored(store, directory)


# ---------------------------------------------------------------------------------------------- lifecycle


async def test_start_removes_temporary_files_left_by_a_crash(
    store: Store, directory: Path, make_service: MakeService
) -> None:
    (directory / TEMP_DIRECTORY).mkdir(parents=True)
    leftover = directory / TEMP_DIRECTORY / "deadbeef.part"
    leftover.write_bytes(b"half a file")
    await make_service(ora=False)
    assert not leftover.exists()


async def test_close_during_a_download_cleans_up_and_says_so(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    attachment = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    adding = asyncio.create_task(add(service, attachment))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    async with asyncio.timeout(WAIT):
        await service.close()
    with pytest.raises(DatasetError) as caught:
        async with asyncio.timeout(WAIT):
            await adding
    assert caught.value.code == "shutting_down"
    await assert_nothing_stored(store, directory)
    with pytest.raises(DatasetError):
        await add(service, attachment)


async def test_a_cancelled_command_cancels_its_download(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False)
    attachment = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    adding = asyncio.create_task(add(service, attachment))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    adding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await adding
    await assert_nothing_stored(store, directory)


# ---------------------------------------------------------------------------------------------- listing


async def test_list_shows_the_newest_ten_of_this_guild(cdn: DiscordEmulator, make_service: MakeService) -> None:
    service = await make_service(ora=False)
    for index in range(12):
        await add(service, cdn.add_attachment(f"f{index}.txt", f"content {index}".encode()))
    await add(service, cdn.add_attachment("dm.txt", b"in a DM"), guild=None)
    await add(service, cdn.add_attachment("other.txt", b"someone else"), owner=OTHER)

    in_guild = await service.list(OWNER, GUILD)
    assert [entry.record.name for entry in in_guild] == [f"f{index}.txt" for index in range(11, 1, -1)]
    assert not any(entry.uploading for entry in in_guild)
    everywhere = await service.list(OWNER, None)
    assert everywhere[0].record.name == "dm.txt"
    assert await service.list(OTHER + 1, GUILD) == []


# ---------------------------------------------------------------------------------------------- ORA


async def test_upload_to_ora_records_the_remote_id(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi, directory: Path
) -> None:
    service = await make_service()
    attachment = cdn.add_attachment("データ.csv", size=2 * MIB + 3, seed=11, content_type="text/csv")
    result = await add(service, attachment, name="学習データ")
    outcome = await outcome_of(result)

    assert outcome.uploaded
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
    assert row.upload_state == "uploaded"
    assert row.upload_attempts == 1
    assert row.upload_error is None
    assert row.remote_id == ingest.remote_id == outcome.remote_id
    assert len(stored_files(directory)) == 1


async def test_upload_from_a_dm_sends_an_empty_guild_id(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    service = await make_service()
    await outcome_of(await add(service, cdn.add_attachment("dm.txt", b"dm"), guild=None))
    assert fake_ora.ingests[0].fields["guild_id"] == ""


async def test_ora_500_then_success_is_retried(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_failures = 1
    service = await make_service(upload_attempts=3)
    outcome = await outcome_of(await add(service, cdn.add_attachment("r.csv", b"retry me")))
    assert outcome.uploaded
    assert outcome.attempts == 2
    assert [ingest.status for ingest in fake_ora.ingests] == [500, 201]
    (row,) = await rows(store)
    assert (row.upload_state, row.upload_attempts, row.upload_error) == ("uploaded", 2, None)


async def test_ora_always_500_fails_after_bounded_attempts_and_keeps_the_file(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi, directory: Path
) -> None:
    fake_ora.ingest_failures = 100
    service = await make_service(upload_attempts=3)
    result = await add(service, cdn.add_attachment("f.csv", b"fail me"))
    outcome = await outcome_of(result)
    assert not outcome.uploaded
    assert outcome.attempts == 3
    assert fake_ora.ingest_attempts == 3
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("HTTP 500")
    (row,) = await rows(store)
    assert row.upload_state == "failed"
    assert row.upload_attempts == 3
    assert row.upload_error is not None and row.upload_error.startswith("HTTP 500")
    assert row.remote_id is None
    assert service.path_of(row).read_bytes() == b"fail me"
    assert temp_files(directory) == []


async def test_a_client_error_from_ora_is_not_retried(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_failures = 5
    fake_ora.ingest_failure_status = 413
    service = await make_service(upload_attempts=3)
    outcome = await outcome_of(await add(service, cdn.add_attachment("f.csv", b"too big for ORA")))
    assert outcome.attempts == 1
    (row,) = await rows(store)
    assert row.upload_state == "failed"
    assert row.upload_error is not None and row.upload_error.startswith("HTTP 413")


async def test_a_slow_ora_times_out_and_retries_a_bounded_number_of_times(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.fault = "slow"
    service = await make_service(ora_timeout=0.3, upload_attempts=2)
    started = time.monotonic()
    outcome = await outcome_of(await add(service, cdn.add_attachment("s.csv", b"slow")))
    assert time.monotonic() - started < 5
    assert outcome.attempts == 2
    assert fake_ora.ingest_attempts == 2
    assert outcome.failure_reason is not None
    assert "no answer" in outcome.failure_reason
    (row,) = await rows(store)
    assert row.upload_state == "failed"
    assert row.upload_error is not None and row.upload_error.startswith("no answer")
    assert service.path_of(row).exists()


async def test_an_unreachable_ora_fails_and_keeps_the_file(
    cdn: DiscordEmulator, make_service: MakeService, store: Store
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = await make_service(ora_url=f"http://127.0.0.1:{port}", upload_attempts=2)
    outcome = await outcome_of(await add(service, cdn.add_attachment("u.csv", b"nobody home")))
    assert outcome.attempts == 2
    (row,) = await rows(store)
    assert row.upload_state == "failed"
    assert row.upload_error is not None and row.upload_error.startswith("cannot reach ORA")


async def test_adding_a_failed_upload_again_retries_it(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi, directory: Path
) -> None:
    fake_ora.ingest_failures = 1
    service = await make_service(upload_attempts=1)
    first = await add(service, cdn.add_attachment("again.csv", b"second chance"))
    assert not (await outcome_of(first)).uploaded
    again = await add(service, cdn.add_attachment("again.csv", b"second chance"))
    assert again.duplicate
    assert (await outcome_of(again)).uploaded
    (row,) = await rows(store)
    assert row.upload_state == "uploaded"
    assert row.upload_attempts == 1  # a fresh set of attempts for the second chance
    assert len(stored_files(directory)) == 1
    uploaded_again = await add(service, cdn.add_attachment("again.csv", b"second chance"))
    assert uploaded_again.upload is None


async def test_list_marks_uploads_in_progress(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_delay = 0.5
    service = await make_service()
    result = await add(service, cdn.add_attachment("p.csv", b"pending"))
    await fake_ora.wait_ingest_attempts(1, WAIT)
    (entry,) = await service.list(OWNER, GUILD)
    assert entry.uploading
    await outcome_of(result)
    (entry,) = await service.list(OWNER, GUILD)
    assert not entry.uploading
    assert entry.record.upload_state == "uploaded"


async def test_waiting_for_an_upload_is_bounded_and_does_not_cancel_it(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    fake_ora.ingest_delay = 0.5
    service = await make_service()
    result = await add(service, cdn.add_attachment("w.csv", b"wait"))
    assert result.upload is not None
    assert await result.upload.wait(0.01) is None
    assert (await outcome_of(result)).uploaded


async def test_close_during_an_upload_records_the_interruption_and_the_next_start_finishes_it(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    fake_ora.hold_ingests = True
    service = await make_service(ora_timeout=30.0, upload_attempts=1)
    result = await add(service, cdn.add_attachment("i.csv", b"interrupted"))
    await fake_ora.wait_ingest_attempts(1, WAIT)
    (row,) = await rows(store)
    assert (row.upload_state, row.upload_attempts) == ("uploading", 1)  # recorded before the bytes went out
    async with asyncio.timeout(WAIT):
        await service.close()
    assert result.upload is not None
    assert await result.upload.wait(WAIT) is None
    (row,) = await rows(store)
    # The attempt the shutdown cut off is given back: even with a single attempt allowed, it is tried again.
    assert (row.upload_state, row.upload_attempts, row.upload_error) == ("pending", 0, INTERRUPTED)
    assert row.upload_next_at is not None
    assert service.path_of(row).read_bytes() == b"interrupted"

    fake_ora.release_ingests()
    restarted = await make_service(ora_timeout=30.0, upload_attempts=1)
    async with asyncio.timeout(WAIT):
        await restarted.drain_uploads()
    (row,) = await rows(store)
    assert (row.upload_state, row.upload_attempts, row.upload_error) == ("uploaded", 1, None)
    (accepted,) = fake_ora.accepted_ingests
    assert row.remote_id == accepted.remote_id
    assert accepted.sha256 == row.sha256


async def test_other_work_stays_responsive_during_a_large_add(
    cdn: DiscordEmulator, make_service: MakeService, fake_ora: FakeOraApi
) -> None:
    service = await make_service(max_bytes=32 * MIB)
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
        outcome = await outcome_of(await add(service, attachment))
    finally:
        stop.set()
        await tick
    assert outcome.uploaded
    assert fake_ora.ingests[0].sha256 == cdn.attachment_sha256(attachment)
    # The emulator and fake ORA run on this same loop, so this bounds all three together.
    assert worst < 0.25, f"the event loop was blocked for {worst:.3f} s"


# ---------------------------------------------------------------------------------------------- stopping mid-record


async def insert_started(store: Store) -> asyncio.Event:
    """Set when the bot's ``INSERT INTO datasets`` starts running in aiosqlite's thread (SQLite's trace hook)."""
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def trace(sql: str) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO DATASETS"):
            loop.call_soon_threadsafe(started.set)

    await store._database.connection.set_trace_callback(trace)
    return started


async def close_while_recording(service: DatasetService) -> asyncio.Task[None]:
    closing = asyncio.create_task(service.close())
    # Loop iterations only (no time passes): close() cancels the add and the add reacts to the cancellation,
    # while the INSERT is still waiting for the write lock in its thread.
    for _ in range(10):
        await asyncio.sleep(0)
    return closing


async def test_a_shutdown_during_the_insert_keeps_the_row_and_its_file_together(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    service = await make_service()
    inserting = await insert_started(store)
    content = b"recorded while the bot was stopping"
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the bot's INSERT now waits for the write lock, inside its thread
    try:
        adding = asyncio.create_task(add(service, cdn.add_attachment("late.csv", content)))
        async with asyncio.timeout(WAIT):
            await inserting.wait()
        closing = await close_while_recording(service)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    async with asyncio.timeout(WAIT):
        await closing
        (result,) = await asyncio.gather(adding, return_exceptions=True)

    (row,) = await rows(store)  # the INSERT went through...
    assert service.path_of(row).read_bytes() == content  # ...and the file it points to is there
    assert isinstance(result, AddResult), f"the user was told {result!r}"  # not "nothing was stored"
    assert result.interrupted
    assert result.record == row
    assert result.upload is None
    assert row.upload_state == "pending"
    assert fake_ora.ingest_attempts == 0

    restarted = await make_service()  # the next start sends it
    async with asyncio.timeout(WAIT):
        await restarted.drain_uploads()
    (row,) = await rows(store)
    assert row.upload_state == "uploaded"
    assert [ingest.sha256 for ingest in fake_ora.accepted_ingests] == [row.sha256]


async def test_a_cancelled_insert_never_removes_the_file_of_an_identical_add_that_won(
    cdn: DiscordEmulator, make_service: MakeService, store: Store
) -> None:
    service = await make_service(ora=False)
    inserting = await insert_started(store)
    content = b"the same bytes, added twice at once"
    digest = sha256(content)
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    # The identical add that got there first: its row points to the very path the bot is about to fill.
    blocker.execute(
        "INSERT INTO datasets (owner_id, guild_id, name, original_filename, size_bytes, sha256, stored_path,"
        " created_at) VALUES (?, ?, 'first', 'first.csv', ?, ?, ?, 0)",
        (OWNER, GUILD, len(content), digest, f"{OWNER}/{digest}"),
    )
    try:
        adding = asyncio.create_task(add(service, cdn.add_attachment("second.csv", content)))
        async with asyncio.timeout(WAIT):
            await inserting.wait()
        closing = await close_while_recording(service)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    async with asyncio.timeout(WAIT):
        await closing
        (result,) = await asyncio.gather(adding, return_exceptions=True)

    (row,) = await rows(store)
    assert row.name == "first"
    assert service.path_of(row).read_bytes() == content
    assert isinstance(result, AddResult), f"the user was told {result!r}"
    assert result.duplicate
    assert result.record == row


# ---------------------------------------------------------------------------------------------- resuming uploads


async def crashed_mid_upload(service: DatasetService, store: Store, attachment: dict[str, Any], attempts: int) -> int:
    """A stored dataset whose upload a crash cut off after `attempts` attempts (rows as SIGKILL leaves them)."""
    record = (await add(service, attachment)).record
    for _ in range(attempts):
        assert await store.begin_dataset_upload_attempt(record.id) is not None
    return record.id


async def test_an_upload_a_crash_cut_off_is_finished_at_the_next_start(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    dataset_id = await crashed_mid_upload(local, store, cdn.add_attachment("c.csv", b"crashed"), attempts=1)
    service = await make_service(upload_attempts=3)
    async with asyncio.timeout(WAIT):
        await service.drain_uploads()
    row = await store.get_dataset(dataset_id)
    assert row is not None
    assert (row.upload_state, row.upload_attempts) == ("uploaded", 2)  # the crashed attempt counts
    assert len(fake_ora.accepted_ingests) == 1


async def test_a_crash_during_the_last_attempt_ends_as_failed_without_another_try(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    dataset_id = await crashed_mid_upload(local, store, cdn.add_attachment("c.csv", b"crashed twice"), attempts=2)
    service = await make_service(upload_attempts=2)
    async with asyncio.timeout(WAIT):
        await service.drain_uploads()
    row = await store.get_dataset(dataset_id)
    assert row is not None
    assert (row.upload_state, row.upload_attempts) == ("failed", 2)
    assert row.upload_error == "the bot stopped during the last attempt"
    assert fake_ora.ingest_attempts == 0
    (entry,) = await service.list(OWNER, GUILD)
    assert not entry.uploading


async def test_files_stored_without_ora_are_sent_once_ora_is_configured(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    for index in range(5):
        await add(local, cdn.add_attachment(f"f{index}.csv", f"kept locally {index}".encode()))
    await local.close()
    assert fake_ora.ingest_attempts == 0
    service = await make_service()
    async with asyncio.timeout(WAIT):
        await service.drain_uploads()
    assert {row.upload_state for row in await rows(store)} == {"uploaded"}
    assert sorted(ingest.sha256 for ingest in fake_ora.accepted_ingests) == sorted(r.sha256 for r in await rows(store))


async def test_a_retry_due_later_waits_for_its_time_after_a_restart(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, fake_ora: FakeOraApi
) -> None:
    local = await make_service(ora=False)
    record = (await add(local, cdn.add_attachment("r.csv", b"retry later"))).record
    assert await store.begin_dataset_upload_attempt(record.id) == 1
    await store.schedule_dataset_upload_retry(record.id, "HTTP 503: busy", time.time() + 0.5)
    started = time.monotonic()
    service = await make_service()
    async with asyncio.timeout(WAIT):
        await service.drain_uploads()
    assert time.monotonic() - started >= 0.4
    row = await store.get_dataset(record.id)
    assert row is not None and (row.upload_state, row.upload_attempts) == ("uploaded", 2)


# ---------------------------------------------------------------------------------------------- where downloads go


async def test_an_attachment_url_off_the_allowed_hosts_is_not_fetched(
    make_service: MakeService, store: Store, directory: Path
) -> None:
    outsider = ControlledCdn()  # a real server, but not one the policy allows
    await outsider.start()
    try:
        service = await make_service(ora=False)
        with pytest.raises(DatasetError) as caught:
            await add(service, {"url": f"{outsider.base_url}/chunked/10", "size": 10, "filename": "x.bin"})
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
    service = await make_service(ora=False, url_policy=UrlPolicy.for_discord())
    with pytest.raises(DatasetError) as caught:
        await add(service, {"url": url, "size": 10, "filename": "x.csv"})
    assert caught.value.code == "url_refused"
    await assert_nothing_stored(store, directory)


async def test_a_redirect_off_the_allowed_hosts_is_not_followed(
    cdn: DiscordEmulator, make_service: MakeService, store: Store, directory: Path
) -> None:
    outsider = ControlledCdn()
    await outsider.start()
    try:
        service = await make_service(ora=False)
        attachment = cdn.add_attachment("moved.bin", b"x" * 10)
        cdn.attachment(attachment).redirect_to = f"{outsider.base_url}/chunked/10"
        with pytest.raises(DatasetError) as caught:
            await add(service, attachment)
    finally:
        await outsider.stop()
    assert caught.value.code == "url_refused"
    assert cdn.attachment(attachment).downloads == 1
    assert outsider.hits == 0
    await assert_nothing_stored(store, directory)


async def test_a_redirect_within_the_allowed_hosts_is_followed(cdn: DiscordEmulator, make_service: MakeService) -> None:
    service = await make_service(ora=False)
    target = cdn.add_attachment("real.csv", b"moved content")
    attachment = cdn.add_attachment("moved.csv", b"moved content")
    cdn.attachment(attachment).redirect_to = str(target["url"])
    result = await add(service, attachment)
    assert result.record.sha256 == sha256(b"moved content")
    assert cdn.attachment(target).downloads == 1


async def test_a_redirect_loop_is_cut_off(cdn: DiscordEmulator, make_service: MakeService, store: Store) -> None:
    service = await make_service(ora=False)
    attachment = cdn.add_attachment("loop.csv", b"never")
    cdn.attachment(attachment).redirect_to = str(attachment["url"])
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment)
    assert caught.value.code == "url_refused"
    assert cdn.attachment(attachment).downloads == 4  # the first request and MAX_REDIRECTS (3) hops
    assert await rows(store) == []


# ---------------------------------------------------------------------------------------------- fair shares


async def test_one_user_flooding_neither_fills_the_disk_nor_delays_another_user(
    cdn: DiscordEmulator, make_service: MakeService, store: Store
) -> None:
    service = await make_service(ora=False, max_bytes=16 * MIB)
    # 24 adds of 9 MiB at once, each trickling in for about 7 s, as in the report (issue 9, item 9).
    flood = [cdn.add_attachment(f"flood{i}.bin", size=9 * MIB, seed=i, fault="slow") for i in range(24)]
    flooding = [asyncio.create_task(add(service, attachment)) for attachment in flood]
    async with asyncio.timeout(WAIT):
        while sum(task.done() for task in flooding) < 23:
            await asyncio.wait(flooding, return_when=asyncio.FIRST_COMPLETED)
    refused = [task.exception() for task in flooding if task.done()]
    assert all(isinstance(error, DatasetError) and error.code == "busy" for error in refused)

    started = time.monotonic()
    async with asyncio.timeout(WAIT):
        small = await add(service, cdn.add_attachment("small.txt", b"8 bytes!"), owner=OTHER)
    waited = time.monotonic() - started
    print(f"\nthe other user's 8-byte add took {waited * 1000:.0f} ms while one user flooded")
    assert waited < 1.0
    assert small.record.size_bytes == 8

    async with asyncio.timeout(WAIT):
        await service.close()
        await asyncio.gather(*flooding, return_exceptions=True)
    assert await rows(store) == []  # nothing of the flood was stored (the one running add was stopped)
    assert [row.id for row in await rows(store, OTHER)] == [small.record.id]


async def test_a_user_has_one_add_at_a_time_and_others_are_not_held_up(
    cdn: DiscordEmulator, controlled_cdn: ControlledCdn, make_service: MakeService, store: Store
) -> None:
    service = await make_service(ora=False)
    slow = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    first = asyncio.create_task(add(service, slow))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    with pytest.raises(DatasetError) as caught:
        await add(service, cdn.add_attachment("second.csv", b"second"))
    assert caught.value.code == "busy"
    theirs = await add(service, cdn.add_attachment("theirs.csv", b"theirs"), owner=OTHER)
    assert not theirs.duplicate
    controlled_cdn.release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(first, return_exceptions=True)
    again = await add(service, cdn.add_attachment("second.csv", b"second"))  # free again once it ended
    assert again.record.name == "second.csv"


async def test_the_wait_for_a_download_slot_is_bounded(
    cdn: DiscordEmulator, controlled_cdn: ControlledCdn, make_service: MakeService, store: Store
) -> None:
    service = await make_service(ora=False, max_concurrent_downloads=1, slot_wait=0.3)
    slow = {"url": f"{controlled_cdn.base_url}/stall/{MIB}", "size": MIB, "filename": "slow.bin"}
    holding = asyncio.create_task(add(service, slow))
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    started = time.monotonic()
    with pytest.raises(DatasetError) as caught:
        async with asyncio.timeout(WAIT):
            await add(service, cdn.add_attachment("small.txt", b"tiny"), owner=OTHER)
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
    service = await make_service(ora=False, quota_bytes=MIB)
    await add(service, cdn.add_attachment("a.bin", size=600 * kib, seed=1))
    too_much = cdn.add_attachment("b.bin", size=600 * kib, seed=2)
    with pytest.raises(DatasetError) as caught:
        await add(service, too_much)
    assert caught.value.code == "quota_exceeded"
    assert (caught.value.limit, caught.value.used, caught.value.size) == (MIB, 600 * kib, 600 * kib)
    assert cdn.attachment(too_much).downloads == 0
    await add(service, cdn.add_attachment("c.bin", size=424 * kib, seed=3))  # exactly what was left
    assert await store.dataset_bytes(OWNER) == MIB
    assert len(await rows(store)) == 2
    await add(service, cdn.add_attachment("b.bin", size=600 * kib, seed=2), owner=OTHER)  # everyone has their own


async def test_the_quota_counts_adds_in_flight(
    cdn: DiscordEmulator, controlled_cdn: ControlledCdn, make_service: MakeService, store: Store
) -> None:
    service = await make_service(ora=False, quota_bytes=MIB, max_per_user=2)
    size = 600 * 1024
    first = asyncio.create_task(
        add(service, {"url": f"{controlled_cdn.base_url}/stall/{size}", "size": size, "filename": "slow.bin"})
    )
    async with asyncio.timeout(WAIT):
        await controlled_cdn.started.wait()
    with pytest.raises(DatasetError) as caught:
        await add(service, cdn.add_attachment("b.bin", size=size, seed=2))
    assert caught.value.code == "quota_exceeded"
    assert caught.value.used == size
    controlled_cdn.release.set()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(first, return_exceptions=True)
    await add(service, cdn.add_attachment("b.bin", size=size, seed=2))  # the stalled one ended: room again


async def test_a_body_of_undeclared_size_stops_at_the_quota(
    controlled_cdn: ControlledCdn, make_service: MakeService, store: Store, directory: Path
) -> None:
    service = await make_service(ora=False, quota_bytes=MIB)
    attachment = {"url": f"{controlled_cdn.base_url}/chunked/{2 * MIB}", "size": 2 * MIB, "filename": "big.bin"}
    with pytest.raises(DatasetError) as caught:
        await add(service, attachment, declared_size=None)
    assert caught.value.code == "quota_exceeded"
    await assert_nothing_stored(store, directory)
