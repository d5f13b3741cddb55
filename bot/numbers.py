"""Numbers on the command line and Telegram user ids; the digits rule is catalog.numbers'."""

import argparse
from collections.abc import Callable

from catalog.numbers import parse_number

TELEGRAM_ID_MAX = 2**52 - 1  # Bot API: user ids have at most 52 significant bits


def parse_user_id(text: str) -> int | None:
    """A Telegram user id (1 … 2^52-1), or None."""
    return parse_number(text, 1, TELEGRAM_ID_MAX)


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
