"""Attachment storage and the CDN side of the emulator.

Speaks like ``cdn.discordapp.com``: ``GET /attachments/{channel}/{id}/{filename}?ex=…&is=…&hm=…`` with signed,
expiring URLs (an expired or tampered URL gets 404 "This content is no longer available."). ``proxy_url``
points at ``/media/attachments/…`` (Discord's ``media.discordapp.net``) and serves the same bytes.

Large files need not be held in memory: ``size=…, seed=…`` makes deterministic pseudo-random bytes that are
generated and streamed in 64 KiB chunks. Fault injection per attachment: ``"404"``, ``"403"``,
``"drop_mid_body"`` (connection closed after half the body), ``"wrong_length"`` (``Content-Length`` larger than the
body, then the connection is closed), ``"slow"`` (body trickles out in small chunks with pauses). Setting
``redirect_to`` on a stored attachment makes the CDN answer ``302 Found`` with that ``Location`` instead of the
bytes (a CDN that sends clients elsewhere).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import quote

import attrs
from aiohttp import web

from ora.testing.discord.payloads import JSON

__all__ = ["AttachmentFault", "AttachmentStore", "StoredAttachment"]

AttachmentFault = Literal["404", "403", "drop_mid_body", "wrong_length", "slow"]
_CHUNK = 64 * 1024
_FAULTS: frozenset[str] = frozenset({"404", "403", "drop_mid_body", "wrong_length", "slow"})


@attrs.define
class StoredAttachment:
    """One attachment: either literal ``content`` or ``size`` deterministic bytes from ``seed``."""

    id: int
    channel_id: int
    filename: str
    content_type: str | None
    size: int
    content: bytes | None
    seed: int
    fault: AttachmentFault | None
    description: str | None = None
    ephemeral: bool = False
    downloads: int = 0
    redirect_to: str | None = None

    def chunks(self) -> Iterator[bytes]:
        """The attachment's bytes in chunks of at most 64 KiB."""
        if self.content is not None:
            for start in range(0, len(self.content), _CHUNK):
                yield self.content[start : start + _CHUNK]
            return
        rng = random.Random(self.seed)
        remaining = self.size
        while remaining > 0:
            n = min(_CHUNK, remaining)
            yield rng.randbytes(n)
            remaining -= n

    def read(self) -> bytes:
        """All bytes (fine for small attachments)."""
        return b"".join(self.chunks())

    def sha256(self) -> str:
        """Hex SHA-256 of the attachment's bytes, computed by streaming."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


class AttachmentStore:
    """Holds attachments and serves them; URLs are signed with a per-emulator key."""

    def __init__(self, *, url_ttl: float = 86_400.0) -> None:
        self._items: dict[int, StoredAttachment] = {}
        self._key = random.randbytes(32)
        self.url_ttl = url_ttl
        #: (attachment id, outcome) for each download attempt: "ok", "expired", "404", "403", fault names.
        self.requests: list[tuple[int, str]] = []

    def add(self, item: StoredAttachment) -> None:
        """Register an attachment."""
        if item.fault is not None and item.fault not in _FAULTS:
            msg = f"unknown attachment fault {item.fault!r}; expected one of {sorted(_FAULTS)}"
            raise ValueError(msg)
        self._items[item.id] = item

    def get(self, attachment_id: int) -> StoredAttachment:
        """The attachment with this id (``KeyError`` if unknown)."""
        return self._items[attachment_id]

    def _signature(self, item: StoredAttachment, expires: int, issued: int) -> str:
        msg = f"{item.channel_id}/{item.id}/{item.filename}/{expires:x}/{issued:x}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def _query(self, item: StoredAttachment) -> str:
        issued = int(time.time())
        expires = issued + int(self.url_ttl)
        return f"ex={expires:x}&is={issued:x}&hm={self._signature(item, expires, issued)}"

    def object(self, item: StoredAttachment, base_url: str) -> JSON:
        """The Discord attachment object, with freshly signed ``url`` and ``proxy_url``."""
        # Percent-encoded like Discord's CDN, so names with '/', '?', '#', NUL or newlines still resolve.
        path = f"attachments/{item.channel_id}/{item.id}/{quote(item.filename, safe='')}"
        query = self._query(item)
        payload: JSON = {
            "id": str(item.id),
            "filename": item.filename,
            "size": item.size,
            "url": f"{base_url}/{path}?{query}",
            "proxy_url": f"{base_url}/media/{path}?{query}",
        }
        if item.content_type is not None:
            payload["content_type"] = item.content_type
        if item.description is not None:
            payload["description"] = item.description
        if item.ephemeral:
            payload["ephemeral"] = True
        return payload

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes for the CDN and media proxy."""
        return [
            web.get("/attachments/{channel}/{id}/{filename}", self._serve),
            web.get("/media/attachments/{channel}/{id}/{filename}", self._serve),
        ]

    def _verify(self, request: web.Request, item: StoredAttachment) -> bool:
        try:
            expires = int(request.query["ex"], 16)
            issued = int(request.query["is"], 16)
            given = request.query["hm"]
        except (KeyError, ValueError):
            return False
        if expires < time.time():
            return False
        return hmac.compare_digest(given, self._signature(item, expires, issued))

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        try:
            item = self._items[int(request.match_info["id"])]
        except (KeyError, ValueError):
            return web.Response(status=404, text="Not Found")
        if str(item.channel_id) != request.match_info["channel"] or item.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        if not self._verify(request, item):
            self.requests.append((item.id, "expired"))
            return web.Response(status=404, text="This content is no longer available.")
        item.downloads += 1
        if item.redirect_to is not None:
            self.requests.append((item.id, "redirect"))
            raise web.HTTPFound(item.redirect_to)
        if item.fault in {"404", "403"}:
            self.requests.append((item.id, str(item.fault)))
            status = 404 if item.fault == "404" else 403
            return web.Response(status=status, text="Not Found" if status == 404 else "Forbidden")
        self.requests.append((item.id, item.fault or "ok"))
        return await self._stream(request, item)

    async def _stream(self, request: web.Request, item: StoredAttachment) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = item.content_type or "application/octet-stream"
        declared = item.size + (1024 if item.fault == "wrong_length" else 0)
        response.content_length = declared
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["Cache-Control"] = "public, max-age=31536000"
        response.headers["ETag"] = f'"{item.id:x}"'
        if item.fault == "wrong_length":
            response.force_close()
        await response.prepare(request)
        sent = 0
        for chunk in item.chunks():
            if item.fault == "drop_mid_body" and sent + len(chunk) > item.size // 2:
                await response.write(chunk[: max(0, item.size // 2 - sent)])
                _close_connection(request)
                return response
            await response.write(chunk)
            sent += len(chunk)
            if item.fault == "slow":
                await asyncio.sleep(0.05)
        if item.fault == "wrong_length":
            _close_connection(request)
            return response
        await response.write_eof()
        return response


def _close_connection(request: web.Request) -> None:
    """Close the TCP connection after what was written is flushed: the body ends short of Content-Length."""
    transport: Any = request.transport
    if transport is not None:
        transport.close()
