"""Numbers typed or sent by users, parsed in one place.

`str.isdigit()` and `int()` accept more than people mean: "²" is a digit to `isdigit()` but not
to `int()`, "١٢٣" (Arabic-Indic) is a number to both, and a 30-digit id overflows SQLite's 64-bit
integers. Only ASCII decimal digits within an explicit range are numbers here.
"""

import argparse
import re
from collections.abc import Callable

TELEGRAM_ID_MAX = 2**52 - 1  # Bot API: user ids have at most 52 significant bits
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


def parse_user_id(text: str) -> int | None:
    """A Telegram user id (1 … 2^52-1), or None."""
    return parse_number(text, 1, TELEGRAM_ID_MAX)


def parse_row_id(text: str) -> int | None:
    """A database row id such as a query id (1 … 2^63-1), or None."""
    return parse_number(text, 1, SQLITE_INT_MAX)


def number_argument(low: int, high: int) -> Callable[[str], int]:
    """An argparse `type=`: ASCII digits from `low` to `high`, else a usage error (exit 2).

    `int` alone takes "-5", "+5", " 5", "1_0" and other scripts' digits, and numbers too big
    for SQLite, which end in a traceback or in nonsense (`--top -5` printed 18 results).
    """

    def parse(raw: str) -> int:
        value = parse_number(raw, low, high)
        if value is None:
            raise argparse.ArgumentTypeError(
                f"invalid int value: {raw!r} (a whole number from {low} to {high})"
            )
        return value

    return parse
