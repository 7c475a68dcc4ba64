"""Slow and dead dependencies under load (issue 6): `/ping` latency while 50 `/chat` hang on an LLM that never
answers and 20 `/dataset add` wait on an ORA that answers 500 slowly; then how each hung command ends.

The goal is `/ping` p99 < 50 ms with all of that in flight, and every hung command ending with its clear
message within its configured timeout (the end-to-end test `tests/e2e/test_load.py` asserts the messages;
the timings live here).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench.harness import RunningBot
from bench.pings import latency_ms, ping_once
from bench.stats import percentile
from ora.testing.discord import InteractionRecord, User

CHATS = 50
DATASETS = 20
LLM_READ_TIMEOUT = 5.0
ORA_API_TIMEOUT = 2.0
ORA_UPLOAD_ATTEMPTS = 2
ORA_DELAY = 1.0  # ORA reads the upload, waits this long, then answers 500
ATTACHMENT_BYTES = 256 * 1024
MAX_PINGS = 20_000
FIRST_USER_ID = 720_000_000_000_000_000

CHAT_TIMEOUT_TEXT = "stopped sending anything for"
DATASET_FAILED_TEXT = "Upload to ORA failed"

#: Settings of the bot under load: every /chat gets a slot (50), short timeouts so the run stays short.
LOAD_ENV = {
    "LLM_READ_TIMEOUT": f"{LLM_READ_TIMEOUT:g}",
    "LLM_CONNECT_TIMEOUT": "2",
    "CHAT_MAX_CONCURRENT": str(CHATS),
    "ORA_API_TIMEOUT": f"{ORA_API_TIMEOUT:g}",
    "ORA_UPLOAD_ATTEMPTS": str(ORA_UPLOAD_ATTEMPTS),
}


@dataclass
class LoadFigures:
    chats: int
    datasets: int
    datasets_skipped: str
    pings: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    chats_ended_clearly: int
    chat_end_max_s: float
    chat_timeout_s: float
    datasets_ended_clearly: int
    dataset_end_max_s: float
    dataset_budget_s: float


def dataset_budget() -> float:
    """The longest a /dataset add may wait on ORA: every attempt's timeout plus the back-off between attempts."""
    backoff = sum(min(1.0 * 2.0 ** (attempt - 1), 30.0) for attempt in range(1, ORA_UPLOAD_ATTEMPTS))
    return ORA_UPLOAD_ATTEMPTS * (ORA_API_TIMEOUT + ORA_DELAY) + backoff


def _ended(rec: InteractionRecord, text: str) -> bool:
    return text in rec.all_content()


def _end_seconds(rec: InteractionRecord, ended_at: dict[int, float]) -> float:
    assert rec.delivered_at is not None
    return ended_at[rec.id] - rec.delivered_at


async def measure_load(bot: RunningBot, *, pings: int) -> LoadFigures:
    emulator, llm, ora = bot.emulator, bot.llm, bot.ora
    loop = asyncio.get_running_loop()
    llm.script(fault="hang")
    ora.ingest_failures = 10**6
    ora.ingest_delay = ORA_DELAY
    has_datasets = any(command["name"] == "dataset" for command in emulator.commands(emulator.default_guild.id))

    chats = [
        await emulator.send_command(
            "chat", {"prompt": f"hello {index}"}, user=User(id=FIRST_USER_ID + index, username=f"load{index}")
        )
        for index in range(CHATS)
    ]
    uploads: list[InteractionRecord] = []
    if has_datasets:
        for index in range(DATASETS):
            attachment = emulator.add_attachment(f"data{index}.jsonl", size=ATTACHMENT_BYTES, seed=index)
            user = User(id=FIRST_USER_ID + 1000 + index, username=f"data{index}")
            uploads.append(await emulator.send_command("dataset add", {"file": attachment}, user=user))
    await asyncio.gather(*(rec.wait_initial(timeout=10) for rec in [*chats, *uploads]))

    ended_at: dict[int, float] = {}

    async def watch(rec: InteractionRecord, text: str, budget: float) -> None:
        await rec.wait_for(lambda r: _ended(r, text) or r.errors, timeout=budget + 30)
        ended_at[rec.id] = loop.time()

    watchers = [asyncio.create_task(watch(rec, CHAT_TIMEOUT_TEXT, LLM_READ_TIMEOUT)) for rec in chats]
    watchers += [asyncio.create_task(watch(rec, DATASET_FAILED_TEXT, dataset_budget())) for rec in uploads]
    try:
        # /ping one after another for as long as anything hangs (at least `pings` times), so the figures
        # include the moments when the 50 /chat time out together and the uploads fail.
        latencies: list[float] = []
        while len(latencies) < pings or not all(task.done() for task in watchers):
            latencies.append(latency_ms(await ping_once(emulator)))
            if len(latencies) >= MAX_PINGS:
                break
        await asyncio.gather(*watchers)
    finally:
        for task in watchers:
            task.cancel()
    chats_clear = [rec for rec in chats if _ended(rec, CHAT_TIMEOUT_TEXT) and not rec.errors]
    uploads_clear = [rec for rec in uploads if _ended(rec, DATASET_FAILED_TEXT) and not rec.errors]
    return LoadFigures(
        chats=len(chats),
        datasets=len(uploads),
        datasets_skipped="" if has_datasets else "/dataset is not loaded by ora.app",
        pings=len(latencies),
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies),
        chats_ended_clearly=len(chats_clear),
        chat_end_max_s=max(_end_seconds(rec, ended_at) for rec in chats),
        chat_timeout_s=LLM_READ_TIMEOUT,
        datasets_ended_clearly=len(uploads_clear),
        dataset_end_max_s=max((_end_seconds(rec, ended_at) for rec in uploads), default=float("nan")),
        dataset_budget_s=dataset_budget(),
    )
