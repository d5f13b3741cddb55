"""Numbers typed or sent by users, parsed in one place.

`str.isdigit()` and `int()` accept more than people mean: "²" is a digit to `isdigit()` but not
to `int()`, "١٢٣" (Arabic-Indic) is a number to both, and a 30-digit id overflows SQLite's 64-bit
integers. Only ASCII decimal digits within an explicit range are numbers here.
"""

import re

SQLITE_INT_MAX = 2**63 - 1  # row ids (query ids) are SQLite 64-bit integers
_ASCII_DIGITS = re.compile(r"[0-9]{1,30}")


def is_ascii_number(text: str) -> bool:
    """Only 0-9, as an id in a link or a CSV must be (no "²", no "١٢٣", no sign, no spaces)."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def parse_number(text: str, low: int, high: int) -> int | None:
    """`text` as an int in low…high when it is ASCII digits only; None otherwise."""
    if not is_ascii_number(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_row_id(text: str) -> int | None:
    """A database row id such as a query id (1 … 2^63-1), or None."""
    return parse_number(text, 1, SQLITE_INT_MAX)
