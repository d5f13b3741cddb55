"""Issue 10 against the real Application, workers and SQLite, and the fake Bot API server:
long answers, a failing or slow Telegram, strangers, bursts, numbers, removed tracks."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from audio_factory import encode, style_for, synth_music
from bot_harness import (
    ADMIN,
    allow,
    resources_of,
    running_with_catalog,
    send_track,
    to,
)
from fake_telegram import PROXY_502_PAGE, Call, FakeTelegram, FakeUser

from bot.context import BotApplication

pytestmark = pytest.mark.asyncio(loop_scope="module")

CATALOG_SIZE = 16


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("library")
    return [
        encode(synth_music(8.0, seed=i, **style_for(i)), folder / f"Artist {i} - Song {i}.mp3")
        for i in range(CATALOG_SIZE + 1)  # the last one is not imported: a stranger's track
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake: FakeTelegram, library: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotApplication]:
    database = tmp_path_factory.mktemp("db") / "bot.sqlite3"
    async with running_with_catalog(fake, database, library[:CATALOG_SIZE]) as application:
        yield application


def sent(fake: FakeTelegram, chat_id: int, fragment: str, since: int) -> list[Call]:
    return [c for c in fake.calls()[since:] if to(chat_id, "sendMessage", fragment)(c)]


async def settle(fake: FakeTelegram, probe: FakeUser) -> None:
    """Wait until every update pushed so far was handled: a /help pushed after them is
    answered, and then a moment more for handlers running concurrently."""
    mark = fake.mark()
    fake.push_update(fake.text_message(probe, "/help"))
    await fake.wait_for_async(to(probe.id, "sendMessage", "finds music"), since=mark, timeout=60)
    await asyncio.sleep(0.5)


async def test_numbers_from_users_are_ascii_digits_in_range_and_every_button_is_answered(
    bot: BotApplication, fake: FakeTelegram
) -> None:
    member = FakeUser(6001, "Member")
    await allow(bot, member)
    mark = fake.mark()
    for typed in ("²", "١٢٣", "99999999999999999999", "0"):
        fake.push_update(fake.text_message(ADMIN, f"/allow {typed}"))
        fake.push_update(fake.text_message(ADMIN, f"/deny {typed}"))
        fake.push_update(fake.text_message(member, f"/top {typed}"))
    await fake.wait_for_async(to(ADMIN.id, "sendMessage", "Usage: /allow"), 4, since=mark)
    await fake.wait_for_async(to(ADMIN.id, "sendMessage", "Usage: /deny"), 4, since=mark)
    await fake.wait_for_async(to(member.id, "sendMessage", "/top N with N"), 4, since=mark)

    fake.push_update(fake.text_message(member, "/help"))
    help_message = await fake.wait_for_async(to(member.id, "sendMessage", "finds"), since=mark)
    message_id = help_message[-1].result["message_id"]
    presses = ["more:99999999999999999999999", "vote:99999999999999999999999:1", "more:١٢"]
    for data in presses:
        fake.push_update(fake.callback_query(member, message_id, data))
    answered = await fake.wait_for_async("answerCallbackQuery", len(presses), since=mark)
    assert all(call.params.get("text") for call in answered)
    await settle(fake, member)
    assert not sent(fake, ADMIN.id, "went wrong", mark) and not sent(fake, member.id, "wrong", mark)
    users = await resources_of(bot).database.users.list()
    assert {user.telegram_id for user in users} == {ADMIN.id, member.id}


async def test_a_stranger_is_refused_once_and_the_rest_ignored(
    bot: BotApplication, fake: FakeTelegram
) -> None:
    stranger, member = FakeUser(7001, "Stranger"), FakeUser(6002, "Member")
    await allow(bot, member)
    mark = fake.mark()
    for index in range(20):
        fake.push_update(fake.text_message(stranger, f"hello {index}"))
    await settle(fake, member)
    assert len(sent(fake, stranger.id, "7001", mark)) == 1

    refusal = sent(fake, stranger.id, "7001", mark)[0].result["message_id"]
    fake.push_update(fake.callback_query(stranger, refusal, "more:1"))
    assert await fake.wait_for_async("answerCallbackQuery", since=mark)  # a press: answered

    fake.push_update(fake.text_message(ADMIN, f"/allow {stranger.id}"))
    await fake.wait_for_async(to(ADMIN.id, "sendMessage", "may use the bot"), since=mark)
    fake.push_update(fake.text_message(stranger, "/help"))
    await fake.wait_for_async(to(stranger.id, "sendMessage", "finds music"), since=mark)


async def test_300_strangers_writing_at_once_do_not_delay_a_member(
    bot: BotApplication, fake: FakeTelegram
) -> None:
    member = FakeUser(6003, "Member")
    await allow(bot, member)

    async def member_latency() -> float:
        mark = fake.mark()
        started = time.monotonic()
        fake.push_update(fake.text_message(member, "/help"))
        await fake.wait_for_async(to(member.id, "sendMessage", "finds"), since=mark, timeout=90)
        return time.monotonic() - started

    alone = await member_latency()
    mark = fake.mark()
    strangers = [FakeUser(800_000 + i, f"Stranger {i}") for i in range(300)]
    for stranger in strangers:
        fake.push_update(fake.text_message(stranger, "let me in"))
    crowded = await member_latency()
    print(
        f"\nwhitelisted user's /help answered in {alone:.2f} s alone, "
        f"{crowded:.2f} s with 300 strangers writing at once"
    )
    await settle(fake, member)
    refusals = [c for c in fake.calls()[mark:] if c.method == "sendMessage" and c.ok]
    per_stranger: dict[int, int] = {}
    for call in refusals:
        per_stranger[call.params["chat_id"]] = per_stranger.get(call.params["chat_id"], 0) + 1
    assert all(count == 1 for chat, count in per_stranger.items() if chat != member.id)


@pytest.mark.parametrize("burst", [10, 30])
async def test_a_burst_of_tracks_gets_one_analysed_and_three_queued(
    bot: BotApplication, fake: FakeTelegram, library: list[Path], burst: int
) -> None:
    user = FakeUser(6100 + burst, "Bursty")
    await allow(bot, user)
    mark = fake.mark()
    for index in range(burst):
        await send_track(fake, user, library[index % CATALOG_SIZE], f"burst-{burst}-{index}")
    full = to(user.id, "sendMessage", "tracks waiting")
    await fake.wait_for_async(full, burst - 4, since=mark, timeout=60)
    answers = to(user.id, "editMessageText", "Sounds like")
    await fake.wait_for_async(answers, 4, since=mark, timeout=120)
    await asyncio.sleep(1.0)
    downloads = sum(fake.downloads(f"burst-{burst}-{index}") for index in range(burst))
    assert downloads == 4
    assert len(sent(fake, user.id, "tracks waiting", mark)) == burst - 4
    assert len([c for c in fake.calls()[mark:] if answers(c)]) == 4


async def test_a_gateway_error_or_a_slow_edit_still_gives_exactly_one_answer(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(6004, "Unlucky")
    await allow(bot, user)
    mark = fake.mark()
    fake.fail_next("editMessageText", status=502, body=PROXY_502_PAGE)
    await send_track(fake, user, library[1], "bad-gateway")
    await fake.wait_for_async(to(user.id, "editMessageText", "Sounds like"), since=mark, timeout=90)

    fake.delay_next("editMessageText", 8.0)  # applied at once, answered after PTB's 5 s
    await send_track(fake, user, library[2], "slow-edit")
    await fake.wait_for_async(to(user.id, "editMessageText", "Sounds like"), 2, since=mark)
    await asyncio.sleep(9.0)
    assert not sent(fake, user.id, "went wrong", mark)
    shown = [fake.message(user.id, m["message_id"]) for m in fake.sent_messages(user.id)]
    answers = [m for m in shown if m and "Sounds like" in m["text"]]
    assert len(answers) == 2
    assert not [m for m in shown if m and "Analysing" in m["text"]]


async def test_long_titles_are_delivered_and_the_position_moves_only_after_delivery(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    database = resources_of(bot).database
    originals = await database.connector.fetchall("SELECT id, title, artist FROM tracks")
    for row in originals:  # ~450-character titles, every other one of emoji
        title = "🎸🔥" * 120 if row["id"] % 2 else f"{row['title']} & " + "long words " * 40
        await database.connector.execute(
            "UPDATE tracks SET title = ?, artist = ? WHERE id = ?", (title, "<Band>", row["id"])
        )
    user = FakeUser(6005, "Reader")
    await allow(bot, user)
    try:
        mark = fake.mark()
        await send_track(fake, user, library[CATALOG_SIZE], "long-1")
        done = await fake.wait_for_async(
            to(user.id, "editMessageText", "Sounds like"), since=mark, timeout=90
        )
        text = done[-1].params["text"]
        assert all(f"\n{n}. " in text for n in range(1, 11)) and "…" in text
        assert "More ▸" in str(done[-1].params["reply_markup"])
        query = await database.queries.latest_for_user(user.id)
        for _ in range(50):  # the position is stored once the edit's answer came back
            if query is not None and query.position:
                break
            await asyncio.sleep(0.1)
            query = await database.queries.latest_for_user(user.id)
        assert query is not None and query.position == 10

        # an answer that cannot be delivered at all leaves the position where it was
        mark = fake.mark()
        fake.fail_next("editMessageText", times=4, status=502, body=PROXY_502_PAGE)
        await send_track(fake, user, library[3], "long-2")
        await fake.wait_for_async(to(user.id, "sendMessage", "Analysing"), since=mark)
        # the edits' backoff leaves seconds to make the fallback sends fail too
        fake.fail_next("sendMessage", times=5, status=502, body=PROXY_502_PAGE)
        failed = lambda call: call.method == "sendMessage" and not call.ok  # noqa: E731
        await fake.wait_for_async(failed, 5, since=mark, timeout=60)
        await asyncio.sleep(2.0)
        latest = await database.queries.latest_for_user(user.id)
        assert latest is not None and latest.id != query.id and latest.position == 0
    finally:
        for row in originals:
            await database.connector.execute(
                "UPDATE tracks SET title = ?, artist = ? WHERE id = ?",
                (row["title"], row["artist"], row["id"]),
            )


async def test_pages_stay_full_and_numbered_after_tracks_are_removed(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(6006, "Pager")
    await allow(bot, user)
    mark = fake.mark()
    await send_track(fake, user, library[CATALOG_SIZE], "pager")
    await fake.wait_for_async(to(user.id, "editMessageText", "Sounds like"), since=mark, timeout=90)
    database = resources_of(bot).database
    query = await database.queries.latest_for_user(user.id)
    assert query is not None and len(query) == CATALOG_SIZE
    ranking = [int(i) for i in query.track_ids]
    for entry in (10, 11):  # not shown yet
        assert await database.tracks.remove(ranking[entry])

    def numbers(text: str) -> list[int]:
        return [int(line.split(".")[0]) for line in text.split("\n") if line[:1].isdigit()]

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top"))
    page = await fake.wait_for_async(to(user.id, "sendMessage", "11. "), since=mark)
    assert numbers(page[-1].params["text"]) == [11, 12, 13, 14]
    assert "More ▸" not in str(page[-1].params["reply_markup"])
    fake.push_update(fake.text_message(user, "/top"))
    await fake.wait_for_async(to(user.id, "sendMessage", "That was everything"), since=mark)

    assert await database.tracks.remove(ranking[5])
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top 12"))
    top = await fake.wait_for_async(to(user.id, "sendMessage", "1. "), since=mark)
    assert numbers(top[-1].params["text"]) == list(range(1, 13))
