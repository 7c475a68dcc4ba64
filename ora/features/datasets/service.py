"""Datasets: download a Discord attachment to disk and record it; its upload to ORA is a job (`uploads.py`).

The flow for one `add`:

1. refuse at once what cannot succeed: a URL off Discord's hosts (`ora.core.downloads`), a declared size over
   the limit, a user who already has `max_per_user` adds running or whose quota (stored bytes plus adds in
   progress) the file would pass. Adds in progress are leases in the database (`ora.core.store.leases`), so
   these limits hold across every process sharing it;
2. wait a bounded time (`slot_wait`) for one of this process's download slots;
3. stream the attachment (signed CDN URL, every redirect hop checked) into
   ``<dir>/.incoming/<process>/<random>.part`` while hashing it, under the size limit and the quota, checked
   against the declared size, the ``Content-Length`` and the bytes actually received; anything that goes wrong
   removes the temporary file. Each process has its own `.incoming` folder: at start it removes only the
   folders of processes that are no longer running;
4. the same content already added by the same user is reported, not stored again;
5. otherwise the file is fsynced and renamed (``os.replace``) to ``<dir>/<owner id>/<sha256>`` — nothing the user
   chose appears in the path — and only then are the row and its upload job written, in one transaction.
   Placing and recording run to the end even when the add is cancelled: the outcome is then what the database
   says, and a file a row points to is never removed.

Nothing here knows about Discord's types: the commands pass plain values in and map `DatasetError.code` to
translated text.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Collection
from pathlib import Path
from typing import IO

import aiohttp
import attrs

from ora.core.cancellation import finish_then_cancel, run_to_end
from ora.core.downloads import DownloadRefused, UrlPolicy, open_download
from ora.core.http import SessionHandle
from ora.core.jobs import JobQueue
from ora.core.store import StoreError, Transaction
from ora.core.store.jobs import Job
from ora.core.store.leases import Grant, Held, Lease, Leases
from ora.features.datasets.errors import DatasetError, ErrorCode
from ora.features.datasets.filenames import clean_content_type, clean_display_name, sanitize_filename
from ora.features.datasets.queries import (
    UPLOAD_JOB,
    DatasetEntry,
    DatasetQueries,
    DatasetRecord,
    NewDataset,
    upload_subject,
)
from ora.features.datasets.settings import DatasetSettings

__all__ = ["AddResult", "DatasetService"]

log = logging.getLogger(__name__)

TEMP_DIRECTORY = ".incoming"
TEMP_SUFFIX = ".part"
ADD_LEASE = "datasets.add"
_READ_SIZE = 64 * 1024
# Bytes gathered before one write+hash in a worker thread: big enough to amortise the hop, small enough that
# two of them (one being written while the next fills) stay far below the memory goal.
_FLUSH_SIZE = 1024 * 1024
_CLOSE_GRACE = 5.0
_SLOW_SLOT_LOG_SECONDS = 1.0


@attrs.frozen
class AddResult:
    """The stored dataset (or the one this content was already stored as, `duplicate`), and its upload job.

    `interrupted`: the bot began stopping while the file was being recorded; it is stored, and its upload job
    runs at the next start.
    """

    record: DatasetRecord
    duplicate: bool
    upload: Job | None = attrs.field(default=None, eq=False)
    interrupted: bool = False


@attrs.frozen
class _Downloaded:
    path: Path
    size: int
    sha256: str


@attrs.frozen
class _Budget:
    """What one add may download: the size limit, and what is left of the owner's quota."""

    limit: int
    quota_left: int


class _TempFile:
    """A temporary file being filled; its methods block, so they run in worker threads."""

    def __init__(self, path: Path, file: IO[bytes]) -> None:
        self.path = path
        self._file = file
        self._digest = hashlib.sha256()

    @classmethod
    def create(cls, directory: Path) -> _TempFile:
        path = directory / f"{secrets.token_hex(16)}{TEMP_SUFFIX}"
        return cls(path, path.open("xb"))

    def absorb(self, block: bytes | bytearray) -> None:
        self._file.write(block)
        self._digest.update(block)

    def finish(self) -> str:
        """Flush to stable storage (the row must never point at a file a power cut could lose)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._digest.hexdigest()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def _check_received(size: int, declared_size: int | None) -> None:
    """A body shorter or longer than Discord announced is not the user's file; an empty one is useless."""
    if declared_size is not None and size != declared_size:
        code: ErrorCode = "download_interrupted" if size < declared_size else "size_mismatch"
        raise DatasetError(code, f"received {size} bytes, Discord declared {declared_size}", size=size)
    if size == 0:
        raise DatasetError("empty", "the attachment has no content", size=0)


def _place(source: Path, target: Path) -> None:
    """Atomically move the finished file into place (same file system), then persist the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    with contextlib.suppress(OSError, AttributeError):  # directories cannot be opened on Windows
        descriptor = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _restore(source: Path, target: Path) -> bool:
    """Put `source` at `target` if the file there went missing; True when it did."""
    if target.exists():
        return False
    _place(source, target)
    return True


class DatasetService:
    """Stores datasets under `settings.directory`; `ora_enabled` says whether their upload jobs will run."""

    def __init__(
        self,
        queries: DatasetQueries,
        leases: Leases,
        jobs: JobQueue,
        settings: DatasetSettings,
        *,
        ora_enabled: bool,
        url_policy: UrlPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        incoming: str = "local",
        max_concurrent_downloads: int = 4,
    ) -> None:
        self._queries = queries
        self._leases = leases
        self._jobs = jobs
        self.settings = settings
        self.directory = settings.directory
        self.max_bytes = settings.max_bytes
        self.quota_bytes = settings.quota_bytes
        self.ora_enabled = ora_enabled
        self._policy = url_policy if url_policy is not None else UrlPolicy.for_discord()
        self._http = SessionHandle(session, owner="DatasetService")
        self._incoming = incoming
        self._downloads = asyncio.Semaphore(max_concurrent_downloads)
        self._adds: set[asyncio.Task[AddResult]] = set()
        self._commit_lock = asyncio.Lock()
        self._closing = True

    def __repr__(self) -> str:
        return f"DatasetService(directory={str(self.directory)!r}, ora_enabled={self.ora_enabled})"

    @property
    def temp_directory(self) -> Path:
        """This process's folder for downloads in progress."""
        return self.directory / TEMP_DIRECTORY / self._incoming

    @property
    def upload_attempts(self) -> int:
        return self.settings.upload_attempts

    # ------------------------------------------------------------------ lifecycle

    async def start(self, running: Collection[str] = ()) -> None:
        """Create the folders and remove the downloads left by processes that no longer run (`running` names
        the `.incoming` folders of those that do); open a session unless the shared one was given."""
        removed = await asyncio.to_thread(self._prepare_directory, {*running, self._incoming})
        if removed:
            log.warning("removed %d unfinished dataset download(s) left by stopped processes", removed)
        await self._http.start()
        self._closing = False

    def _prepare_directory(self, running: set[str]) -> int:
        self.temp_directory.mkdir(parents=True, exist_ok=True)
        removed = 0
        for entry in self.temp_directory.parent.iterdir():
            if entry.is_dir() and entry.name not in running:
                removed += sum(1 for _ in entry.glob(f"*{TEMP_SUFFIX}"))
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() and entry.name.endswith(TEMP_SUFFIX):  # left by a release before per-process folders
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
        return removed

    async def remove_stale_downloads(self, running: Collection[str]) -> int:
        """What `start` does for other processes' folders, for a periodic sweep."""
        return await asyncio.to_thread(self._prepare_directory, {*running, self._incoming})

    async def close(self) -> None:
        """Refuse new adds, stop the downloads in flight, close its own session."""
        self._closing = True
        tasks = list(self._adds)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_GRACE)
        await self._http.close()

    # ------------------------------------------------------------------ queries

    def limit_for(self, size_limit: int | None) -> int:
        """The effective size limit: the configured one, lowered by the interaction's own limit if any."""
        if size_limit is not None and size_limit > 0:
            return min(self.max_bytes, size_limit)
        return self.max_bytes

    def path_of(self, record: DatasetRecord) -> Path:
        """Where the record's file is (`stored_path` is relative to the dataset folder)."""
        return self.directory / record.stored_path

    async def list(self, owner_id: int, guild_id: int | None, limit: int = 10) -> builtins.list[DatasetEntry]:
        """The owner's newest datasets (in this guild when `guild_id` is given), newest first."""
        return await self._queries.list(owner_id, guild_id, limit)

    # ------------------------------------------------------------------ adding

    async def add(
        self,
        *,
        owner_id: int,
        guild_id: int | None,
        attachment_url: str,
        declared_size: int | None,
        filename: str,
        content_type: str | None,
        name: str | None,
        size_limit: int | None,
    ) -> AddResult:
        """Download, store and record an attachment, with its upload job. Raises `DatasetError`.

        `declared_size` is the attachment's size as Discord reported it; `size_limit` the interaction's
        `attachment_size_limit` (None: only the configured limit applies). `name` defaults to the file name.
        """
        if self._closing:
            raise DatasetError("shutting_down", "the dataset service is not running")
        limit = self.limit_for(size_limit)
        if declared_size is not None and declared_size > limit:
            raise DatasetError("too_large", f"declared {declared_size} > {limit}", limit=limit, size=declared_size)
        try:
            self._policy.check(attachment_url)
        except DownloadRefused as refused:
            log.warning("dataset add by user %d refused: attachment URL %s", owner_id, refused)
            raise DatasetError("url_refused", str(refused)) from None
        lease, budget = await self._admit(owner_id, declared_size, limit)
        original = sanitize_filename(filename)
        display = clean_display_name(name or "") or clean_display_name(original)
        new = NewDataset(
            owner_id=owner_id,
            guild_id=guild_id,
            name=display,
            original_filename=original,
            size_bytes=0,
            sha256="",
            content_type=clean_content_type(content_type),
            stored_path="",
        )
        # A task of our own, so that close() can stop it; the caller cancelling us cancels it too.
        task = asyncio.create_task(self._add(new, attachment_url, declared_size, budget, lease))
        self._adds.add(task)
        task.add_done_callback(self._adds.discard)
        current = asyncio.current_task()
        cancelling = current.cancelling() if current is not None else 0
        try:
            result = await task
        except asyncio.CancelledError:
            if task.cancelled() and self._closing and (current is None or current.cancelling() == 0):
                raise DatasetError("shutting_down", "the bot is stopping") from None
            raise
        except DatasetError:
            if current is not None and current.cancelling() > cancelling:
                raise asyncio.CancelledError from None  # our caller was cancelled while the add was recording
            raise
        if current is not None and current.cancelling() > cancelling:
            raise asyncio.CancelledError  # our caller was cancelled while the add was recording
        return result

    async def _admit(self, owner_id: int, declared_size: int | None, limit: int) -> tuple[Lease, _Budget]:
        """Count this add against the owner's adds in progress and quota, in every process, or refuse it."""
        settings = self.settings
        budget: list[_Budget] = []

        async def admit(held: Held, tx: Transaction) -> Grant | DatasetError:
            if held.subject_count >= settings.max_per_user:
                return DatasetError("busy", f"{held.subject_count} add(s) of this user in progress")
            used = await self._queries.stored_bytes(owner_id, on=tx) + held.subject_amount
            left = self.quota_bytes - used
            if left <= 0 or (declared_size is not None and declared_size > left):
                return DatasetError(
                    "quota_exceeded",
                    f"{used} of {self.quota_bytes} bytes used",
                    limit=self.quota_bytes,
                    used=used,
                    size=declared_size,
                )
            budget.append(_Budget(limit=limit, quota_left=left))
            return Grant(amount=declared_size if declared_size is not None else min(limit, left))

        ttl = settings.download_timeout + settings.slot_wait + 60
        try:
            found = await self._leases.acquire(ADD_LEASE, str(owner_id), ttl=ttl, admit=admit)
        except StoreError as error:
            raise DatasetError("storage_failed", f"cannot count the adds in progress: {error}") from error
        if isinstance(found, DatasetError):
            raise found
        return found, budget[0]

    async def _add(
        self, new: NewDataset, url: str, declared_size: int | None, budget: _Budget, lease: Lease
    ) -> AddResult:
        started = time.monotonic()
        try:
            await self._acquire_slot(new.owner_id)
            try:
                downloaded = await self._download(url, declared_size, budget)
            finally:
                self._downloads.release()
            try:
                return await self._record(new, downloaded, started)
            finally:
                with contextlib.suppress(OSError):
                    downloaded.path.unlink(missing_ok=True)  # still there only when it was not used
        finally:
            # Only now: a recorded file counts in `stored_bytes` from here on.
            await self._release(lease)

    async def _release(self, lease: Lease) -> None:
        try:
            await finish_then_cancel(self._leases.release(lease))
        except StoreError as error:  # it expires by itself, and is freed when this process leaves
            log.warning("could not end the add's lease at once: %s", error)

    async def _acquire_slot(self, owner_id: int) -> None:
        started = time.monotonic()
        wait = self.settings.slot_wait
        try:
            async with asyncio.timeout(wait):
                await self._downloads.acquire()
        except TimeoutError:
            log.warning("dataset add by user %d: no download slot free within %g s", owner_id, wait)
            raise DatasetError("server_busy", f"no download slot within {wait:g} s") from None
        waited = time.monotonic() - started
        if waited >= _SLOW_SLOT_LOG_SECONDS:
            log.info("dataset add by user %d waited %.1f s for a download slot", owner_id, waited)

    async def _record(self, new: NewDataset, downloaded: _Downloaded, started: float) -> AddResult:
        # One commit at a time: a concurrent identical add cannot slip between "is it recorded?" and "remove".
        async with self._commit_lock:
            commit = asyncio.ensure_future(self._commit(new, downloaded))
            try:
                record, duplicate = await asyncio.shield(commit)
            except asyncio.CancelledError:
                # The rename and the INSERT run on whatever happens here: wait for what the database says
                # instead of guessing. Stored means stored; its upload job runs whenever a worker gets to it.
                (record, duplicate), _ = await run_to_end(commit)
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                log.info("dataset %d stored while the bot was stopping; its upload waits for the next start", record.id)
                return AddResult(record, duplicate=duplicate, interrupted=True)
        if duplicate:
            return await self._duplicate(record)
        log.info(
            "dataset %d stored: owner %d, %d bytes, sha256 %s…, %.2f s",
            record.id,
            record.owner_id,
            record.size_bytes,
            record.sha256[:12],
            time.monotonic() - started,
        )
        return AddResult(record, duplicate=False, upload=await self._jobs.get(UPLOAD_JOB, upload_subject(record.id)))

    def _wake_uploads(self) -> None:
        self._jobs.wake()

    async def _commit(self, new: NewDataset, downloaded: _Downloaded) -> tuple[DatasetRecord, bool]:
        """Place the file and write its row: (the record, whether it was already there)."""
        existing = await self._queries.find_by_hash(new.owner_id, downloaded.sha256)
        if existing is not None:
            await self._restore_missing(existing, downloaded)
            return existing, True
        stored_path = f"{new.owner_id}/{downloaded.sha256}"
        target = self.directory / stored_path
        try:
            await asyncio.to_thread(_place, downloaded.path, target)
        except OSError as error:
            raise DatasetError("storage_failed", f"cannot move the file into place: {error}") from error
        try:
            added = await self._queries.add(
                attrs.evolve(new, size_bytes=downloaded.size, sha256=downloaded.sha256, stored_path=stored_path)
            )
        except BaseException as error:
            await self._remove_unless_recorded(new.owner_id, downloaded.sha256, target)
            if isinstance(error, StoreError):
                raise DatasetError("storage_failed", f"cannot record the dataset: {error}") from error
            raise
        if added is None:  # the row appeared meanwhile (another process on the same database)
            existing = await self._queries.find_by_hash(new.owner_id, downloaded.sha256)
            if existing is None:
                raise DatasetError("storage_failed", "the row vanished after a duplicate insert")
            return existing, True
        self._wake_uploads()
        return added[0], False

    async def _remove_unless_recorded(self, owner_id: int, sha256: str, target: Path) -> None:
        """The INSERT failed: remove the placed file, unless a row points to it (then it is someone's data)."""
        try:
            recorded = await self._queries.find_by_hash(owner_id, sha256) is not None
        except Exception:  # cannot tell: an unrecorded file is a smaller harm than a row without its file
            log.warning("cannot check whether %s is recorded; keeping it", target)
            return
        if not recorded:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(target.unlink, missing_ok=True)

    async def _restore_missing(self, existing: DatasetRecord, downloaded: _Downloaded) -> None:
        try:
            if await asyncio.to_thread(_restore, downloaded.path, self.path_of(existing)):
                log.warning("dataset %d: its file was missing and was restored from a new copy", existing.id)
        except OSError as error:
            log.warning("dataset %d: cannot restore its missing file: %s", existing.id, error)

    async def _duplicate(self, existing: DatasetRecord) -> AddResult:
        subject = upload_subject(existing.id)
        upload = await self._jobs.get(UPLOAD_JOB, subject)
        if upload is None:  # a row that never had a job (cannot happen through add): give it one
            upload = await self._jobs.enqueue(UPLOAD_JOB, subject, user_id=existing.owner_id)
        elif upload.state == "failed" and self.ora_enabled:  # a second chance: a fresh set of attempts
            await self._jobs.restart_failed(UPLOAD_JOB, subject)
            upload = await self._jobs.get(UPLOAD_JOB, subject)
        return AddResult(existing, duplicate=True, upload=upload)

    # ------------------------------------------------------------------ downloading

    async def _download(self, url: str, declared_size: int | None, budget: _Budget) -> _Downloaded:
        try:
            sink = await asyncio.to_thread(_TempFile.create, self.temp_directory)
        except OSError as error:
            raise DatasetError("storage_failed", f"cannot create a temporary file: {error}") from error
        try:
            size = await self._fetch(url, sink, budget)
            _check_received(size, declared_size)
            try:
                sha256 = await asyncio.to_thread(sink.finish)
            except OSError as error:
                raise DatasetError("storage_failed", f"cannot write the file: {error}") from error
        except BaseException:
            sink.discard()  # synchronous on purpose: it must run even when this task is being cancelled
            raise
        return _Downloaded(sink.path, size, sha256)

    async def _fetch(self, url: str, sink: _TempFile, budget: _Budget) -> int:
        """Stream the body into `sink`; returns the byte count. Maps network trouble to `DatasetError`."""
        try:
            async with open_download(
                self._http.session,
                url,
                self._policy,
                timeout=self.settings.download_timeout,
                connect_timeout=min(10.0, self.settings.download_timeout),
            ) as response:
                if response.status != 200:
                    raise DatasetError(
                        "download_failed", f"the CDN answered HTTP {response.status}", status=response.status
                    )
                length = response.content_length
                if length is not None:
                    self._check_budget(length, budget, "Content-Length", size=length)
                return await self._receive(response, sink, budget)
        except DownloadRefused as refused:
            log.warning("dataset download refused: %s", refused)
            raise DatasetError("url_refused", str(refused)) from None
        except TimeoutError as error:
            raise DatasetError(
                "download_timeout", f"not complete within {self.settings.download_timeout:g} s"
            ) from error
        except aiohttp.ClientConnectorError as error:
            raise DatasetError("download_failed", f"cannot connect to the CDN: {error}") from error
        except aiohttp.ClientError as error:  # payload cut short, connection reset or closed mid-body
            raise DatasetError("download_interrupted", f"{type(error).__name__}: {error}") from error
        except OSError as error:
            raise DatasetError("storage_failed", f"cannot write the file: {error}") from error

    def _check_budget(self, count: int, budget: _Budget, what: str, size: int | None = None) -> None:
        if count > budget.limit:
            raise DatasetError("too_large", f"{what} {count} > {budget.limit}", limit=budget.limit, size=size)
        if count > budget.quota_left:
            used = self.quota_bytes - budget.quota_left
            raise DatasetError(
                "quota_exceeded",
                f"{what} {count} > {budget.quota_left} left",
                limit=self.quota_bytes,
                used=used,
                size=size,
            )

    async def _receive(self, response: aiohttp.ClientResponse, sink: _TempFile, budget: _Budget) -> int:
        loop = asyncio.get_running_loop()
        received = 0
        buffer = bytearray()
        writing: asyncio.Future[None] | None = None
        async for chunk in response.content.iter_chunked(_READ_SIZE):
            received += len(chunk)
            self._check_budget(received, budget, "received")
            buffer += chunk
            if len(buffer) >= _FLUSH_SIZE:
                if writing is not None:
                    await writing
                # Hashing and writing happen in a thread while the next block arrives (hashlib drops the GIL).
                writing = loop.run_in_executor(None, sink.absorb, buffer)
                buffer = bytearray()
        if writing is not None:
            await writing
        if buffer:
            await asyncio.to_thread(sink.absorb, buffer)
        return received
