"""Chat memory: a user's completed exchanges per channel."""

from __future__ import annotations

import time

import attrs

from ora.core.store import Store


@attrs.frozen
class ChatTurn:
    prompt: str
    answer: str


class ChatMemory:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add_turn(
        self, user_id: int, channel_id: int, prompt: str, answer: str, model: str, *, keep: int | None = None
    ) -> None:
        """Remember one exchange; with `keep`, only the newest `keep` exchanges of this conversation stay.

        Rows past `keep` can never be read back (`recent_turns` reads at most that many), so they go.
        """
        if keep is not None and keep <= 0:
            await self.clear(user_id, channel_id)
            return
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO chat_turns (user_id, channel_id, prompt, answer, model, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                (user_id, channel_id, prompt, answer, model, time.time()),
            )
        ]
        if keep is not None:
            statements.append(
                (
                    "DELETE FROM chat_turns WHERE user_id = $1 AND channel_id = $2 AND id NOT IN"
                    " (SELECT id FROM chat_turns WHERE user_id = $1 AND channel_id = $2 ORDER BY id DESC LIMIT $3)",
                    (user_id, channel_id, keep),
                )
            )
        await self._store.execute_many(statements)

    async def recent_turns(self, user_id: int, channel_id: int, max_turns: int, max_chars: int) -> list[ChatTurn]:
        """Newest exchanges that fit both bounds, oldest first (the order they go to the model)."""
        if max_turns <= 0 or max_chars <= 0:
            return []
        rows = await self._store.fetch_all(
            "SELECT prompt, answer FROM chat_turns WHERE user_id = $1 AND channel_id = $2 ORDER BY id DESC LIMIT $3",
            (user_id, channel_id, max_turns),
        )
        turns: list[ChatTurn] = []
        used = 0
        for row in rows:
            size = len(row["prompt"]) + len(row["answer"])
            if used + size > max_chars:
                break
            used += size
            turns.append(ChatTurn(prompt=row["prompt"], answer=row["answer"]))
        turns.reverse()
        return turns

    async def clear(self, user_id: int, channel_id: int | None = None) -> int:
        """Forget the user's memory in one channel (or everywhere); returns exchanges removed."""
        if channel_id is None:
            return await self._store.execute("DELETE FROM chat_turns WHERE user_id = $1", (user_id,))
        return await self._store.execute(
            "DELETE FROM chat_turns WHERE user_id = $1 AND channel_id = $2", (user_id, channel_id)
        )
