"""Slow and dead dependencies under load: every hung command ends with its clear message, and /ping still works.

50 `/chat` wait on an LLM that never answers while 20 `/dataset add` wait on an ORA that answers 500 slowly or
not within its timeout. The test asserts how each command ends; how fast `/ping` stays meanwhile (p99 < 50 ms)
is measured by the benchmark (`python -m bench`, bench/RESULTS.md), never asserted here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ora.testing.discord import DiscordEmulator, InteractionRecord, User
from ora.testing.llm import FakeLLMServer
from ora.testing.ora_api import FakeOraApi
from ora.testing.process import BotProcess
from tests.e2e.conftest import StartBot

CHATS = 50
DATASETS = 20
LLM_READ_TIMEOUT = 3
ORA_API_TIMEOUT = 1
ORA_UPLOAD_ATTEMPTS = 2
#: How long past its configured timeout a command may take to show its message before the test gives up
#: (a bound for the wait, not a performance assertion: the benchmark measures the real delay).
SLACK = 30.0
LOADING = 1 << 7
CHAT_TIMEOUT_TEXT = f"The LLM server stopped sending anything for {LLM_READ_TIMEOUT} s."
FAILED_TEXT = "Upload to ORA failed"


class HalfSlowOra(FakeOraApi):
    """Answers 500 after `ingest_delay`; uploads of files named `slow-*` also take `slow_extra` seconds more."""

    slow_extra = ORA_API_TIMEOUT + 2.0

    async def _read_upload(self, request: web.Request) -> tuple[dict[str, str], str | None, str | None, int, str]:
        received = await super()._read_upload(request)
        if (received[1] or "").startswith("slow-"):
            await asyncio.sleep(self.slow_extra)
        return received


@pytest.fixture
async def ora() -> AsyncIterator[FakeOraApi]:
    async with HalfSlowOra() as server:
        yield server


@pytest.fixture
async def loaded_bot(start_bot: StartBot, llm: FakeLLMServer, ora: FakeOraApi) -> BotProcess:
    return await start_bot(
        LLM_BASE_URL=llm.base_url,
        LLM_READ_TIMEOUT=str(LLM_READ_TIMEOUT),
        LLM_CONNECT_TIMEOUT="2",
        CHAT_MAX_CONCURRENT=str(CHATS),  # every /chat gets a slot: 50 really in flight
        ORA_API_BASE_URL=ora.base_url,
        ORA_API_TIMEOUT=str(ORA_API_TIMEOUT),
        ORA_UPLOAD_ATTEMPTS=str(ORA_UPLOAD_ATTEMPTS),
    )


def user(offset: int) -> User:
    return User(id=5_000_000_000_000_000_000 + offset, username=f"load{offset}")


def final_text(rec: InteractionRecord) -> str:
    original = rec.original
    if original is None or int(original.get("flags") or 0) & LOADING:
        return ""
    return rec.all_content()


async def send_chats(emulator: DiscordEmulator) -> list[InteractionRecord]:
    return [
        await emulator.send_command("chat", {"prompt": f"question {index}"}, user=user(index)) for index in range(CHATS)
    ]


async def send_datasets(emulator: DiscordEmulator) -> list[InteractionRecord]:
    """Half of the files are named `slow-*` (ORA does not answer them in time), half `load-*` (ORA answers 500)."""
    records = []
    for index in range(DATASETS):
        prefix = "slow" if index % 2 else "load"
        attachment = emulator.add_attachment(f"{prefix}-{index}.jsonl", size=64 * 1024, seed=index)
        records.append(await emulator.send_command("dataset add", {"file": attachment}, user=user(1000 + index)))
    return records


async def pings_meanwhile(emulator: DiscordEmulator, done: asyncio.Event) -> int:
    """/ping one after another until `done`; every one must be answered. Returns how many were sent."""
    count = 0
    while not done.is_set():
        rec = await emulator.send_command("ping")
        body = await rec.wait_initial(timeout=10)
        assert body["data"]["content"].startswith("Pong!"), body
        count += 1
    return count


async def test_hung_llm_and_failing_ora_under_load_end_every_command_clearly(
    emulator: DiscordEmulator, llm: FakeLLMServer, ora: FakeOraApi, loaded_bot: BotProcess
) -> None:
    assert "dataset" in {command["name"] for command in emulator.commands(emulator.default_guild.id)}
    llm.script(fault="hang")
    ora.ingest_failures = 10**6  # every upload fails: 500 after half a second, or no answer in time (slow-*)
    ora.ingest_delay = 0.5
    chats = await send_chats(emulator)
    uploads = await send_datasets(emulator)

    done = asyncio.Event()
    pinger = asyncio.create_task(pings_meanwhile(emulator, done))
    try:
        initial = await asyncio.gather(*(rec.wait_initial(timeout=10) for rec in [*chats, *uploads]))
        assert all(body["type"] == 5 for body in initial)  # all deferred at once, none refused
        await asyncio.gather(
            *(
                rec.wait_for(lambda r: CHAT_TIMEOUT_TEXT in final_text(r), timeout=LLM_READ_TIMEOUT + SLACK)
                for rec in chats
            )
        )
        upload_budget = ORA_UPLOAD_ATTEMPTS * (ORA_API_TIMEOUT + HalfSlowOra.slow_extra) + 2.0
        await asyncio.gather(
            *(rec.wait_for(lambda r: FAILED_TEXT in final_text(r), timeout=upload_budget + SLACK) for rec in uploads)
        )
    finally:
        done.set()
        pings = await pinger
    assert pings > 0

    for rec in [*chats, *uploads]:
        assert rec.ephemeral and rec.errors == [], rec.errors
        assert len(rec.callbacks) == 1
    for index, rec in enumerate(uploads):
        text = final_text(rec)
        assert "Stored **" in text and "The file is kept here" in text, text
        if index % 2:
            assert "no answer from /api/datasets/ingest within" in text, text
        else:
            assert "HTTP 500" in text, text
    assert loaded_bot.returncode is None
    assert len([line for line in loaded_bot.stdout_lines if "/chat for user" in line and "failed" in line]) == CHATS
    gave_up = [line for line in loaded_bot.stdout_lines if f"failed after {ORA_UPLOAD_ATTEMPTS} attempt(s)" in line]
    assert len(gave_up) == DATASETS  # bounded retries: each upload tried exactly ORA_UPLOAD_ATTEMPTS times


async def test_hung_llm_with_default_limits_refuses_the_excess_clearly(
    emulator: DiscordEmulator, llm: FakeLLMServer, start_bot: StartBot
) -> None:
    """With the default CHAT_MAX_CONCURRENT (4), 50 simultaneous /chat: 4 wait for the LLM, 46 are told it is busy."""
    await start_bot(LLM_BASE_URL=llm.base_url, LLM_READ_TIMEOUT=str(LLM_READ_TIMEOUT))
    llm.script(fault="hang")
    chats = await send_chats(emulator)
    await asyncio.gather(*(rec.wait_initial(timeout=10) for rec in chats))
    busy = [rec for rec in chats if "too many questions" in (rec.initial or {}).get("data", {}).get("content", "")]
    waiting = [rec for rec in chats if rec.deferred]
    assert (len(waiting), len(busy)) == (4, CHATS - 4)
    assert all(rec.ephemeral for rec in busy)
    await asyncio.gather(
        *(
            rec.wait_for(lambda r: CHAT_TIMEOUT_TEXT in final_text(r), timeout=LLM_READ_TIMEOUT + SLACK)
            for rec in waiting
        )
    )
