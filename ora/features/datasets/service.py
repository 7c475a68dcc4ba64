"""Datasets: download a Discord attachment to disk, record it, and forward it to ORA.

The flow for one `add`:

1. refuse at once what cannot succeed: a URL off Discord's hosts (`ora.services.downloads`), a declared size
   over the limit, a user who already has `max_per_user` adds running, a file that does not fit the user's
   quota (stored bytes plus adds in flight);
2. wait a bounded time (`slot_wait`) for one of the shared download slots;
3. stream the attachment (signed CDN URL, every redirect hop checked) into ``<dir>/.incoming/<random>.part``
   while hashing it, under the size limit and the quota, checked against the declared size, the
   ``Content-Length`` and the bytes actually received; anything that goes wrong removes the temporary file;
4. the same content already added by the same user is reported, not stored again;
5. otherwise the file is fsynced and renamed (``os.replace``) to ``<dir>/<owner id>/<sha256>`` — nothing the user
   chose appears in the path — and only then is the row written. Placing and recording run to the end even when
   the add is cancelled (an SQLite statement runs on in its thread anyway): the outcome is then what the
   database says, and a file a row points to is never removed;
6. with ORA configured, the upload runs in a task owned by this service. Its state is durable (`pending`,
   `uploading`, `uploaded`, `failed`, attempts, last error, next attempt time): each attempt is recorded before
   it starts, a shutdown gives the running attempt back, and `start()` resumes every unfinished upload, so an
   upload cut off by SIGTERM or SIGKILL finishes after the restart, within `upload_attempts` attempts. The local
   copy is kept whatever ORA answers.

Nothing here knows about Discord's types: the extension passes plain values in and maps `DatasetError.code`
to translated text.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import hashlib
import logging
import os
import random
import secrets
import sqlite3
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, Literal, get_args

import aiohttp
import attrs

from ora.cancellation import run_to_end
from ora.services.downloads import DownloadRefused, UrlPolicy, open_download
from ora.services.ora_api import DatasetUpload, OraApiClient, OraApiError
from ora.store import DatasetRecord, NewDataset, Store
from ora.store.models import UploadState
from ora.text.filenames import clean_content_type, clean_display_name, sanitize_filename

__all__ = [
    "DEFAULT_QUOTA_BYTES",
    "ERROR_CODES",
    "INTERRUPTED",
    "AddResult",
    "DatasetEntry",
    "DatasetError",
    "DatasetService",
    "PendingUpload",
    "UploadOutcome",
]

log = logging.getLogger(__name__)

ErrorCode = Literal[
    "too_large",
    "download_failed",
    "download_interrupted",
    "download_timeout",
    "size_mismatch",
    "empty",
    "storage_failed",
    "shutting_down",
    "url_refused",
    "busy",
    "quota_exceeded",
    "server_busy",
]
#: Every `DatasetError.code`; each has a translated message `datasets.error.<code>`.
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)

DEFAULT_QUOTA_BYTES = 200 * 1024 * 1024
#: The error recorded for an attempt the bot's own shutdown cut off (the upload resumes at the next start).
INTERRUPTED = "interrupted (the bot stopped)"
TEMP_DIRECTORY = ".incoming"
TEMP_SUFFIX = ".part"
_READ_SIZE = 64 * 1024
# Bytes gathered before one write+hash in a worker thread: big enough to amortise the hop, small enough that
# two of them (one being written while the next fills) stay far below the memory goal.
_FLUSH_SIZE = 1024 * 1024
_MAX_BACKOFF = 30.0
_CLOSE_GRACE = 5.0
# Unfinished uploads resumed at start-up go a few at a time, so a backlog does not flood ORA.
_RESUME_CONCURRENCY = 2
_SLOW_SLOT_LOG_SECONDS = 1.0


class DatasetError(Exception):
    """Adding a dataset failed in a way the user should hear about; nothing was stored.

    `code` is one of `ERROR_CODES`; `limit`/`size`/`used` (bytes) and `status` (HTTP) fill in the message
    (`limit` is the quota for ``quota_exceeded``).
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        limit: int | None = None,
        size: int | None = None,
        status: int | None = None,
        used: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: ErrorCode = code
        self.detail = detail
        self.limit = limit
        self.size = size
        self.status = status
        self.used = used


@attrs.frozen
class UploadOutcome:
    """How the upload to ORA ended (`state` is what the row now says)."""

    state: UploadState
    remote_id: str | None
    attempts: int
    error: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.state == "uploaded"

    @property
    def failure_reason(self) -> str | None:
        """Why ORA did not take the file (None unless it failed)."""
        return self.error if self.state == "failed" else None


class PendingUpload:
    """An upload to ORA running in a task owned by `DatasetService`; waiting never cancels it."""

    def __init__(self, task: asyncio.Task[UploadOutcome]) -> None:
        self._task = task

    def done(self) -> bool:
        return self._task.done()

    async def wait(self, timeout: float | None = None) -> UploadOutcome | None:
        """The outcome; None when `timeout` passed first or the service stopped the upload (shutdown)."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._task)
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._task.cancelled() and (current is None or current.cancelling() == 0):
                return None
            raise


@attrs.frozen
class AddResult:
    """The stored dataset (or the one this content was already stored as, `duplicate`).

    `upload` is set when an upload to ORA was started (or was already running) for it. `interrupted`: the bot
    began stopping while the file was being recorded; it is stored, and its upload starts at the next start.
    """

    record: DatasetRecord
    duplicate: bool
    upload: PendingUpload | None = attrs.field(default=None, eq=False)
    interrupted: bool = False


@attrs.frozen
class DatasetEntry:
    """A row for `/dataset list`; `uploading` while this process is sending it to ORA (or waiting to retry)."""

    record: DatasetRecord
    uploading: bool


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
    reserved: int


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
    """Stores datasets under `directory` and forwards them to ORA (when `ora` is given)."""

    def __init__(
        self,
        store: Store,
        directory: Path,
        max_bytes: int,
        ora: OraApiClient | None,
        *,
        url_policy: UrlPolicy | None = None,
        download_timeout: float = 60.0,
        upload_attempts: int = 3,
        retry_delay: float = 1.0,
        max_concurrent_downloads: int = 4,
        max_per_user: int = 1,
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
        slot_wait: float = 30.0,
    ) -> None:
        positive = (max_bytes, upload_attempts, max_concurrent_downloads, max_per_user, quota_bytes, slot_wait)
        if min(positive) <= 0:
            raise ValueError(
                "max_bytes, upload_attempts, max_concurrent_downloads, max_per_user, quota_bytes and slot_wait"
                " must be positive"
            )
        self._store = store
        self.directory = directory
        self.max_bytes = max_bytes
        self._ora = ora
        self._policy = url_policy if url_policy is not None else UrlPolicy.for_discord()
        self._download_timeout = download_timeout
        self._upload_attempts = upload_attempts
        self._retry_delay = retry_delay
        self._max_per_user = max_per_user
        self.quota_bytes = quota_bytes
        self._slot_wait = slot_wait
        self._downloads = asyncio.Semaphore(max_concurrent_downloads)
        self._session: aiohttp.ClientSession | None = None
        self._adds: set[asyncio.Task[AddResult]] = set()
        self._adds_by_owner: collections.Counter[int] = collections.Counter()
        self._reserved: collections.Counter[int] = collections.Counter()
        self._quota_lock = asyncio.Lock()
        self._commit_lock = asyncio.Lock()
        self._uploads: dict[int, asyncio.Task[UploadOutcome]] = {}
        self._resume: asyncio.Task[None] | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"DatasetService(directory={str(self.directory)!r}, ora={self._ora!r})"

    @property
    def temp_directory(self) -> Path:
        return self.directory / TEMP_DIRECTORY

    @property
    def ora_enabled(self) -> bool:
        return self._ora is not None

    @property
    def upload_attempts(self) -> int:
        return self._upload_attempts

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the folders, remove temporary files a crash left behind, open the download session, and
        resume the uploads to ORA that an earlier run did not finish."""
        removed = await asyncio.to_thread(self._prepare_directory)
        if removed:
            log.warning("removed %d unfinished dataset download(s) left from an earlier run", removed)
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "ORA-bot"}, raise_for_status=False)
        self._closing = False
        if self._ora is not None and self._resume is None:
            self._resume = asyncio.create_task(self._resume_unfinished(), name="dataset-upload-resume")

    def _prepare_directory(self) -> int:
        self.temp_directory.mkdir(parents=True, exist_ok=True)
        removed = 0
        for stale in self.temp_directory.glob(f"*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()
                removed += 1
        return removed

    async def close(self) -> None:
        """Refuse new work, stop downloads and uploads in flight (their rows say so), close the session."""
        self._closing = True
        resume, self._resume = self._resume, None
        tasks: builtins.list[asyncio.Task[AddResult] | asyncio.Task[UploadOutcome] | asyncio.Task[None]] = [
            *self._adds,
            *self._uploads.values(),
            *([resume] if resume is not None else []),
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_GRACE)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def drain_uploads(self) -> None:
        """Wait until the start-up resume has started every unfinished upload and all uploads have ended."""
        if self._resume is not None:
            await asyncio.shield(self._resume)
        while running := [task for task in self._uploads.values() if not task.done()]:
            await asyncio.wait(running)

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("DatasetService.start() was not called")
        return self._session

    # ------------------------------------------------------------------ queries

    def limit_for(self, size_limit: int | None) -> int:
        """The effective size limit: the configured one, lowered by the interaction's own limit if any."""
        if size_limit is not None and size_limit > 0:
            return min(self.max_bytes, size_limit)
        return self.max_bytes

    def path_of(self, record: DatasetRecord) -> Path:
        """Where the record's file is (`stored_path` is relative to the dataset folder)."""
        return self.directory / record.stored_path

    def pending_upload(self, dataset_id: int) -> PendingUpload | None:
        task = self._uploads.get(dataset_id)
        return PendingUpload(task) if task is not None and not task.done() else None

    async def list(self, owner_id: int, guild_id: int | None, limit: int = 10) -> builtins.list[DatasetEntry]:
        """The owner's newest datasets (in this guild when `guild_id` is given), newest first."""
        records = await self._store.list_datasets(owner_id, guild_id, limit)
        return [DatasetEntry(record, self.pending_upload(record.id) is not None) for record in records]

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
        """Download, store and record an attachment; start its upload to ORA. Raises `DatasetError`.

        `declared_size` is the attachment's size as Discord reported it; `size_limit` the interaction's
        `attachment_size_limit` (None: only the configured limit applies). `name` defaults to the file name.
        """
        if self._closing or self._session is None:
            raise DatasetError("shutting_down", "the dataset service is not running")
        limit = self.limit_for(size_limit)
        if declared_size is not None and declared_size > limit:
            raise DatasetError("too_large", f"declared {declared_size} > {limit}", limit=limit, size=declared_size)
        try:
            self._policy.check(attachment_url)
        except DownloadRefused as refused:
            log.warning("dataset add by user %d refused: attachment URL %s", owner_id, refused)
            raise DatasetError("url_refused", str(refused)) from None
        if self._adds_by_owner[owner_id] >= self._max_per_user:
            raise DatasetError("busy", f"{self._adds_by_owner[owner_id]} add(s) of this user in progress")
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
        self._adds_by_owner[owner_id] += 1
        task = asyncio.create_task(self._add(new, attachment_url, declared_size, limit))
        self._adds.add(task)

        def finished(done: asyncio.Task[AddResult]) -> None:
            self._adds.discard(done)
            self._adds_by_owner[owner_id] -= 1
            if self._adds_by_owner[owner_id] <= 0:
                del self._adds_by_owner[owner_id]

        task.add_done_callback(finished)
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

    async def _add(self, new: NewDataset, url: str, declared_size: int | None, limit: int) -> AddResult:
        started = time.monotonic()
        budget = await self._reserve(new.owner_id, declared_size, limit)
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
            # Only now: a recorded file counts in `dataset_bytes` from here on.
            self._reserved[new.owner_id] -= budget.reserved
            if self._reserved[new.owner_id] <= 0:
                del self._reserved[new.owner_id]

    async def _reserve(self, owner_id: int, declared_size: int | None, limit: int) -> _Budget:
        """Count this add against the owner's quota (stored bytes plus adds in flight), or refuse it."""
        async with self._quota_lock:
            used = await self._store.dataset_bytes(owner_id) + self._reserved[owner_id]
            left = self.quota_bytes - used
            if left <= 0 or (declared_size is not None and declared_size > left):
                raise DatasetError(
                    "quota_exceeded",
                    f"{used} of {self.quota_bytes} bytes used",
                    limit=self.quota_bytes,
                    used=used,
                    size=declared_size,
                )
            reserved = declared_size if declared_size is not None else min(limit, left)
            self._reserved[owner_id] += reserved
        return _Budget(limit=limit, quota_left=left, reserved=reserved)

    async def _acquire_slot(self, owner_id: int) -> None:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._slot_wait):
                await self._downloads.acquire()
        except TimeoutError:
            log.warning("dataset add by user %d: no download slot free within %g s", owner_id, self._slot_wait)
            raise DatasetError("server_busy", f"no download slot within {self._slot_wait:g} s") from None
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
                # The rename and the INSERT run on in their threads whatever happens here: wait for what the
                # database says instead of guessing. Stored means stored; its upload starts at the next start.
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
        return AddResult(record, duplicate=False, upload=self._start_upload(record.id))

    async def _commit(self, new: NewDataset, downloaded: _Downloaded) -> tuple[DatasetRecord, bool]:
        """Place the file and write its row: (the record, whether it was already there)."""
        existing = await self._store.find_dataset_by_hash(new.owner_id, downloaded.sha256)
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
            record = await self._store.add_dataset(
                attrs.evolve(new, size_bytes=downloaded.size, sha256=downloaded.sha256, stored_path=stored_path)
            )
        except BaseException as error:
            await self._remove_unless_recorded(new.owner_id, downloaded.sha256, target)
            if isinstance(error, sqlite3.Error):
                raise DatasetError("storage_failed", f"cannot record the dataset: {error}") from error
            raise
        if record is None:  # the row appeared meanwhile (another process on the same database)
            existing = await self._store.find_dataset_by_hash(new.owner_id, downloaded.sha256)
            if existing is None:
                raise DatasetError("storage_failed", "the row vanished after a duplicate insert")
            return existing, True
        return record, False

    async def _remove_unless_recorded(self, owner_id: int, sha256: str, target: Path) -> None:
        """The INSERT failed: remove the placed file, unless a row points to it (then it is someone's data)."""
        try:
            recorded = await self._store.find_dataset_by_hash(owner_id, sha256) is not None
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
        upload = self.pending_upload(existing.id)
        if upload is None and self._ora is not None and existing.upload_state != "uploaded":
            if existing.upload_state == "failed":  # a second chance: a fresh set of attempts
                await self._store.restart_dataset_upload(existing.id)
            upload = self._start_upload(existing.id)
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
                self._http,
                url,
                self._policy,
                timeout=self._download_timeout,
                connect_timeout=min(10.0, self._download_timeout),
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
            raise DatasetError("download_timeout", f"not complete within {self._download_timeout:g} s") from error
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

    # ------------------------------------------------------------------ uploading

    def _start_upload(self, dataset_id: int) -> PendingUpload | None:
        task = self._upload_task(dataset_id)
        return PendingUpload(task) if task is not None else None

    def _upload_task(self, dataset_id: int) -> asyncio.Task[UploadOutcome] | None:
        if self._ora is None or self._closing:
            return None
        running = self._uploads.get(dataset_id)
        if running is not None and not running.done():
            return running
        task = asyncio.create_task(self._upload(self._ora, dataset_id), name=f"dataset-upload-{dataset_id}")
        self._uploads[dataset_id] = task

        def forget(done: asyncio.Task[UploadOutcome]) -> None:
            if self._uploads.get(dataset_id) is done:
                del self._uploads[dataset_id]

        task.add_done_callback(forget)
        return task

    async def _resume_unfinished(self) -> None:
        """Send again, a few at a time, every upload an earlier run left `pending` or `uploading`."""
        try:
            records = await self._store.unfinished_dataset_uploads()
        except Exception:
            log.exception("cannot look for unfinished dataset uploads")
            return
        if not records:
            return
        log.info("resuming %d unfinished dataset upload(s) to ORA", len(records))
        gate = asyncio.Semaphore(_RESUME_CONCURRENCY)
        for record in records:
            await gate.acquire()
            task = self._upload_task(record.id)
            if task is None:
                return
            task.add_done_callback(lambda _: gate.release())

    def _backoff(self, attempt: int) -> float:
        return min(self._retry_delay * 2.0 ** (attempt - 1), _MAX_BACKOFF) * random.uniform(0.5, 1.0)

    async def _upload(self, ora: OraApiClient, dataset_id: int) -> UploadOutcome:
        try:
            return await self._attempt_uploads(ora, dataset_id)
        except asyncio.CancelledError:
            await self._note(dataset_id, self._store.interrupt_dataset_upload(dataset_id, INTERRUPTED))
            raise
        except Exception:
            log.exception("dataset %d: unexpected error while uploading to ORA", dataset_id)
            await self._note(dataset_id, self._store.record_dataset_upload_failed(dataset_id, "internal error"))
            return UploadOutcome("failed", None, 0, "internal error")

    async def _attempt_uploads(self, ora: OraApiClient, dataset_id: int) -> UploadOutcome:
        record = await self._store.get_dataset(dataset_id)
        if record is None:
            return UploadOutcome("failed", None, 0, "the dataset is gone")
        if record.upload_state in ("uploaded", "failed"):  # finished since it was queued
            return UploadOutcome(record.upload_state, record.remote_id, record.upload_attempts, record.upload_error)
        if record.upload_attempts >= self._upload_attempts:  # a crash cut off the last attempt
            error = record.upload_error or "the bot stopped during the last attempt"
            await self._note(dataset_id, self._store.record_dataset_upload_failed(dataset_id, error))
            return UploadOutcome("failed", None, record.upload_attempts, error)
        if record.upload_next_at is not None:
            delay = min(record.upload_next_at - time.time(), _MAX_BACKOFF)
            if delay > 0:
                await asyncio.sleep(delay)
        upload = DatasetUpload(
            path=self.path_of(record),
            filename=record.original_filename,
            name=record.name,
            sha256=record.sha256,
            size=record.size_bytes,
            discord_user_id=record.owner_id,
            guild_id=record.guild_id,
            content_type=record.content_type,
        )
        while True:
            attempt = await self._store.begin_dataset_upload_attempt(dataset_id)  # durable before sending
            if attempt is None:
                return UploadOutcome("failed", None, record.upload_attempts, "the dataset is gone")
            started = time.monotonic()
            try:
                result = await ora.ingest_dataset(upload)
            except OraApiError as error:
                if error.retryable and attempt < self._upload_attempts:
                    delay = self._backoff(attempt)
                    log.warning(
                        "dataset %d: ORA upload attempt %d/%d failed (%s); retrying in %.1f s",
                        dataset_id,
                        attempt,
                        self._upload_attempts,
                        error.detail,
                        delay,
                    )
                    retry = self._store.schedule_dataset_upload_retry(dataset_id, error.detail, time.time() + delay)
                    await self._note(dataset_id, retry)
                    await asyncio.sleep(delay)
                    continue
                log.warning("dataset %d: ORA upload failed after %d attempt(s): %s", dataset_id, attempt, error.detail)
                await self._note(dataset_id, self._store.record_dataset_upload_failed(dataset_id, error.detail))
                return UploadOutcome("failed", None, attempt, error.detail)
            except FileNotFoundError:
                log.warning("dataset %d: the stored file %s is missing", dataset_id, upload.path)
                missing = "the stored file is missing"
                await self._note(dataset_id, self._store.record_dataset_upload_failed(dataset_id, missing))
                return UploadOutcome("failed", None, attempt, missing)
            elapsed = time.monotonic() - started
            await self._note(dataset_id, self._store.record_dataset_uploaded(dataset_id, result.remote_id))
            log.info(
                "dataset %d uploaded to ORA as %s (attempt %d, %.2f s)", dataset_id, result.remote_id, attempt, elapsed
            )
            return UploadOutcome("uploaded", result.remote_id, attempt)

    @staticmethod
    async def _note(dataset_id: int, write: Awaitable[object]) -> None:
        """Record an upload state; a failed write is logged (the outcome itself stands)."""
        try:
            await write
        except Exception:
            log.exception("dataset %d: cannot record its upload state", dataset_id)
