"""Numbers from users: ASCII decimal digits within range, nothing else."""

import pytest

from bot.numbers import TELEGRAM_ID_MAX, parse_user_id
from catalog.numbers import SQLITE_INT_MAX, parse_number, parse_row_id


@pytest.mark.parametrize(
    "text", ["²", "١٢٣", "۱۲", "１２", "", " 12", "12 ", "+12", "-12", "1_000", "12a", "0x1f"]
)
def test_only_ascii_digits_are_numbers(text: str) -> None:
    assert parse_number(text, 0, 10**6) is None


def test_ranges() -> None:
    assert parse_user_id("42") == 42
    assert parse_user_id(str(TELEGRAM_ID_MAX)) == TELEGRAM_ID_MAX
    assert parse_user_id(str(TELEGRAM_ID_MAX + 1)) is None
    assert parse_user_id("0") is None
    assert parse_user_id("99999999999999999999") is None
    assert parse_row_id(str(SQLITE_INT_MAX)) == SQLITE_INT_MAX
    assert parse_row_id("99999999999999999999999") is None
    assert parse_number("007", 1, 50) == 7 and parse_number("51", 1, 50) is None
