"""Bad input reaches `python -m ora`: interactions Discord would never send as they are, and broken gateway frames.

The bot must log each one and answer it with a clear ephemeral message or ignore it — and keep serving: every test
ends with a /ping that must still be answered. Interactions are built with the emulator's payload builder and then
damaged, and dispatched like any other (`send_raw_interaction` registers them so the emulator records answers).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from ora.testing.discord import ADMINISTRATOR, DiscordEmulator, InteractionRecord, User
from ora.testing.discord.interactions import InteractionSpec, build_interaction
from ora.testing.discord.payloads import JSON
from ora.testing.process import BotProcess

INTERNAL_ERROR = "Something went wrong on our side"
LOADING = 1 << 7


def interaction_payload(
    emulator: DiscordEmulator,
    name: str,
    values: Mapping[str, Any] | None = None,
    *,
    member_permissions: int | None = None,
    user: User | None = None,
) -> JSON:
    """A well-formed INTERACTION_CREATE for a synced command (to be damaged by the test)."""
    spec = InteractionSpec(
        name=name,
        path=(),
        values=dict(values or {}),
        user=user or emulator.default_user,
        guild_id=emulator.default_guild.id,
        channel_id=None,
        locale="en-US",
        member_permissions=member_permissions,
        roles=(),
    )
    return build_interaction(emulator, spec)[2]


async def send_raw_interaction(emulator: DiscordEmulator, payload: JSON) -> InteractionRecord:
    """Dispatch `payload` as INTERACTION_CREATE and record the bot's answers to it like `send_command` does."""
    rec = InteractionRecord(id=int(payload["id"]), token=str(payload["token"]), payload=payload, signal=emulator.signal)
    emulator.interactions[rec.id] = rec
    emulator.interactions_by_token[rec.token] = rec
    loop = asyncio.get_running_loop()

    def delivered() -> None:
        rec.delivered_at = loop.time()
        rec.changed()

    await emulator.gateway.dispatch("INTERACTION_CREATE", payload, on_sent=delivered)
    return rec


async def answer_text(rec: InteractionRecord, timeout: float = 10.0) -> str:
    """The text the user finally sees (the reply, or its follow-up after a deferral)."""

    def shown(r: InteractionRecord) -> bool:
        original = r.original
        visible = original is not None and not int(original.get("flags") or 0) & LOADING and original.get("content")
        return bool(visible or r.followups)

    await rec.wait_for(shown, timeout=timeout)
    return rec.all_content()


async def still_serving(emulator: DiscordEmulator, bot: BotProcess, timeout: float = 10.0) -> None:
    """A /ping is answered (fails at once if the bot exits instead)."""
    assert bot.returncode is None, f"the bot exited ({bot.returncode}):\n{bot.stdout[-3000:]}"
    rec = await emulator.send_command("ping", user=User(id=4_000_000_000_000_000_001, username="after"))
    answered = asyncio.ensure_future(rec.wait_initial(timeout=timeout))
    exited = asyncio.ensure_future(bot.process.wait())
    try:
        await asyncio.wait({answered, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
    if not answered.done():
        answered.cancel()
        pytest.fail(f"the bot exited ({bot.returncode}) instead of answering:\n{bot.stdout[-3000:]}")
    assert answered.result()["data"]["content"].startswith("Pong!")


# ---------------------------------------------------------------------------------------------- interactions


async def test_unknown_command_is_ignored_or_answered_and_the_bot_carries_on(
    emulator: DiscordEmulator, bot: BotProcess
) -> None:
    # A command deleted from the application while a client still shows it (or a forged one).
    payload = interaction_payload(emulator, "ping")
    payload["data"] |= {"name": "no-such-command", "id": str(emulator.ids.next())}
    rec = await send_raw_interaction(emulator, payload)
    await still_serving(emulator, bot)
    # Either no answer at all (lightbulb's default: logged at DEBUG) or one clear ephemeral message.
    assert len(rec.callbacks) <= 1
    if rec.callbacks:
        assert rec.ephemeral
        assert INTERNAL_ERROR not in rec.all_content()
    assert bot.returncode is None


async def test_stale_command_id_with_a_known_name_still_runs(emulator: DiscordEmulator, bot: BotProcess) -> None:
    # After a re-sync the ids change; an interaction from a client holding the old id still names the command.
    payload = interaction_payload(emulator, "ping")
    payload["data"]["id"] = str(emulator.ids.next())
    rec = await send_raw_interaction(emulator, payload)
    body = await rec.wait_initial(timeout=10)
    assert body["data"]["content"].startswith("Pong!")


@pytest.mark.parametrize(
    ("name", "values", "permissions"),
    [("say", {"text": "hello"}, ADMINISTRATOR), ("chat", {"prompt": "hello"}, None)],
)
async def test_missing_required_option_gets_an_ephemeral_error_with_an_id_in_the_log(
    emulator: DiscordEmulator, bot: BotProcess, name: str, values: dict[str, str], permissions: int | None
) -> None:
    payload = interaction_payload(emulator, name, values, member_permissions=permissions)
    del payload["data"]["options"]
    rec = await send_raw_interaction(emulator, payload)
    text = await answer_text(rec)
    assert INTERNAL_ERROR in text and rec.ephemeral
    error_id = text.split("`")[1]
    line = await bot.wait_for_line(rf"/{name} by user \d+ failed \(error id {error_id}\)", timeout=5)
    assert "ERROR" in line
    await still_serving(emulator, bot)


async def test_wrongly_typed_option_gets_an_ephemeral_error(emulator: DiscordEmulator, bot: BotProcess) -> None:
    payload = interaction_payload(emulator, "say", {"text": "hello"}, member_permissions=ADMINISTRATOR)
    payload["data"]["options"][0]["value"] = 12345  # a number where Discord promised a string
    rec = await send_raw_interaction(emulator, payload)
    text = await answer_text(rec)
    assert INTERNAL_ERROR in text and rec.ephemeral
    await still_serving(emulator, bot)


async def test_oversized_say_text_is_answered_with_an_error_not_a_crash(
    emulator: DiscordEmulator, bot: BotProcess
) -> None:
    # /say declares max_length 2000; a longer text would make a reply Discord refuses.
    payload = interaction_payload(emulator, "say", {"text": "y" * 10_000}, member_permissions=ADMINISTRATOR)
    rec = await send_raw_interaction(emulator, payload)
    text = await answer_text(rec)
    assert rec.ephemeral and len(rec.callbacks) == 1
    assert "y" * 100 not in text
    assert "at most 2000 characters" in text
    await still_serving(emulator, bot)


async def test_oversized_chat_prompt_is_answered(emulator: DiscordEmulator, bot: BotProcess) -> None:
    # /chat declares max_length 4000; a forged 100,000 characters are refused before reaching the LLM.
    payload = interaction_payload(emulator, "chat", {"prompt": "z" * 100_000})
    rec = await send_raw_interaction(emulator, payload)
    text = await answer_text(rec, timeout=20)
    assert rec.ephemeral
    assert "at most 4000 characters" in text
    await still_serving(emulator, bot)


async def test_oversized_option_names_and_unicode_noise_do_not_crash(
    emulator: DiscordEmulator, bot: BotProcess
) -> None:
    payload = interaction_payload(emulator, "ping")
    payload["data"]["options"] = [{"name": "\u202e" * 5000, "type": 3, "value": "\udcff" * 10}]
    payload["locale"] = "xx-" + "Q" * 1000
    rec = await send_raw_interaction(emulator, payload)
    await rec.wait_for(lambda r: r.callbacks or r.errors, timeout=10)
    assert len(rec.callbacks) == 1
    await still_serving(emulator, bot)


# ---------------------------------------------------------------------------------------------- gateway payloads


# hikari reports a failed deserialization through asyncio's exception handler (ERROR, with a traceback); an
# unknown interaction type or event name is dropped with a DEBUG line.
LOGGED = "Exception occurred in raw event dispatch conduit"


@pytest.mark.parametrize(
    ("event", "data", "logged"),
    [
        ("INTERACTION_CREATE", {"id": "1", "type": 2}, True),  # required fields missing
        ("INTERACTION_CREATE", {"id": "not-a-snowflake", "type": "two", "data": None, "token": 5}, False),
        ("INTERACTION_CREATE", [], True),
        ("GUILD_CREATE", {"id": "x"}, True),
        ("SOMETHING_DISCORD_ADDED_LATER", {"id": "1"}, False),
    ],
)
async def test_malformed_dispatch_data_is_logged_or_dropped(
    emulator: DiscordEmulator, bot: BotProcess, event: str, data: Any, logged: bool
) -> None:
    lines = len(bot.stdout_lines)
    await emulator.dispatch(event, data)
    await still_serving(emulator, bot)
    if logged:
        line = await bot.wait_for_line(LOGGED, timeout=5, start=lines)
        assert "ERROR" in line
    assert emulator.connection_count == 1  # no reconnect needed
    assert emulator.token not in bot.stdout


async def send_raw_frame(emulator: DiscordEmulator, text: str) -> None:
    """Send `text` as one gateway message on the live connection (compressed like every other message)."""
    [connection] = emulator.gateway.ready_connections()
    data = text.encode()
    async with connection.lock:
        if connection.compress is None:
            await connection.ws.send_str(text)
        else:
            await connection.ws.send_bytes(connection.compress(data))


async def test_unknown_opcodes_are_ignored(emulator: DiscordEmulator, bot: BotProcess) -> None:
    await send_raw_frame(emulator, json.dumps({"op": 99, "d": {"x": 1}, "s": None, "t": None}))
    await send_raw_frame(emulator, json.dumps({"op": 11, "d": None, "s": None, "t": None}))  # unexpected ACK
    await still_serving(emulator, bot)
    assert emulator.connection_count == 1  # not even a reconnect


# hikari 2.6 lets these escape its shard's event loop (the shard task dies); ora opens a new session instead
# of exiting (ora/core/gateway.py, wait_for_stop). The gateway only: SQLite alone.
@pytest.mark.one_backend
@pytest.mark.slow  # 8 s each: hikari's back-off before the new session
@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"op": 0, "d": {"id": "1"}, "s": None, "t": None}),  # a dispatch without an event name
        "{this is not json",
        json.dumps(["op", 0]),
        json.dumps({"op": 0, "d": {}, "s": 2, "t": "READY"}),  # READY without a session id
    ],
)
async def test_malformed_gateway_frames_do_not_end_the_bot(
    emulator: DiscordEmulator, bot: BotProcess, frame: str
) -> None:
    lines = len(bot.stdout_lines)
    await send_raw_frame(emulator, frame)
    # The bot may drop the connection that carried the frame and open a new session: a /ping sent into the
    # dying connection is lost with it (as on Discord), so try again once the bot is connected again.
    for attempt in range(3):
        await emulator.wait_ready(timeout=30)
        try:
            await still_serving(emulator, bot, timeout=8)
            break
        except TimeoutError:
            if attempt == 2:
                raise
    await bot.wait_for_line("ERROR", timeout=5, start=lines)
    assert bot.returncode is None
