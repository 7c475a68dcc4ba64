"""OraApiClient.ingest_dataset against FakeOraApi: fields, streaming, error classification; /link still works."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ora.core.ora_api import DatasetUpload, OraApiClient, OraApiError
from ora.testing.ora_api import FakeOraApi

TOKEN = "ora-test-token"


@pytest.fixture
async def fake_ora() -> AsyncIterator[FakeOraApi]:
    async with FakeOraApi(token=TOKEN) as server:
        yield server


@pytest.fixture
async def client(fake_ora: FakeOraApi) -> AsyncIterator[OraApiClient]:
    api = OraApiClient(fake_ora.base_url, token=TOKEN, timeout=2.0)
    await api.start()
    yield api
    await api.close()


def upload_of(path: Path, data: bytes, **overrides: object) -> DatasetUpload:
    path.write_bytes(data)
    values: dict[str, object] = {
        "path": path,
        "filename": "学習 データ.csv",
        "name": 'My "quoted" name; with=signs',
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "discord_user_id": 42,
        "guild_id": 7,
        "content_type": "text/csv",
    }
    values.update(overrides)
    return DatasetUpload(**values)  # type: ignore[arg-type]


async def test_ingest_sends_every_field_and_the_exact_bytes(
    client: OraApiClient, fake_ora: FakeOraApi, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4096 + b"tail"
    result = await client.ingest_dataset(upload_of(tmp_path / "f", data))
    (ingest,) = fake_ora.ingests
    assert result.remote_id == ingest.remote_id
    assert result.remote_id is not None
    assert ingest.sha256 == hashlib.sha256(data).hexdigest()
    assert ingest.size == len(data)
    assert ingest.filename == "学習 データ.csv"
    assert ingest.content_type == "text/csv"
    assert ingest.fields == {
        "name": 'My "quoted" name; with=signs',
        "sha256": ingest.sha256,
        "size": str(len(data)),
        "discord_user_id": "42",
        "guild_id": "7",
    }


async def test_a_file_can_be_sent_again_for_a_retry(client: OraApiClient, fake_ora: FakeOraApi, tmp_path: Path) -> None:
    upload = upload_of(tmp_path / "f", b"twice")
    await client.ingest_dataset(upload)
    await client.ingest_dataset(upload)
    assert [ingest.sha256 for ingest in fake_ora.ingests] == [upload.sha256] * 2


async def test_server_errors_are_retryable(client: OraApiClient, fake_ora: FakeOraApi, tmp_path: Path) -> None:
    fake_ora.ingest_failures = 1
    with pytest.raises(OraApiError) as caught:
        await client.ingest_dataset(upload_of(tmp_path / "f", b"x"))
    assert caught.value.code == "http_error"
    assert caught.value.status == 500
    assert caught.value.retryable
    assert "injected failure" in caught.value.detail


async def test_a_wrong_token_is_not_retryable(fake_ora: FakeOraApi, tmp_path: Path) -> None:
    api = OraApiClient(fake_ora.base_url, token="wrong", timeout=2.0)
    await api.start()
    try:
        with pytest.raises(OraApiError) as caught:
            await api.ingest_dataset(upload_of(tmp_path / "f", b"x"))
    finally:
        await api.close()
    assert caught.value.status == 401
    assert not caught.value.retryable


async def test_a_checksum_ora_disagrees_with_is_reported(
    client: OraApiClient, fake_ora: FakeOraApi, tmp_path: Path
) -> None:
    with pytest.raises(OraApiError) as caught:
        await client.ingest_dataset(upload_of(tmp_path / "f", b"x", sha256="0" * 64))
    assert caught.value.status == 422
    assert not caught.value.retryable


async def test_a_slow_ora_is_a_retryable_timeout(fake_ora: FakeOraApi, tmp_path: Path) -> None:
    fake_ora.fault = "slow"
    api = OraApiClient(fake_ora.base_url, token=TOKEN, timeout=0.2)
    await api.start()
    try:
        with pytest.raises(OraApiError) as caught:
            await api.ingest_dataset(upload_of(tmp_path / "f", b"x"))
    finally:
        await api.close()
    assert caught.value.code == "timeout"
    assert caught.value.retryable


async def test_an_answer_without_id_still_counts_as_uploaded(
    client: OraApiClient, fake_ora: FakeOraApi, tmp_path: Path
) -> None:
    fake_ora.fault = "bad_json"
    result = await client.ingest_dataset(upload_of(tmp_path / "f", b"x"))
    assert result.remote_id is None


async def test_a_missing_file_raises_file_not_found(client: OraApiClient, tmp_path: Path) -> None:
    upload = upload_of(tmp_path / "f", b"x")
    upload.path.unlink()
    with pytest.raises(FileNotFoundError):
        await client.ingest_dataset(upload)


async def test_link_init_still_works(client: OraApiClient, fake_ora: FakeOraApi) -> None:
    link = await client.link_init(99)
    assert link.code == fake_ora.issued_codes[0]
    assert fake_ora.link_requests == [{"discord_user_id": "99"}]


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("timeout", None, True),
        ("unreachable", None, True),
        ("http_error", 500, True),
        ("http_error", 503, True),
        ("http_error", 429, True),
        ("http_error", 400, False),
        ("http_error", 404, False),
        ("bad_response", None, False),
    ],
)
def test_retryable_classification(code: str, status: int | None, retryable: bool) -> None:
    assert OraApiError(code, "x", status=status).retryable is retryable
