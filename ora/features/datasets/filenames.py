"""Clean user-supplied file names, display names and content types (pure, no I/O).

The bot never uses these strings to build a path (stored files are named after their SHA-256); they are
metadata shown to users and sent to ORA. They are still made harmless everywhere they may travel:

* Unicode NFC, so a Japanese name typed on macOS (NFD) and on Windows (NFC) is the same string;
* no control characters (NUL, newlines, tabs), no bidi overrides/isolates that make ``exe.txt`` look like
  ``txt.exe``, no lone surrogates (they cannot be encoded);
* file names only: the last path component (``../../etc/passwd`` → ``passwd``), no leading dots (no hidden
  files, no ``..``), no characters Windows forbids, no reserved device names, bounded UTF-8 length with the
  extension kept where possible.

Every function here is idempotent: cleaning a clean value returns it unchanged.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "DEFAULT_FILENAME",
    "MAX_DISPLAY_NAME_CHARS",
    "MAX_FILENAME_BYTES",
    "clean_content_type",
    "clean_display_name",
    "sanitize_filename",
]

#: Upper bound on a sanitized file name, in UTF-8 bytes (common file systems allow 255).
MAX_FILENAME_BYTES = 200
#: Upper bound on a display name, in characters.
MAX_DISPLAY_NAME_CHARS = 100
#: What an empty or entirely hostile file name becomes.
DEFAULT_FILENAME = "dataset"

# Format characters (category Cf) that matter for display: bidi embeddings, overrides, isolates and marks,
# the Arabic letter mark, invisible separators. Zero-width (non-)joiners stay: emoji sequences and Persian
# or Indic text need them.
_KEEP_FORMAT = frozenset("\u200c\u200d")
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))]
)
_SPACES = re.compile(r" {2,}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}\Z")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")
_MAX_ROUNDS = 8


def _clean_characters(text: str) -> str:
    """NFC; line breaks and other control whitespace → space; other control/format/surrogate chars removed."""
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            if char.isspace():
                out.append(" ")
        elif category == "Cs" or (category == "Cf" and char not in _KEEP_FORMAT):
            continue
        else:
            out.append(char)
    # Removing characters can create new composition pairs (e + ZWSP + U+0301): normalise again.
    return _SPACES.sub(" ", unicodedata.normalize("NFC", "".join(out))).strip()


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` (whole code points) that fits in `max_bytes` UTF-8 bytes."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def _sanitize_once(name: str, max_bytes: int, fallback: str) -> str:
    name = _clean_characters(name)
    # Keep only the last path component, whichever separator the sender's OS used.
    parts = [part for part in re.split(r"[/\\]", name) if part.strip(" .")]
    name = parts[-1] if parts else ""
    name = "".join("_" if char in _WINDOWS_FORBIDDEN else char for char in name)
    name = name.strip(" .")
    if name.partition(".")[0].upper() in _WINDOWS_RESERVED:
        name = f"_{name}"
    if len(name.encode("utf-8")) > max_bytes:
        match = _EXTENSION.search(name)
        suffix = match.group() if match and len(match.group()) * 4 <= max_bytes else ""
        stem = _truncate_utf8(name[: len(name) - len(suffix)], max_bytes - len(suffix))
        name = stem.rstrip(" .") + suffix
    name = name.strip(" .")
    return name or fallback


def sanitize_filename(name: str, *, max_bytes: int = MAX_FILENAME_BYTES, fallback: str = DEFAULT_FILENAME) -> str:
    """A harmless file name for metadata: no separators, controls, bidi tricks or leading dots; never empty.

    The result is at most `max_bytes` bytes in UTF-8; a short extension (``.csv``) survives truncation.
    `fallback` (itself already clean) is used when nothing usable remains.
    """
    if max_bytes < len(fallback.encode("utf-8")):
        raise ValueError("max_bytes is smaller than the fallback name")
    for _ in range(_MAX_ROUNDS):
        cleaned = _sanitize_once(name, max_bytes, fallback)
        if cleaned == name:
            return cleaned
        name = cleaned
    return fallback  # pathological input that keeps changing: give up on it


def clean_display_name(name: str, *, max_chars: int = MAX_DISPLAY_NAME_CHARS) -> str:
    """A name for lists and messages: NFC, no control or bidi characters, single spaces, bounded length.

    Returns "" when nothing is left (the caller then falls back to the file name).
    """
    for _ in range(_MAX_ROUNDS):
        cleaned = _clean_characters(name)[:max_chars].strip()
        if cleaned == name:
            return cleaned
        name = cleaned
    return ""


def clean_content_type(value: str | None) -> str | None:
    """`type/subtype` (parameters dropped, lower case) when it looks like a media type, else None."""
    if not value:
        return None
    essence = value.split(";", 1)[0].strip().lower()
    return essence if _CONTENT_TYPE.fullmatch(essence) else None
