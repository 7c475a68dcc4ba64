"""Local /link codes: made for people to read and type."""

from __future__ import annotations

import secrets

LOCAL_CODE_TTL = 600
# Unambiguous alphabet (no 0/O, 1/I/L): the code is read and typed by people.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_local_code(groups: int = 3, group_length: int = 4) -> str:
    """E.g. `7KQF-M2XA-PZ9C`: 12 symbols of a 31-letter alphabet, about 59 random bits."""
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(group_length)) for _ in range(groups))


def canonical_local_code(typed: str, groups: int = 3, group_length: int = 4) -> str:
    """A code as people type it (lower case, spaces, dashes left out) in the form `new_local_code` made it."""
    symbols = "".join(char for char in typed if not char.isspace() and char != "-").upper()
    if len(symbols) != groups * group_length:
        return symbols
    return "-".join(symbols[start : start + group_length] for start in range(0, len(symbols), group_length))
