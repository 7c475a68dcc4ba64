"""`/chat` streaming (issue 4): delay from the LLM's first answer token to the first visible edit, and REST
calls per 4,000-character answer.

Both ends are timed in this process with `time.perf_counter()`: `FakeLLMServer.first_token_at` when the
first chunk with answer text was written to the bot, and the moment the emulator handled the bot's first
edit of the deferred reply (`EditClock` hooks the emulator's change signal, which the emulator fires
synchronously while it handles the request, so no waiter's wake-up latency is included).
The bot paces edits to about one per second; the first edit is not paced, so the figure excludes pacing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.harness import RunningBot
from bench.stats import median
from ora.testing.discord import DiscordEmulator, InteractionRecord, User

ANSWER_CHARS = 4000
FIRST_USER_ID = 710_000_000_000_000_000
FINISH_TIMEOUT = 60.0


def long_answer(chars: int = ANSWER_CHARS) -> str:
    """Exactly `chars` characters: prose lines, a code block, and the end marker `That is all.`."""
    tail = "\n".join(["```python", *(f"print({n})  # step {n}" for n in range(4)), "```", "That is all."])
    lines = ["Here is a long answer."]
    index = 0
    while sum(len(line) + 1 for line in lines) + len(tail) < chars:
        lines.append(f"Point {index}: the quick brown fox jumps over the lazy dog, again and again.")
        index += 1
    text = "\n".join(lines)[: chars - len(tail) - 1].rstrip()
    text += "." * (chars - len(tail) - 1 - len(text))
    return f"{text}\n{tail}"


@dataclass(frozen=True)
class Profile:
    """How the fake LLM streams the answer."""

    name: str
    chunk_size: int
    delay_per_chunk: float

    @property
    def description(self) -> str:
        if self.delay_per_chunk == 0:
            return f"whole answer at once ({self.chunk_size}-char chunks, no delay)"
        chars_per_second = self.chunk_size / self.delay_per_chunk
        every = f"{self.delay_per_chunk * 1000:.0f} ms"
        return f"{self.chunk_size}-char chunks every {every} (~{chars_per_second:.0f} chars/s)"


PROFILES = (
    Profile("instant", chunk_size=400, delay_per_chunk=0.0),
    Profile("streamed", chunk_size=40, delay_per_chunk=0.04),  # ~1,000 chars/s: 4 s for 4,000 characters
)


@dataclass
class ChatFigures:
    profile: str
    description: str
    answers: int
    first_edit_delay_ms: float
    first_edit_delay_max_ms: float
    rest_calls: float
    edits: float
    followups: float
    messages: float


class EditClock:
    """Records `perf_counter()` when each watched interaction's first edit with content arrives."""

    def __init__(self, emulator: DiscordEmulator) -> None:
        self._emulator = emulator
        self._watched: list[InteractionRecord] = []
        self.first_edit_at: dict[int, float] = {}

    def watch(self, rec: InteractionRecord) -> None:
        self._watched.append(rec)

    def _check(self) -> None:
        now = time.perf_counter()
        for rec in self._watched:
            if rec.id not in self.first_edit_at and any(edit.get("content") for edit in rec.edits):
                self.first_edit_at[rec.id] = now

    @contextmanager
    def installed(self) -> Iterator[EditClock]:
        signal = self._emulator.signal
        original: Callable[[], None] = signal.notify

        def notify() -> None:
            self._check()
            original()

        signal.notify = notify  # type: ignore[method-assign]
        try:
            yield self
        finally:
            signal.notify = original  # type: ignore[method-assign]


def rest_calls_for(emulator: DiscordEmulator, rec: InteractionRecord) -> int:
    """REST requests the bot made for this interaction (callback, edits, follow-ups)."""
    return sum(1 for _, path in emulator.rest_requests if rec.token in path)


async def measure_chat(bot: RunningBot, profile: Profile, answers: int) -> ChatFigures:
    emulator, llm = bot.emulator, bot.llm
    answer = long_answer()
    clock = EditClock(emulator)
    delays: list[float] = []
    rest: list[float] = []
    edits: list[float] = []
    followups: list[float] = []
    messages: list[float] = []
    with clock.installed():
        for index in range(answers):
            llm.script(answer=answer, chunk_size=profile.chunk_size, delay_per_chunk=profile.delay_per_chunk)
            user = User(id=FIRST_USER_ID + index, username=f"chat{index}")
            rec = await emulator.send_command("chat", {"prompt": f"Question {index}"}, user=user)
            clock.watch(rec)
            await rec.wait_for(lambda r: r.all_content().rstrip().endswith("That is all."), timeout=FINISH_TIMEOUT)
            if rec.errors:
                raise AssertionError(f"/chat {index}: {rec.errors}")
            if llm.first_token_at is None or rec.id not in clock.first_edit_at:
                raise AssertionError(f"/chat {index}: no first token or no edit recorded")
            delays.append((clock.first_edit_at[rec.id] - llm.first_token_at) * 1000.0)
            rest.append(rest_calls_for(emulator, rec))
            edits.append(len(rec.edits))
            followups.append(len(rec.followups))
            messages.append(len(rec.all_messages()))
    return ChatFigures(
        profile=profile.name,
        description=profile.description,
        answers=answers,
        first_edit_delay_ms=median(delays),
        first_edit_delay_max_ms=max(delays),
        rest_calls=median(rest),
        edits=median(edits),
        followups=median(followups),
        messages=median(messages),
    )
