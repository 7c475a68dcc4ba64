"""Client for the ORA backend (`ORA_API_BASE_URL`): link codes and dataset ingestion."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from ora.core.http import SessionHandle

log = logging.getLogger(__name__)


#: Slowest upload rate still considered healthy: an ingest attempt may take `timeout + size / rate` seconds.
MIN_UPLOAD_BYTES_PER_SECOND = 1024 * 1024


class OraApiError(Exception):
    """ORA could not be used; `code` is stable (`unreachable`, `timeout`, `http_error`, `bad_response`)."""

    def __init__(self, code: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"ORA API {code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status

    @property
    def retryable(self) -> bool:
        """Worth another attempt: ORA was unreachable, too slow, overloaded (429) or failing (5xx)."""
        if self.code in ("unreachable", "timeout"):
            return True
        return self.code == "http_error" and self.status is not None and (self.status >= 500 or self.status == 429)


@attrs.frozen
class LinkCode:
    code: str
    expires_in: int | None
    url: str | None


@attrs.frozen
class DatasetUpload:
    """A stored dataset file and the metadata sent with it to `POST /api/datasets/ingest`."""

    path: Path
    filename: str
    name: str
    sha256: str
    size: int
    discord_user_id: int
    guild_id: int | None
    content_type: str | None = None


@attrs.frozen
class IngestResult:
    """ORA accepted the file; `remote_id` is its id there (None when ORA did not say)."""

    remote_id: str | None


def _server_message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:300]
    return ""


async def _read_answer(response: aiohttp.ClientResponse) -> Any:
    """The JSON body (None when it is not JSON); `OraApiError` for an HTTP error status, with ORA's message."""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        body = None
    if response.status >= 400:
        message = _server_message(body) or response.reason or "error"
        raise OraApiError("http_error", f"HTTP {response.status}: {message}", status=response.status)
    return body


class OraApiClient:
    """The ORA backend, on the bot's shared HTTP session (or one of its own, opened by `start()`)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._http = SessionHandle(session, owner="OraApiClient")

    def __repr__(self) -> str:
        return f"OraApiClient(base_url={self.base_url!r})"

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._http.session

    async def _post_json(self, path: str, payload: dict[str, Any]) -> Any:
        url = f"{self.base_url}{path}"
        try:
            async with self.session.post(
                url, json=payload, headers=self._headers, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                body = await _read_answer(response)
                if body is None:
                    raise OraApiError("bad_response", "the answer was not JSON")
                return body
        except TimeoutError as error:
            raise OraApiError("timeout", f"no answer from {path} within {self._timeout:g} s") from error
        except aiohttp.ClientConnectionError as error:
            raise OraApiError("unreachable", f"cannot reach ORA ({type(error).__name__})") from error

    async def link_init(self, discord_user_id: int) -> LinkCode:
        """`POST /api/link/init` → the code ORA issues for this Discord user."""
        body = await self._post_json("/api/link/init", {"discord_user_id": str(discord_user_id)})
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            raise OraApiError("bad_response", "no 'code' in the answer to /api/link/init")
        expires_in = body.get("expires_in")
        url = body.get("url")
        return LinkCode(
            code=code,
            expires_in=expires_in if isinstance(expires_in, int) else None,
            url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        )

    async def ingest_dataset(self, upload: DatasetUpload) -> IngestResult:
        """`POST /api/datasets/ingest`: one attempt, the file streamed from disk as multipart/form-data.

        Fields: `file` (the bytes, with the sanitized file name), `name`, `sha256`, `size`, `discord_user_id`,
        `guild_id` ("" outside a guild). The attempt may take `timeout + size / MIN_UPLOAD_BYTES_PER_SECOND`
        seconds. Raises `OraApiError`; `error.retryable` tells whether another attempt makes sense.
        """
        path = "/api/datasets/ingest"
        limit = self._timeout + upload.size / MIN_UPLOAD_BYTES_PER_SECOND
        file = await asyncio.to_thread(upload.path.open, "rb")
        try:
            form = aiohttp.FormData()
            form.add_field(
                "file", file, filename=upload.filename, content_type=upload.content_type or "application/octet-stream"
            )
            form.add_field("name", upload.name)
            form.add_field("sha256", upload.sha256)
            form.add_field("size", str(upload.size))
            form.add_field("discord_user_id", str(upload.discord_user_id))
            form.add_field("guild_id", "" if upload.guild_id is None else str(upload.guild_id))
            timeout = aiohttp.ClientTimeout(total=limit, sock_connect=self._timeout)
            async with self.session.post(
                f"{self.base_url}{path}", data=form, headers=self._headers, timeout=timeout
            ) as response:
                body = await _read_answer(response)
        except TimeoutError as error:
            raise OraApiError("timeout", f"no answer from {path} within {limit:.1f} s") from error
        except aiohttp.ClientError as error:  # refused, reset mid-upload, broken answer: all transient
            raise OraApiError("unreachable", f"cannot reach ORA ({type(error).__name__})") from error
        finally:
            file.close()
        remote_id = body.get("id", body.get("dataset_id")) if isinstance(body, dict) else None
        if isinstance(remote_id, int) and not isinstance(remote_id, bool):
            remote_id = str(remote_id)
        return IngestResult(remote_id=remote_id[:200] if isinstance(remote_id, str) and remote_id else None)

    async def probe(self, timeout: float) -> bool:
        """Whether ORA answers HTTP at all (any status below 500) within `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                async with self.session.get(self.base_url + "/", headers=self._headers) as response:
                    return response.status < 500
        except (TimeoutError, aiohttp.ClientError):
            return False
