"""Chat memory: a user's completed exchanges per channel."""

from __future__ import annotations

from ora.store.base import Database, now
from ora.store.models import ChatTurn


class ChatQueries:
    _database: Database

    async def add_chat_turn(self, user_id: int, channel_id: int, prompt: str, answer: str, model: str) -> None:
        await self._database.db.execute(
            "INSERT INTO chat_turns (user_id, channel_id, prompt, answer, model, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, channel_id, prompt, answer, model, now()),
        )

    async def recent_chat_turns(self, user_id: int, channel_id: int, max_turns: int, max_chars: int) -> list[ChatTurn]:
        """Newest exchanges that fit both bounds, oldest first (the order they go to the model)."""
        if max_turns <= 0 or max_chars <= 0:
            return []
        async with self._database.db.execute(
            "SELECT prompt, answer FROM chat_turns WHERE user_id = ? AND channel_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, channel_id, max_turns),
        ) as cursor:
            rows = await cursor.fetchall()
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

    async def clear_chat_turns(self, user_id: int, channel_id: int | None = None) -> int:
        """Forget the user's memory in one channel (or everywhere); returns exchanges removed."""
        if channel_id is None:
            cursor = await self._database.db.execute("DELETE FROM chat_turns WHERE user_id = ?", (user_id,))
        else:
            cursor = await self._database.db.execute(
                "DELETE FROM chat_turns WHERE user_id = ? AND channel_id = ?", (user_id, channel_id)
            )
        return max(cursor.rowcount, 0)
