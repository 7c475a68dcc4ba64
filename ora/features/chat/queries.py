"""Chat memory: a user's completed exchanges per channel."""

from __future__ import annotations

from ora.store.base import Database, now
from ora.store.models import ChatTurn


class ChatQueries:
    _database: Database

    async def add_chat_turn(
        self, user_id: int, channel_id: int, prompt: str, answer: str, model: str, *, keep: int | None = None
    ) -> None:
        """Remember one exchange; with `keep`, only the newest `keep` exchanges of this conversation stay.

        Rows past `keep` can never be read back (`recent_chat_turns` reads at most that many), so they go.
        """
        if keep is not None and keep <= 0:
            await self.clear_chat_turns(user_id, channel_id)
            return
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO chat_turns (user_id, channel_id, prompt, answer, model, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, channel_id, prompt, answer, model, now()),
            )
        ]
        if keep is not None:
            statements.append(
                (
                    "DELETE FROM chat_turns WHERE user_id = ? AND channel_id = ? AND id NOT IN"
                    " (SELECT id FROM chat_turns WHERE user_id = ? AND channel_id = ? ORDER BY id DESC LIMIT ?)",
                    (user_id, channel_id, user_id, channel_id, keep),
                )
            )
        await self._database.execute_many(statements)

    async def recent_chat_turns(self, user_id: int, channel_id: int, max_turns: int, max_chars: int) -> list[ChatTurn]:
        """Newest exchanges that fit both bounds, oldest first (the order they go to the model)."""
        if max_turns <= 0 or max_chars <= 0:
            return []
        rows = await self._database.fetch_all(
            "SELECT prompt, answer FROM chat_turns WHERE user_id = ? AND channel_id = ? ORDER BY id DESC LIMIT ?",
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

    async def clear_chat_turns(self, user_id: int, channel_id: int | None = None) -> int:
        """Forget the user's memory in one channel (or everywhere); returns exchanges removed."""
        if channel_id is None:
            return await self._database.execute("DELETE FROM chat_turns WHERE user_id = ?", (user_id,))
        return await self._database.execute(
            "DELETE FROM chat_turns WHERE user_id = ? AND channel_id = ?", (user_id, channel_id)
        )
