"""catalog/names.py: what is left of a hostile name once cleaned, and how a name is printed."""

import json
import unicodedata

import pytest

from catalog.names import MAX_NAME_CHARS, clean_name, printable

HOSTILE = "\x1b[2J\x1b]0;owned\x07Ti\x00tle\x7f\x9b31m \u202ecod.exe\u2066x\u2069\u061c"


def test_controls_and_bidi_controls_are_removed_the_words_kept() -> None:
    assert clean_name(HOSTILE) == "[2J]0;ownedTitle31m cod.exex"
    assert clean_name("Artist\tName\r\nLive \u2028 at\x85 Home") == "Artist Name Live at Home"
    assert clean_name("   \x00\x1b\u202e  ") is None  # nothing left: no name
    assert clean_name(None) is None and clean_name("") is None
    assert clean_name(1984) == "1984"


def test_what_right_to_left_and_emoji_titles_need_is_kept() -> None:
    hebrew = "\u200fשיר\u200e (Remix)"  # RLM and LRM change no order: kept
    assert clean_name(hebrew) == hebrew
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467 Family"  # ZWJ joins the emoji
    assert clean_name(family) == family
    assert clean_name("Cafe\u0301") == "Café" == unicodedata.normalize("NFC", "Cafe\u0301")


def test_a_lone_surrogate_is_removed() -> None:
    """A tag decoded with surrogateescape: SQLite and a UTF-8 terminal refuse such text."""
    broken = b"Caf\xe9".decode("utf-8", "surrogateescape")
    assert clean_name(broken) == "Caf"
    assert clean_name(broken).encode("utf-8")  # type: ignore[union-attr]


def test_a_long_name_is_capped_with_an_ellipsis() -> None:
    capped = clean_name("x" * 20_000)
    assert capped is not None and len(capped) == MAX_NAME_CHARS and capped.endswith("x…")
    assert clean_name("a " * 150, limit=10) == "a a a a a…"
    exact = "y" * MAX_NAME_CHARS
    assert clean_name(exact) == exact


def test_cleaning_twice_changes_nothing() -> None:
    for value in (HOSTILE, "x" * 500, "  a\tb  ", "\u202e"):
        once = clean_name(value)
        assert clean_name(once) == once


def test_printable_escapes_what_would_drive_the_terminal() -> None:
    shown = printable(HOSTILE)
    assert shown.isprintable()
    assert shown.startswith("\\u001b[2J\\u001b]0;owned\\u0007Ti\\u0000tle\\u007f\\u009b31m \\u202e")
    assert printable("Кино — Группа крови") == "Кино — Группа крови"  # untouched
    assert printable(b"\xff".decode("utf-8", "surrogateescape")) == "\\udcff"


def test_printable_json_is_still_json_with_the_same_names() -> None:
    document = {"title": HOSTILE, "artist": "Кино", "odd": "back\\slash \\u202e\u2029\n"}
    lines = json.dumps(document, ensure_ascii=False, indent=2).split("\n")
    text = "\n".join(printable(line) for line in lines)  # as `recommend --json` prints it
    assert all(char.isprintable() or char == "\n" for char in text)
    assert json.loads(text) == document
    assert "Кино" in text  # not ASCII-escaped


@pytest.mark.parametrize(
    "char", ["\x1b", "\x07", "\x00", "\x9b", "\u202e", "\u2067", "\n", "\u2028", "\x85"]
)
def test_every_dangerous_character_goes_both_ways(char: str) -> None:
    assert char not in (clean_name(f"a{char}b") or "")
    assert char not in printable(f"a{char}b")
