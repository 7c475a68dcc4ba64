"""Pure text logic (no I/O): reasoning filtering, message splitting, file-name cleaning."""

from ora.text.reasoning import DeltaParts, FilterUpdate, ReasoningFilter, split_delta
from ora.text.splitting import DISCORD_MESSAGE_LIMIT, SplitPart, plan_split, split_message

__all__ = [
    "DISCORD_MESSAGE_LIMIT",
    "DeltaParts",
    "FilterUpdate",
    "ReasoningFilter",
    "SplitPart",
    "plan_split",
    "split_delta",
    "split_message",
]
