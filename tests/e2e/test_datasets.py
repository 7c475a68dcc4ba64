"""/dataset add and /dataset list end to end: `python -m ora` + the Discord emulator (CDN included) + fake ORA."""

from __future__ import annotations

import hashlib
import signal
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ora.testing.discord import DM, DiscordEmulator
from ora.testing.discord.records import EPHEMERAL, InteractionRecord
from ora.testing.ora_api import FakeOraApi
from ora.testing.process import BotProcess
from tests.e2e.conftest import Query, StartBot

MIB = 1024 * 1024
ORA_TOKEN = "e2e-ora-token"


@pytest.fixture
async def fake_ora() -> AsyncIterator[FakeOraApi]:
    async with FakeOraApi(token=ORA_TOKEN) as server:
        yield server


@pytest.fixture
def dataset_dir(bot_env: dict[str, str]) -> Path:
    return Path(bot_env["DATASET_DIR"])


@pytest.fixture
async def local_bot(start_bot: StartBot) -> BotProcess:
    """A bot without ORA_API_BASE_URL."""
    return await start_bot()


@pytest.fixture
async def ora_bot(start_bot: StartBot, fake_ora: FakeOraApi) -> BotProcess:
    return await start_bot(
        ORA_API_BASE_URL=fake_ora.base_url, ORA_API_TOKEN=ORA_TOKEN, ORA_API_TIMEOUT="2", ORA_UPLOAD_ATTEMPTS="2"
    )


async def dataset_rows(database: Query) -> list[dict[str, Any]]:
    """Each dataset with the state of its upload job (`done`, `running`, `pending`, `failed`)."""
    return await database(
        "SELECT d.*, j.state AS upload_state, j.attempts AS upload_attempts, j.last_error AS upload_error"
        " FROM datasets d LEFT JOIN jobs j ON j.kind = 'datasets.upload' AND j.subject = CAST(d.id AS TEXT)"
        " ORDER BY d.id"
    )


def files_under(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


async def final_message(rec: InteractionRecord, text: str, timeout: float = 15.0) -> str:
    message = await rec.wait_message(lambda message: text in str(message.get("content")), timeout=timeout)
    return str(message["content"])


async def add_dataset(emulator: DiscordEmulator, attachment: Mapping[str, Any], **kwargs: Any) -> InteractionRecord:
    options: dict[str, Any] = {"file": attachment}
    if "name" in kwargs:
        options["name"] = kwargs.pop("name")
    return await emulator.send_command("dataset add", options, **kwargs)


async def test_commands_are_synced_with_localized_descriptions(
    emulator: DiscordEmulator, local_bot: BotProcess
) -> None:
    commands = await emulator.wait_commands_synced(emulator.default_guild.id)
    (dataset,) = [command for command in commands if command["name"] == "dataset"]
    assert dataset["description_localizations"]["ja"]
    subcommands = {option["name"]: option for option in dataset["options"]}
    assert set(subcommands) == {"add", "list"}
    add_options = {option["name"]: option for option in subcommands["add"]["options"]}
    assert add_options["file"]["type"] == 11
    assert add_options["file"]["required"] is True
    assert add_options["name"]["type"] == 3
    assert not add_options["name"].get("required")
    assert add_options["file"]["description_localizations"]["ja"]


async def test_add_without_ora_keeps_the_file_locally_and_lists_it(
    emulator: DiscordEmulator, local_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    rec = await emulator.send_command("dataset list")
    assert "no datasets here yet" in str((await rec.wait_initial())["data"]["content"])

    attachment = emulator.add_attachment("notes.csv", b"id,text\n1,hello\n")
    rec = await add_dataset(emulator, attachment, name="My **notes** @everyone")
    assert (await rec.wait_initial())["type"] == 5
    assert rec.ephemeral  # PRIVACY_DEFAULT is private
    content = await final_message(rec, "Kept on the bot only")
    assert "Stored **My \\*\\*notes\\*\\* \\@everyone** (16 B" in content
    sha = hashlib.sha256(b"id,text\n1,hello\n").hexdigest()
    assert sha[:12] in content
    (row,) = await dataset_rows(database)
    assert row["upload_state"] == "pending"  # sent if ORA is configured one day
    assert row["original_filename"] == "notes.csv"
    assert row["stored_path"] == f"{emulator.default_user.id}/{sha}"
    assert files_under(dataset_dir) == [dataset_dir / str(emulator.default_user.id) / sha]
    assert rec.errors == []

    rec = await emulator.send_command("dataset list")
    listing = str((await rec.wait_initial())["data"]["content"])
    assert rec.ephemeral
    assert "My \\*\\*notes\\*\\*" in listing and "16 B" in listing and "local only" in listing
    assert "<t:" in listing


async def test_list_is_per_guild_in_a_guild_and_everything_in_a_dm(
    emulator: DiscordEmulator, start_bot: StartBot
) -> None:
    await start_bot(unset=("ORA_DEV_GUILD_ID",))  # global commands, usable in DMs too
    rec = await add_dataset(emulator, emulator.add_attachment("guild.txt", b"in the guild"))
    await final_message(rec, "Stored")
    rec = await add_dataset(emulator, emulator.add_attachment("dm.txt", b"from a DM"), guild_id=DM)
    await final_message(rec, "Stored")
    rec = await emulator.send_command("dataset list")
    listing = str((await rec.wait_initial())["data"]["content"])
    assert "guild.txt" in listing and "dm.txt" not in listing
    rec = await emulator.send_command("dataset list", guild_id=DM)
    listing = str((await rec.wait_initial())["data"]["content"])
    assert listing.index("dm.txt") < listing.index("guild.txt")  # newest first


async def test_add_with_ora_uploads_and_reports_the_remote_id(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, ora_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    fake_ora.ingest_delay = 0.5  # long enough to see the intermediate state
    attachment = emulator.add_attachment("train.jsonl", size=3 * MIB + 1, seed=3)
    rec = await add_dataset(emulator, attachment)
    await final_message(rec, "Sending it to ORA")
    content = await final_message(rec, "Uploaded to ORA (id `ds_")
    (ingest,) = fake_ora.accepted_ingests
    assert ingest.sha256 == emulator.attachment_sha256(attachment)
    assert ingest.remote_id is not None and ingest.remote_id in content
    assert ingest.fields["discord_user_id"] == str(emulator.default_user.id)
    assert ingest.fields["guild_id"] == str(emulator.default_guild.id)
    assert ingest.filename == "train.jsonl"
    (row,) = await dataset_rows(database)
    assert (row["upload_state"], row["upload_attempts"]) == ("done", 1)
    assert row["remote_id"] == ingest.remote_id
    assert row["size_bytes"] == 3 * MIB + 1
    assert len(files_under(dataset_dir)) == 1

    rec = await emulator.send_command("dataset list")
    assert "3.0 MiB" in str((await rec.wait_initial())["data"]["content"])
    assert "uploaded" in str(rec.original and rec.original["content"])


async def test_the_same_file_twice_is_recognised(
    emulator: DiscordEmulator, local_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    first = await add_dataset(emulator, emulator.add_attachment("a.csv", b"same bytes"), name="first upload")
    await final_message(first, "Stored")
    again = await add_dataset(emulator, emulator.add_attachment("b.csv", b"same bytes"), name="second upload")
    content = await final_message(again, "already added")
    assert "**first upload**" in content
    assert len(await dataset_rows(database)) == 1
    assert len(files_under(dataset_dir)) == 1


async def test_ora_failing_once_is_retried(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, ora_bot: BotProcess, database: Query
) -> None:
    fake_ora.ingest_failures = 1
    rec = await add_dataset(emulator, emulator.add_attachment("r.csv", b"retry"))
    await final_message(rec, "Uploaded to ORA")
    assert [ingest.status for ingest in fake_ora.ingests] == [500, 201]
    assert (await dataset_rows(database))[0]["upload_state"] == "done"


async def test_ora_always_failing_keeps_the_local_copy(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, ora_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    fake_ora.ingest_failures = 100
    rec = await add_dataset(emulator, emulator.add_attachment("f.csv", b"fails"))
    content = await final_message(rec, "Upload to ORA failed")
    assert "HTTP 500" in content
    assert fake_ora.ingest_attempts == 2  # ORA_UPLOAD_ATTEMPTS
    (row,) = await dataset_rows(database)
    assert (row["upload_state"], row["upload_attempts"]) == ("failed", 2)
    assert row["upload_error"].startswith("HTTP 500")
    assert (dataset_dir / row["stored_path"]).read_bytes() == b"fails"
    rec = await emulator.send_command("dataset list")
    assert "upload failed" in str((await rec.wait_initial())["data"]["content"])


async def test_a_slow_ora_blocks_neither_the_interaction_nor_other_commands(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, ora_bot: BotProcess, database: Query
) -> None:
    fake_ora.fault = "slow"  # never answers within ORA_API_TIMEOUT=2 s
    rec = await add_dataset(emulator, emulator.add_attachment("s.csv", b"slow"))
    assert (await rec.wait_initial(timeout=3))["type"] == 5
    await fake_ora.wait_ingest_attempts(1, timeout=10)
    listing = await emulator.send_command("dataset list")
    assert "uploading" in str((await listing.wait_initial(timeout=3))["data"]["content"])
    ping = await emulator.send_command("ping")
    await ping.wait_initial(timeout=3)
    content = await final_message(rec, "Upload to ORA failed", timeout=20)
    assert "no answer" in content
    assert fake_ora.ingest_attempts == 2
    (row,) = await dataset_rows(database)
    assert row["upload_state"] == "failed"
    assert row["upload_error"].startswith("no answer")


async def test_a_file_over_the_interaction_limit_is_refused_at_once(
    emulator: DiscordEmulator, local_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    emulator.attachment_size_limit = MIB
    attachment = emulator.add_attachment("big.bin", size=2 * MIB)
    rec = await add_dataset(emulator, attachment)
    body = await rec.wait_initial()
    assert body["type"] == 4
    assert rec.ephemeral
    assert "too large" in body["data"]["content"] and "1.0 MiB" in body["data"]["content"]
    assert emulator.attachment(attachment).downloads == 0
    assert await dataset_rows(database) == []
    assert files_under(dataset_dir) == []


async def test_a_file_over_the_configured_limit_is_refused(
    emulator: DiscordEmulator, start_bot: StartBot, database: Query
) -> None:
    await start_bot(DATASET_MAX_BYTES=str(MIB))
    rec = await add_dataset(emulator, emulator.add_attachment("big.bin", size=MIB + 1), locale="ja")
    body = await rec.wait_initial()
    assert rec.ephemeral
    assert "ファイルが大きすぎます" in body["data"]["content"]
    assert await dataset_rows(database) == []


async def test_broken_downloads_store_nothing_and_fail_ephemerally_in_public_mode(
    emulator: DiscordEmulator, start_bot: StartBot, database: Query, dataset_dir: Path
) -> None:
    await start_bot(PRIVACY_DEFAULT="public")
    expected = {
        "404": "HTTP 404",
        "403": "HTTP 403",
        "drop_mid_body": "cut short",
        "wrong_length": "cut short",
    }
    for fault, text in expected.items():
        rec = await add_dataset(emulator, emulator.add_attachment(f"{fault}.bin", size=2 * MIB, fault=fault))  # type: ignore[arg-type]
        await rec.wait_for(lambda r: r.original_deleted and r.followup_messages, timeout=15)
        assert rec.deferred and not rec.ephemeral  # the deferral followed the public privacy mode
        (message,) = rec.followup_messages.values()
        assert int(message.get("flags") or 0) & EPHEMERAL, fault
        assert text in str(message["content"]), fault
        assert "Nothing was stored" in str(message["content"])
    assert await dataset_rows(database) == []
    assert files_under(dataset_dir) == []


async def test_a_broken_download_in_private_mode_edits_the_ephemeral_deferral(
    emulator: DiscordEmulator, local_bot: BotProcess, database: Query
) -> None:
    rec = await add_dataset(emulator, emulator.add_attachment("cut.bin", size=MIB, fault="drop_mid_body"))
    await final_message(rec, "cut short")
    assert rec.ephemeral
    assert await dataset_rows(database) == []


async def test_hostile_file_names_are_sanitized(
    emulator: DiscordEmulator, local_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    hostile = {
        "../../etc/passwd": "passwd",
        ".env": "env",
        "nul\x00and\nnewline.txt": "nuland newline.txt",
        "n" * 300 + ".csv": "n" * 196 + ".csv",
        "invoice\u202efdp.exe": "invoicefdp.exe",
        "..\\..\\windows\\win.ini": "win.ini",
        "学習データ.csv": "学習データ.csv",
    }
    for index, name in enumerate(hostile):
        rec = await add_dataset(emulator, emulator.add_attachment(name, f"content {index}".encode()))
        content = await final_message(rec, "Kept on the bot only")
        assert "\u202e" not in content and "\x00" not in content, name
    rows = await dataset_rows(database)
    assert [row["original_filename"] for row in rows] == list(hostile.values())
    user_dir = dataset_dir / str(emulator.default_user.id)
    assert files_under(dataset_dir) == sorted(user_dir / row["sha256"] for row in rows)
    assert not (dataset_dir.parent / "etc").exists()
    assert all(not row["name"].startswith(".") for row in rows)


async def test_japanese_users_get_japanese_replies(emulator: DiscordEmulator, local_bot: BotProcess) -> None:
    rec = await add_dataset(emulator, emulator.add_attachment("データ.csv", b"a\n"), locale="ja")
    content = await final_message(rec, "を保存しました")
    assert "**データ.csv**" in content
    rec = await emulator.send_command("dataset list", locale="ja")
    assert "ローカルのみ" in str((await rec.wait_initial())["data"]["content"])


async def test_stopping_during_an_upload_exits_cleanly_and_the_restart_finishes_it(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, start_bot: StartBot, database: Query, dataset_dir: Path
) -> None:
    fake_ora.hold_ingests = True
    ora = {"ORA_API_BASE_URL": fake_ora.base_url, "ORA_API_TOKEN": ORA_TOKEN, "ORA_API_TIMEOUT": "60"}
    bot = await start_bot(**ora)
    rec = await add_dataset(emulator, emulator.add_attachment("stop.csv", b"interrupted upload"))
    await fake_ora.wait_ingest_attempts(1, timeout=10)
    assert await bot.stop(timeout=10) == 0
    assert "upload to ORA will resume" in rec.final_content()
    (row,) = await dataset_rows(database)
    assert (row["upload_state"], row["upload_attempts"]) == ("pending", 0)
    assert row["upload_error"] == "interrupted (the bot stopped)"
    assert (dataset_dir / row["stored_path"]).read_bytes() == b"interrupted upload"
    assert files_under(dataset_dir / ".incoming") == []

    fake_ora.release_ingests()
    restarted = await start_bot(**ora)
    await restarted.wait_for_line(r"dataset \d+ uploaded to ORA as", timeout=15)
    # The restarted bot finishes the reply the stopped one began (its token is still valid), once it is recorded.
    await final_message(rec, "Uploaded to ORA")
    (row,) = await dataset_rows(database)
    assert row["upload_state"] == "done"
    (accepted,) = fake_ora.accepted_ingests
    assert accepted.remote_id == row["remote_id"]


async def test_a_bot_killed_mid_upload_finishes_it_exactly_once_after_a_restart(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, start_bot: StartBot, database: Query, dataset_dir: Path
) -> None:
    fake_ora.hold_ingests = True  # ORA has the bytes but never answers: the bot is killed mid-upload
    ora = {"ORA_API_BASE_URL": fake_ora.base_url, "ORA_API_TOKEN": ORA_TOKEN, "ORA_API_TIMEOUT": "60"}
    bot = await start_bot(**ora)
    attachment = emulator.add_attachment("killed.csv", size=MIB, seed=9)
    rec = await add_dataset(emulator, attachment)
    await final_message(rec, "Sending it to ORA")
    await fake_ora.wait_ingest_attempts(1, timeout=10)
    assert await bot.stop(signal.SIGKILL, timeout=10) == -signal.SIGKILL
    await fake_ora.wait_ingests(1, timeout=10)  # ORA saw the client go away: not an accepted upload
    assert fake_ora.accepted_ingests == []
    (row,) = await dataset_rows(database)
    assert (row["upload_state"], row["upload_attempts"]) == ("running", 1)  # as the crash left it

    fake_ora.release_ingests()
    restarted = await start_bot(**ora)
    await restarted.wait_for_line(r"dataset \d+ uploaded to ORA as .* \(attempt 2,", timeout=15)
    await final_message(rec, "Uploaded to ORA")  # the reply the killed process left is finished by the new one
    (row,) = await dataset_rows(database)
    assert (row["upload_state"], row["upload_attempts"], row["upload_error"]) == ("done", 2, None)
    (accepted,) = fake_ora.accepted_ingests  # exactly once
    assert accepted.sha256 == emulator.attachment_sha256(attachment) == row["sha256"]
    assert accepted.remote_id == row["remote_id"]
    assert fake_ora.ingest_attempts == 2
    listing = await emulator.send_command("dataset list")
    assert "uploaded" in str((await listing.wait_initial())["data"]["content"])
    assert (dataset_dir / row["stored_path"]).stat().st_size == MIB


async def test_an_attachment_redirected_off_discord_is_refused(
    emulator: DiscordEmulator, fake_ora: FakeOraApi, local_bot: BotProcess, database: Query, dataset_dir: Path
) -> None:
    attachment = emulator.add_attachment("moved.csv", b"not from discord")
    emulator.attachment(attachment).redirect_to = f"{fake_ora.base_url}/"  # a server that would answer 200
    rec = await add_dataset(emulator, attachment)
    content = await final_message(rec, "not one of Discord's attachment hosts")
    assert "Nothing was stored" in content
    assert rec.ephemeral
    assert await dataset_rows(database) == []
    assert files_under(dataset_dir) == []


async def test_a_full_quota_is_explained_in_japanese(
    emulator: DiscordEmulator, start_bot: StartBot, database: Query
) -> None:
    await start_bot(DATASET_QUOTA_BYTES="2048")
    first = await add_dataset(emulator, emulator.add_attachment("a.csv", b"a" * 1500), locale="ja")
    await final_message(first, "を保存しました")
    second = await add_dataset(emulator, emulator.add_attachment("b.csv", b"b" * 1000), locale="ja")
    content = await final_message(second, "データセットの保存容量が足りません")
    assert "2.0 KiB のうち 1.5 KiB を使用中です（このファイルは 1000 B）" in content
    assert len(await dataset_rows(database)) == 1
