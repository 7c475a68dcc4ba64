"""A local ORA backend for tests: `/api/link/init` and `/api/datasets/ingest`, with fault switches.

Ingestion reads the multipart upload as a stream (never whole in memory), computes the SHA-256 and size of
the bytes it actually received and records them with the declared fields in `ingests`, so a test can tell
what ORA got from what the bot claimed. An ingest whose client went away before the answer (a bot killed
mid-upload, a client timeout) is recorded with status `CLIENT_CLOSED` and counts as not accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any, Self
from urllib.parse import unquote

import attrs
from aiohttp import BodyPartReader, web

_CHUNK = 64 * 1024
#: Status recorded for an ingest whose client disconnected before it was answered (nginx's convention).
CLIENT_CLOSED = 499


@attrs.frozen
class IngestRecord:
    """One complete `POST /api/datasets/ingest` as ORA saw it (also the failed and slow ones)."""

    fields: dict[str, str]
    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    status: int
    remote_id: str | None

    @property
    def name(self) -> str | None:
        return self.fields.get("name")


@attrs.define
class FakeOraApi:
    """aiohttp server on 127.0.0.1; `fault` is None, `"http500"`, `"slow"` or `"bad_json"` (every route).

    For ingestion only: the next `ingest_failures` requests are answered with `ingest_failure_status` (then
    ORA recovers), and `ingest_delay` seconds pass before each answer (after the body was read). With
    `hold_ingests`, each ingest waits after its body was read until `release_ingests()` (or until its client
    goes away).
    """

    token: str | None = None
    fault: str | None = None
    slow_seconds: float = 30.0
    ingest_failures: int = 0
    ingest_failure_status: int = 500
    ingest_delay: float = 0.0
    hold_ingests: bool = False
    link_requests: list[dict[str, Any]] = attrs.field(factory=list)
    issued_codes: list[str] = attrs.field(factory=list)
    ingests: list[IngestRecord] = attrs.field(factory=list)
    #: ingest requests whose body was read completely (counted before any delay or fault).
    ingest_attempts: int = 0
    _runner: web.AppRunner | None = None
    base_url: str = ""
    _ingest_signal: asyncio.Condition | None = None
    _release: asyncio.Event | None = None
    _notifying: set[asyncio.Task[None]] = attrs.field(factory=set)

    @property
    def accepted_ingests(self) -> list[IngestRecord]:
        """The ingests ORA answered with success."""
        return [record for record in self.ingests if record.status < 400]

    async def wait_ingest_attempts(self, count: int, timeout: float = 10.0) -> None:
        """Wait (bounded) until at least `count` ingest bodies were received."""
        signal = self._signal()
        async with asyncio.timeout(timeout), signal:
            await signal.wait_for(lambda: self.ingest_attempts >= count)

    def release_ingests(self) -> None:
        """Let held ingests (and later ones) be answered."""
        self.hold_ingests = False
        self._release_event().set()

    def _release_event(self) -> asyncio.Event:
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    async def wait_ingests(self, count: int, timeout: float = 10.0) -> None:
        """Wait (bounded) until at least `count` ingests ended (answered, or their client went away)."""
        signal = self._signal()
        async with asyncio.timeout(timeout), signal:
            await signal.wait_for(lambda: len(self.ingests) >= count)

    def _signal(self) -> asyncio.Condition:
        if self._ingest_signal is None:
            self._ingest_signal = asyncio.Condition()
        return self._ingest_signal

    async def _notify_ingest(self) -> None:
        signal = self._signal()
        async with signal:
            signal.notify_all()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_post("/api/link/init", self._link_init)
        app.router.add_post("/api/datasets/ingest", self._ingest)
        self.setup_routes(app)
        # handler_cancellation: a client that goes away cancels its handler, so it is recorded as such.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    def setup_routes(self, app: web.Application) -> None:
        """Hook for subclasses that serve more routes."""

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def _authorized(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _apply_fault(self) -> web.Response | None:
        if self.fault == "http500":
            return web.json_response({"error": {"message": "internal error (fake ORA)"}}, status=500)
        if self.fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.fault == "bad_json":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        return None

    async def _root(self, _: web.Request) -> web.Response:
        return web.json_response({"service": "fake-ora"})

    async def _link_init(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "unauthorized"}, status=401)
        faulty = await self._apply_fault()
        if faulty is not None:
            return faulty
        body = await request.json()
        self.link_requests.append(body)
        code = f"ORA-{secrets.token_hex(3).upper()}"
        self.issued_codes.append(code)
        return web.json_response({"code": code, "expires_in": 600})

    async def _ingest(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "unauthorized"}, status=401)
        try:
            received = await self._read_upload(request)
        except (ValueError, TypeError) as error:
            return web.json_response({"message": f"bad upload: {error}"}, status=400)
        fields, filename, content_type, size, sha256 = received
        self.ingest_attempts += 1
        await self._notify_ingest()
        try:
            if self.hold_ingests:
                await self._release_event().wait()
            if self.ingest_delay:
                await asyncio.sleep(self.ingest_delay)
            status, remote_id, response = self._ingest_answer(fields, size, sha256)
            if response is None:
                response = await self._apply_fault()
                if response is not None:
                    status, remote_id = response.status, None
        except asyncio.CancelledError:  # the client went away before the answer
            self.ingests.append(IngestRecord(fields, filename, content_type, size, sha256, CLIENT_CLOSED, None))
            self._notify_soon()
            raise
        self.ingests.append(IngestRecord(fields, filename, content_type, size, sha256, status, remote_id))
        await self._notify_ingest()
        if response is not None:
            return response
        return web.json_response({"id": remote_id, "sha256": sha256, "size": size}, status=201)

    def _notify_soon(self) -> None:
        """Wake waiters from a handler being cancelled (it cannot await any more)."""
        task = asyncio.get_running_loop().create_task(self._notify_ingest())
        self._notifying.add(task)
        task.add_done_callback(self._notifying.discard)

    def _ingest_answer(
        self, fields: dict[str, str], size: int, sha256: str
    ) -> tuple[int, str | None, web.Response | None]:
        if self.ingest_failures > 0:
            self.ingest_failures -= 1
            message = {"error": {"message": f"injected failure (fake ORA, HTTP {self.ingest_failure_status})"}}
            return self.ingest_failure_status, None, web.json_response(message, status=self.ingest_failure_status)
        if fields.get("sha256") != sha256 or fields.get("size") != str(size):
            mismatch = {"message": "sha256/size do not match the received bytes"}
            return 422, None, web.json_response(mismatch, status=422)
        return 201, f"ds_{secrets.token_hex(6)}", None

    async def _read_upload(self, request: web.Request) -> tuple[dict[str, str], str | None, str | None, int, str]:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        filename: str | None = None
        content_type: str | None = None
        size = -1
        digest = hashlib.sha256()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise TypeError("nested multipart")
            if part.name == "file":
                filename = unquote(part.filename) if part.filename is not None else None
                content_type = part.headers.get("Content-Type")
                size = 0
                while chunk := await part.read_chunk(_CHUNK):
                    size += len(chunk)
                    digest.update(chunk)
            elif part.name:
                fields[part.name] = await part.text()
        if size < 0:
            raise ValueError("no 'file' part")
        return fields, filename, content_type, size, digest.hexdigest()
