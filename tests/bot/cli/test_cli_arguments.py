"""The command line validates its numbers like the bot does: out of range is a usage error."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import build_parser
from bot.cli.recommend import TOP_MAX
from bot.numbers import TELEGRAM_ID_MAX
from catalog.numbers import SQLITE_INT_MAX
from catalog.recommender import RESULTS_KEPT

ROOT = Path(__file__).resolve().parents[3]

BAD = [
    ["recommend", "a.mp3", "--top", "-5"],
    ["recommend", "a.mp3", "--top", "0"],
    ["recommend", "a.mp3", "--top", "101"],
    ["recommend", "a.mp3", "--top", "1_0"],
    ["recommend", "a.mp3", "--top", "٣"],  # an Arabic-Indic 3: int() takes it
    ["recommend", "a.mp3", "--top", " 5"],
    ["catalog", "list", "--limit", "-1"],
    ["catalog", "list", "--offset", "-3"],
    ["catalog", "list", "--offset", str(SQLITE_INT_MAX + 1)],
    ["catalog", "remove", "0"],
    ["catalog", "remove", "+7"],
    ["catalog", "remove", "9" * 5000],  # past int()'s digit limit: must not be a traceback
    ["users", "allow", "-42"],
    ["users", "allow", str(TELEGRAM_ID_MAX + 1)],
    ["users", "deny", "bob"],
    ["import", "x", "--workers", "0"],
    ["import", "x", "--workers", "65"],
    ["reindex", "--workers", "0"],
    ["reindex", "--workers", "-2"],
    ["import-yandex", "--workers", "65"],
    ["import-yandex", "--limit", "0"],
    ["import-yandex", "--limit", "-1"],
    ["import-yandex", "--limit", "٣"],
    ["embed", "x", "--tags", "-1"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a)[:40] for a in BAD])
def test_bad_numbers_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert "usage:" in error and "invalid int value" in error and "a whole number from" in error


def test_the_limits_themselves_are_accepted() -> None:
    parser = build_parser()
    assert parser.parse_args(["recommend", "a.mp3", "--top", "100"]).top == TOP_MAX == RESULTS_KEPT
    assert parser.parse_args(["recommend", "a.mp3", "--top", "1"]).top == 1
    assert parser.parse_args(["recommend", "a.mp3"]).top == 10
    listing = parser.parse_args(
        ["catalog", "list", "--limit", "0", "--offset", str(SQLITE_INT_MAX)]
    )
    assert (listing.limit, listing.offset) == (0, SQLITE_INT_MAX)
    assert parser.parse_args(["users", "allow", str(TELEGRAM_ID_MAX)]).id == TELEGRAM_ID_MAX
    assert parser.parse_args(["import", "x", "--workers", "64"]).workers == 64
    assert parser.parse_args(["reindex", "--workers", "1"]).workers == 1
    assert parser.parse_args(["import-yandex", "--limit", "1"]).limit == 1


def test_recommend_top_minus_five_exits_2_before_any_work(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "recommend", "missing.mp3", "--top", "-5"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_PATH": str(tmp_path / "db.sqlite3")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "argument --top: invalid int value: '-5' (a whole number from 1 to 100)" in result.stderr
    assert not (tmp_path / "db.sqlite3").exists()
