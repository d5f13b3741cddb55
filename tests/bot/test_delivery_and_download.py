"""Delivery (retries, no duplicates) and streamed downloads, with a real PTB Bot against the
fake Bot API server: the parts of the chat flow that only a misbehaving Telegram shows."""

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from fake_telegram import DOWNLOAD, PROXY_502_PAGE, FakeTelegram, FakeUser
from telegram import Bot
from telegram.error import TimedOut

from bot.delivery import deliver, replace
from bot.download import download

ROOT = Path(__file__).resolve().parents[2]
USER = FakeUser(5001, "Nadia")


@pytest_asyncio.fixture
async def tg() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    with FakeTelegram() as fake:
        fake.add_chat(USER)
        async with Bot(fake.token, fake.api_base_url, fake.file_base_url) as bot:
            yield fake, bot


def texts_in_chat(fake: FakeTelegram) -> list[str]:
    """Every text the user can see now, each message as it stands after its edits."""
    ids = [m["message_id"] for m in fake.sent_messages(USER.id)]
    return [message["text"] for i in ids if (message := fake.message(USER.id, i))]


async def test_a_timed_out_edit_that_landed_is_not_answered_twice(
    tg: tuple[FakeTelegram, Bot],
) -> None:
    """The first edit is applied but answered after the client gave up: its retry finds the
    message unchanged-able ("not modified"), which means delivered — no second answer."""
    fake, bot = tg
    status = await bot.send_message(USER.id, "🎧 Analysing…")
    fake.delay_next("editMessageText", 1.5)
    await replace(bot, status, "the answer", timeout=0.5)
    assert texts_in_chat(fake) == ["the answer"]
    edits = fake.calls("editMessageText")
    assert [c.ok for c in edits] == [True, False] and "not modified" in str(edits[1].description)


async def test_gateway_errors_are_retried_and_an_uneditable_status_gets_a_new_message(
    tg: tuple[FakeTelegram, Bot],
) -> None:
    fake, bot = tg
    status = await bot.send_message(USER.id, "🎧 Analysing…")
    fake.fail_next("editMessageText", times=2, status=502, body=PROXY_502_PAGE)
    await deliver(bot, USER.id, ["first", "second"], None, status=status)
    assert texts_in_chat(fake) == ["first", "second"]

    gone = await bot.send_message(USER.id, "🎧 Analysing…")
    await bot.delete_message(USER.id, gone.message_id)
    await deliver(bot, USER.id, ["third"], None, status=gone)
    assert texts_in_chat(fake)[-1] == "third"


async def test_a_timed_out_send_is_not_repeated(tg: tuple[FakeTelegram, Bot]) -> None:
    """A send cannot be checked like an edit: one that may have landed is not sent again."""
    fake, bot = tg
    fake.delay_next("sendMessage", 1.5)
    with pytest.raises(TimedOut):
        await deliver(bot, USER.id, ["once"], None, timeout=0.5)
    assert texts_in_chat(fake) == ["once"]


async def test_a_download_streams_to_the_file(tg: tuple[FakeTelegram, Bot], tmp_path: Path) -> None:
    """The file grows while the transfer stalls midway: it is written chunk by chunk, not held
    whole in memory first (PTB's download_to_drive writes only at the end)."""
    fake, bot = tg
    content = secrets.token_bytes(3 * 1024 * 1024)
    fake.add_file("big", content)
    fake.delay_next(DOWNLOAD, 1.5, after_bytes=2 * 1024 * 1024)
    remote = await bot.get_file("big")
    target = tmp_path / "track.mp3"
    task = asyncio.create_task(download(remote, target, timeout=10))
    await fake.wait_for_async(DOWNLOAD)
    await asyncio.sleep(1.0)  # inside the stall
    written = target.stat().st_size if target.exists() else 0
    assert not task.done() and written >= 1024 * 1024, written
    await task
    assert target.read_bytes() == content

    fake.fail_next(DOWNLOAD, status=502, body=PROXY_502_PAGE)
    with pytest.raises(Exception, match="502"):
        await download(await bot.get_file("big"), tmp_path / "lost.mp3", timeout=10)


def test_peak_memory_of_20_concurrent_downloads() -> None:
    """The figure of issue 10: the bot process's peak RSS for 20 downloads of 13.6 MB at once,
    with PTB's download_to_drive and with the streamed download (bench/download_memory.py)."""
    figures = {}
    for how in ("ptb", "stream"):
        done = subprocess.run(
            [sys.executable, "bench/download_memory.py", how],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        figures[how] = done.stdout.strip()
        print(figures[how])
    assert all("peak RSS" in line for line in figures.values())
