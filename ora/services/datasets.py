"""Datasets: download a Discord attachment to disk, record it, and forward it to ORA.

The flow for one `add`:

1. stream the attachment (signed CDN URL) into ``<dir>/.incoming/<random>.part`` while hashing it, under a
   size limit checked against the declared size, the ``Content-Length`` and the bytes actually received;
2. a body that ends early, a dropped connection or an HTTP error removes the temporary file;
3. the same content already added by the same user is reported, not stored again;
4. otherwise the file is fsynced and renamed (``os.replace``) to ``<dir>/<owner id>/<sha256>`` — nothing the user
   chose appears in the path — and only then is the row written;
5. with ORA configured, the upload runs in a task owned by this service (bounded retries with back-off on
   5xx, 429, timeouts and dropped connections), updates the row's remote status, and can be awaited by the
   command that started it. The local copy is kept whatever ORA answers.

Nothing here knows about Discord's types: the extension passes plain values in and maps `DatasetError.code`
to translated text.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import os
import random
import secrets
import time
from pathlib import Path
from typing import IO, Literal, get_args
from urllib.parse import urlsplit

import aiohttp
import attrs

from ora.services.ora_api import DatasetUpload, OraApiClient, OraApiError
from ora.store import DatasetRecord, NewDataset, Store
from ora.text.filenames import clean_content_type, clean_display_name, sanitize_filename

__all__ = [
    "ERROR_CODES",
    "STATUS_LOCAL_ONLY",
    "STATUS_UPLOADED",
    "AddResult",
    "DatasetEntry",
    "DatasetError",
    "DatasetService",
    "PendingUpload",
    "UploadOutcome",
    "failed_status",
]

log = logging.getLogger(__name__)

STATUS_UPLOADED = "uploaded"
STATUS_LOCAL_ONLY = "local only"
_FAILED_PREFIX = "failed: "

ErrorCode = Literal[
    "too_large",
    "download_failed",
    "download_interrupted",
    "download_timeout",
    "size_mismatch",
    "empty",
    "storage_failed",
    "shutting_down",
]
#: Every `DatasetError.code`; each has a translated message `datasets.error.<code>`.
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)

TEMP_DIRECTORY = ".incoming"
TEMP_SUFFIX = ".part"
_READ_SIZE = 64 * 1024
# Bytes gathered before one write+hash in a worker thread: big enough to amortise the hop, small enough that
# two of them (one being written while the next fills) stay far below the memory goal.
_FLUSH_SIZE = 1024 * 1024
_MAX_BACKOFF = 30.0
_CLOSE_GRACE = 5.0


class DatasetError(Exception):
    """Adding a dataset failed in a way the user should hear about; nothing was stored.

    `code` is one of `ERROR_CODES`; `limit`/`size` (bytes) and `status` (HTTP) fill in the message.
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        limit: int | None = None,
        size: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: ErrorCode = code
        self.detail = detail
        self.limit = limit
        self.size = size
        self.status = status


def failed_status(reason: str) -> str:
    """The remote status recorded when ORA did not take the file."""
    reason = " ".join(reason.split())[:200] or "unknown error"
    return f"{_FAILED_PREFIX}{reason}"


@attrs.frozen
class UploadOutcome:
    """How the upload to ORA ended: `status` is what the row now says."""

    status: str
    remote_id: str | None
    attempts: int

    @property
    def uploaded(self) -> bool:
        return self.status == STATUS_UPLOADED

    @property
    def failure_reason(self) -> str | None:
        """The reason after ``failed: `` (None unless it failed)."""
        return self.status.removeprefix(_FAILED_PREFIX) if self.status.startswith(_FAILED_PREFIX) else None


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

    `upload` is set when an upload to ORA was started (or was already running) for it.
    """

    record: DatasetRecord
    duplicate: bool
    upload: PendingUpload | None = attrs.field(default=None, eq=False)


@attrs.frozen
class DatasetEntry:
    """A row for `/dataset list`; `uploading` while this process is sending it to ORA."""

    record: DatasetRecord
    uploading: bool


@attrs.frozen
class _Downloaded:
    path: Path
    size: int
    sha256: str


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
        download_timeout: float = 60.0,
        upload_attempts: int = 3,
        retry_delay: float = 1.0,
        max_concurrent_downloads: int = 4,
    ) -> None:
        if max_bytes <= 0 or upload_attempts <= 0 or max_concurrent_downloads <= 0:
            raise ValueError("max_bytes, upload_attempts and max_concurrent_downloads must be positive")
        self._store = store
        self.directory = directory
        self.max_bytes = max_bytes
        self._ora = ora
        self._download_timeout = download_timeout
        self._upload_attempts = upload_attempts
        self._retry_delay = retry_delay
        self._downloads = asyncio.Semaphore(max_concurrent_downloads)
        self._session: aiohttp.ClientSession | None = None
        self._adds: set[asyncio.Task[AddResult]] = set()
        self._uploads: dict[int, asyncio.Task[UploadOutcome]] = {}
        self._closing = False

    def __repr__(self) -> str:
        return f"DatasetService(directory={str(self.directory)!r}, ora={self._ora!r})"

    @property
    def temp_directory(self) -> Path:
        return self.directory / TEMP_DIRECTORY

    @property
    def ora_enabled(self) -> bool:
        return self._ora is not None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the folders, remove temporary files a crash left behind, open the download session."""
        removed = await asyncio.to_thread(self._prepare_directory)
        if removed:
            log.warning("removed %d unfinished dataset download(s) left from an earlier run", removed)
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "ORA-bot"}, raise_for_status=False)
        self._closing = False

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
        tasks: builtins.list[asyncio.Task[AddResult] | asyncio.Task[UploadOutcome]] = [
            *self._adds,
            *self._uploads.values(),
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_GRACE)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

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
        task = asyncio.create_task(self._add(new, attachment_url, declared_size, limit))
        self._adds.add(task)
        task.add_done_callback(self._adds.discard)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and self._closing and (current is None or current.cancelling() == 0):
                raise DatasetError("shutting_down", "the bot is stopping") from None
            raise

    async def _add(self, new: NewDataset, url: str, declared_size: int | None, limit: int) -> AddResult:
        started = time.monotonic()
        async with self._downloads:
            downloaded = await self._download(url, declared_size, limit)
        try:
            return await self._record(new, downloaded, started)
        finally:
            with contextlib.suppress(OSError):
                downloaded.path.unlink(missing_ok=True)  # still there only when it was not used

    async def _record(self, new: NewDataset, downloaded: _Downloaded, started: float) -> AddResult:
        existing = await self._store.find_dataset_by_hash(new.owner_id, downloaded.sha256)
        if existing is not None:
            return await self._duplicate(existing, downloaded)
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
        except BaseException:
            # No row of this owner points at this file (UNIQUE(owner, sha256) would have made add_dataset
            # return None instead): do not leave it orphaned.
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
            raise
        if record is None:  # the same user added the same content concurrently and won the race
            existing = await self._store.find_dataset_by_hash(new.owner_id, downloaded.sha256)
            if existing is None:
                raise DatasetError("storage_failed", "the row vanished after a duplicate insert")
            return AddResult(existing, duplicate=True, upload=self.pending_upload(existing.id))
        log.info(
            "dataset %d stored: owner %d, %d bytes, sha256 %s…, %.2f s",
            record.id,
            record.owner_id,
            record.size_bytes,
            record.sha256[:12],
            time.monotonic() - started,
        )
        return AddResult(record, duplicate=False, upload=self._start_upload(record))

    async def _duplicate(self, existing: DatasetRecord, downloaded: _Downloaded) -> AddResult:
        try:
            if await asyncio.to_thread(_restore, downloaded.path, self.path_of(existing)):
                log.warning("dataset %d: its file was missing and was restored from a new copy", existing.id)
        except OSError as error:
            log.warning("dataset %d: cannot restore its missing file: %s", existing.id, error)
        upload = self.pending_upload(existing.id)
        if upload is None and existing.remote_status != STATUS_UPLOADED:
            upload = self._start_upload(existing)  # a second chance for a failed or never-tried upload
        return AddResult(existing, duplicate=True, upload=upload)

    # ------------------------------------------------------------------ downloading

    async def _download(self, url: str, declared_size: int | None, limit: int) -> _Downloaded:
        if urlsplit(url).scheme not in ("http", "https"):
            raise DatasetError("download_failed", "the attachment URL is not http(s)")
        try:
            sink = await asyncio.to_thread(_TempFile.create, self.temp_directory)
        except OSError as error:
            raise DatasetError("storage_failed", f"cannot create a temporary file: {error}") from error
        try:
            size = await self._fetch(url, sink, limit)
            _check_received(size, declared_size)
            try:
                sha256 = await asyncio.to_thread(sink.finish)
            except OSError as error:
                raise DatasetError("storage_failed", f"cannot write the file: {error}") from error
        except BaseException:
            sink.discard()  # synchronous on purpose: it must run even when this task is being cancelled
            raise
        return _Downloaded(sink.path, size, sha256)

    async def _fetch(self, url: str, sink: _TempFile, limit: int) -> int:
        """Stream the body into `sink`; returns the byte count. Maps network trouble to `DatasetError`."""
        timeout = aiohttp.ClientTimeout(total=self._download_timeout, sock_connect=min(10.0, self._download_timeout))
        try:
            async with self._http.get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise DatasetError(
                        "download_failed", f"the CDN answered HTTP {response.status}", status=response.status
                    )
                length = response.content_length
                if length is not None and length > limit:
                    raise DatasetError("too_large", f"Content-Length {length} > {limit}", limit=limit, size=length)
                return await self._receive(response, sink, limit)
        except TimeoutError as error:
            raise DatasetError("download_timeout", f"not complete within {self._download_timeout:g} s") from error
        except aiohttp.ClientConnectorError as error:
            raise DatasetError("download_failed", f"cannot connect to the CDN: {error}") from error
        except aiohttp.ClientError as error:  # payload cut short, connection reset or closed mid-body
            raise DatasetError("download_interrupted", f"{type(error).__name__}: {error}") from error
        except OSError as error:
            raise DatasetError("storage_failed", f"cannot write the file: {error}") from error

    async def _receive(self, response: aiohttp.ClientResponse, sink: _TempFile, limit: int) -> int:
        loop = asyncio.get_running_loop()
        received = 0
        buffer = bytearray()
        writing: asyncio.Future[None] | None = None
        async for chunk in response.content.iter_chunked(_READ_SIZE):
            received += len(chunk)
            if received > limit:
                raise DatasetError("too_large", f"more than {limit} bytes received", limit=limit)
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

    def _start_upload(self, record: DatasetRecord) -> PendingUpload | None:
        if self._ora is None or self._closing:
            return None
        running = self.pending_upload(record.id)
        if running is not None:
            return running
        task = asyncio.create_task(self._upload(self._ora, record), name=f"dataset-upload-{record.id}")
        self._uploads[record.id] = task

        def forget(done: asyncio.Task[UploadOutcome]) -> None:
            if self._uploads.get(record.id) is done:
                del self._uploads[record.id]

        task.add_done_callback(forget)
        return PendingUpload(task)

    def _backoff(self, attempt: int) -> float:
        return min(self._retry_delay * 2.0 ** (attempt - 1), _MAX_BACKOFF) * random.uniform(0.5, 1.0)

    async def _upload(self, ora: OraApiClient, record: DatasetRecord) -> UploadOutcome:
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
        try:
            outcome = await self._attempt_uploads(ora, record, upload)
        except asyncio.CancelledError:
            await self._set_status(record.id, failed_status("interrupted (the bot stopped)"), None)
            raise
        except Exception:
            log.exception("dataset %d: unexpected error while uploading to ORA", record.id)
            outcome = UploadOutcome(failed_status("internal error"), None, 0)
        await self._set_status(record.id, outcome.status, outcome.remote_id)
        return outcome

    async def _attempt_uploads(self, ora: OraApiClient, record: DatasetRecord, upload: DatasetUpload) -> UploadOutcome:
        for attempt in range(1, self._upload_attempts + 1):
            started = time.monotonic()
            try:
                result = await ora.ingest_dataset(upload)
            except OraApiError as error:
                last = attempt == self._upload_attempts
                if error.retryable and not last:
                    delay = self._backoff(attempt)
                    log.warning(
                        "dataset %d: ORA upload attempt %d/%d failed (%s); retrying in %.1f s",
                        record.id,
                        attempt,
                        self._upload_attempts,
                        error.detail,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                log.warning("dataset %d: ORA upload failed after %d attempt(s): %s", record.id, attempt, error.detail)
                return UploadOutcome(failed_status(error.detail), None, attempt)
            except FileNotFoundError:
                log.warning("dataset %d: the stored file %s is missing", record.id, upload.path)
                return UploadOutcome(failed_status("the stored file is missing"), None, attempt)
            log.info(
                "dataset %d uploaded to ORA as %s (attempt %d, %.2f s)",
                record.id,
                result.remote_id,
                attempt,
                time.monotonic() - started,
            )
            return UploadOutcome(STATUS_UPLOADED, result.remote_id, attempt)
        raise AssertionError("unreachable: upload_attempts >= 1")

    async def _set_status(self, dataset_id: int, status: str, remote_id: str | None) -> None:
        try:
            await self._store.set_dataset_remote_status(dataset_id, status, remote_id)
        except Exception:
            log.exception("dataset %d: cannot record its remote status %r", dataset_id, status)
