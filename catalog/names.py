"""Names from outside (file tags, an import CSV, Yandex Music answers) made safe to keep and show.

A name is data. One from a hostile or broken source can hold terminal escapes (ESC, BEL), NUL,
other C0/C1 controls, bidirectional overrides that make "3pm.mp3" read as "3mp.mp3", or 20 KB of
text. Ingestion keeps names through `clean_name`: controls and bidi controls removed, runs of
white space made one space, the length capped. Output to a terminal goes through `printable`,
which escapes whatever is still unprintable (older catalogs hold uncleaned names).
"""

import re
import unicodedata

MAX_NAME_CHARS = 200  # longer titles exist, but nobody reads past this in a chat or a terminal

# Bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069) and the Arabic letter mark;
# LRM/RLM (U+200E/F) are kept: they are ordinary in right-to-left titles and change no order.
_BIDI_CONTROLS = frozenset("\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_CATEGORIES = frozenset(("Cc", "Cs", "Zl", "Zp"))
_SPACES = re.compile(r"\s+")


def _is_control(char: str) -> bool:
    """C0 and C1 controls, DEL, the bidi controls above, the line and paragraph separators,
    and lone surrogates (a tag decoded with `surrogateescape`: neither SQLite nor a UTF-8
    terminal takes them)."""
    return unicodedata.category(char) in _CONTROL_CATEGORIES or char in _BIDI_CONTROLS


def clean_name(value: object, limit: int = MAX_NAME_CHARS) -> str | None:
    """`value` as a name fit to store and show, or None when nothing is left of it.

    Tabs and line breaks become spaces (they separate words); every other control is removed.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = _SPACES.sub(" ", text)
    text = "".join(char for char in text if not _is_control(char)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def stripped(value: str | int | None) -> str | None:
    """An id or a text field (a CSV cell, a stored id) as a non-empty stripped string, or None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def printable(text: str) -> str:
    """`text` for a terminal: controls and bidi controls shown as `\\u001b`, `\\u202e`.

    The same escapes as JSON's, so a line of json.dumps(..., ensure_ascii=False) made
    printable is still JSON and reads back as the same names (json.dumps escapes C0 itself,
    but not DEL, C1 or bidi). Line breaks are escaped too: print a text of lines line by line.
    """
    if not any(_is_control(char) for char in text):
        return text
    return "".join(f"\\u{ord(char):04x}" if _is_control(char) else char for char in text)
