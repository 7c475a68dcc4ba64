"""The file-name sanitizer: properties over arbitrary text, hostile examples, Japanese names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ora.features.datasets.filenames import (
    DEFAULT_FILENAME,
    MAX_DISPLAY_NAME_CHARS,
    MAX_FILENAME_BYTES,
    clean_content_type,
    clean_display_name,
    sanitize_filename,
)

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

# Text biased towards what breaks sanitizers: separators, dots, controls, bidi, combining marks, CJK, surrogates.
hostile_alphabet = st.sampled_from(
    list('/\\.. \t\n\r\x00\x1b\x7f:*?"<>|~-_aZ09')
    + list(BIDI_CONTROLS)
    + ["\u0301", "\u3099", "\u200b", "\u200d", "\ufeff", "\u2028", "\u3000", "\ud800"]
    + list("データセット日本語ｶﾞ한국어é😀")
)
names = st.one_of(st.text(), st.text(alphabet=hostile_alphabet, max_size=400))


def _assert_safe(result: str, max_bytes: int = MAX_FILENAME_BYTES) -> None:
    assert result
    assert "/" not in result
    assert "\\" not in result
    assert "\x00" not in result
    assert not result.startswith(".")
    assert not any(unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") for char in result)
    assert not any(char in BIDI_CONTROLS for char in result)
    assert len(result.encode("utf-8")) <= max_bytes
    assert result not in (".", "..")
    assert unicodedata.is_normalized("NFC", result)


@settings(max_examples=500)
@given(names)
@example("../../etc/passwd")
@example(".env")
@example("a" * 300)
@example("\u202egnp.exe")
def test_sanitized_names_are_safe_and_stable(name: str) -> None:
    result = sanitize_filename(name)
    _assert_safe(result)
    assert sanitize_filename(result) == result


@given(names, st.integers(min_value=len(DEFAULT_FILENAME), max_value=64))
def test_length_bound_holds_for_any_limit(name: str, max_bytes: int) -> None:
    result = sanitize_filename(name, max_bytes=max_bytes)
    _assert_safe(result, max_bytes)
    assert sanitize_filename(result, max_bytes=max_bytes) == result


@settings(max_examples=300)
@given(names)
def test_display_names_are_clean_and_stable(name: str) -> None:
    result = clean_display_name(name)
    assert len(result) <= MAX_DISPLAY_NAME_CHARS
    assert not any(unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") for char in result)
    assert not any(char in BIDI_CONTROLS for char in result)
    assert result == result.strip()
    assert clean_display_name(result) == result


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system32\\config", "config"),
        ("/absolute/path/data.csv", "data.csv"),
        (".env", "env"),
        ("...hidden", "hidden"),
        ("..", DEFAULT_FILENAME),
        ("/", DEFAULT_FILENAME),
        ("", DEFAULT_FILENAME),
        ("   ", DEFAULT_FILENAME),
        ("\x00\x01\x02", DEFAULT_FILENAME),
        ("evil\x00.txt", "evil.txt"),
        ("line\nbreak\r\n.csv", "line break .csv"),
        ("tab\there.csv", "tab here.csv"),
        ("\u202egpj.exe", "gpj.exe"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u2066isolated\u2069.txt", "isolated.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ('what?*"<>|:.csv', "what_______.csv"),
        ("trailing dots...", "trailing dots"),
    ],
)
def test_hostile_examples(hostile: str, expected: str) -> None:
    assert sanitize_filename(hostile) == expected


def test_long_names_are_cut_keeping_the_extension() -> None:
    result = sanitize_filename("x" * 300 + ".csv")
    assert result.endswith(".csv")
    assert len(result.encode()) == MAX_FILENAME_BYTES


def test_long_japanese_names_are_cut_on_character_boundaries() -> None:
    result = sanitize_filename("日本語のデータ" * 40 + ".jsonl")
    assert result.endswith(".jsonl")
    assert len(result.encode()) <= MAX_FILENAME_BYTES
    assert result.startswith("日本語のデータ")
    result.encode("utf-8")  # whole code points only


@pytest.mark.parametrize(
    "name",
    ["データセット.csv", "学習データ　第２版.jsonl", "ﾃﾞｰﾀ.txt", "한국어 자료.csv", "résumé.pdf", "emoji 👩‍💻.txt"],
)
def test_non_ascii_names_survive(name: str) -> None:
    assert sanitize_filename(name) == name


def test_decomposed_names_are_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "データセット.csv")
    assert decomposed != "データセット.csv"
    assert sanitize_filename(decomposed) == "データセット.csv"
    assert clean_display_name(decomposed) == "データセット.csv"


def test_display_names_keep_punctuation_but_not_controls() -> None:
    assert clean_display_name("  Survey:  2024\n(final)\u202e ") == "Survey: 2024 (final)"
    assert clean_display_name("\x00\u202e") == ""
    assert len(clean_display_name("名" * 500)) == MAX_DISPLAY_NAME_CHARS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("text/csv", "text/csv"),
        ("text/CSV; charset=utf-8", "text/csv"),
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("application/x-ndjson", "application/x-ndjson"),
        ("text/plain\r\nX-Evil: 1", None),
        ("nonsense", None),
        ("", None),
        (None, None),
    ],
)
def test_content_types(raw: str | None, expected: str | None) -> None:
    assert clean_content_type(raw) == expected
