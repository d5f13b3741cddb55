"""Issue 16, the chat's part, against the real Application, workers and SQLite and the fake Bot
API server: a 5xx on the status message, a burst of More presses or /top, a full disk."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

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
from storage import Connector

pytestmark = pytest.mark.asyncio(loop_scope="module")

CATALOG_SIZE = 16  # results 1–10 on the first page, 11–16 on the second
BURST = 50


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("library")
    return [
        encode(synth_music(8.0, seed=i, **style_for(i)), folder / f"Artist {i} - Song {i}.mp3")
        for i in range(CATALOG_SIZE + 1)  # the last one is not imported: a user's own track
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake: FakeTelegram, library: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotApplication]:
    database = tmp_path_factory.mktemp("db") / "bot.sqlite3"
    async with running_with_catalog(fake, database, library[:CATALOG_SIZE]) as application:
        yield application


def calls_to(fake: FakeTelegram, chat_id: int, method: str, since: int) -> list[Call]:
    return [c for c in fake.calls()[since:] if to(chat_id, method)(c)]


async def idle(bot: BotApplication, fake: FakeTelegram) -> None:
    """Wait until every update pushed so far was fetched and its handler has returned: a
    condition on the fake's queue and PTB's own count of updates being processed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while (
        fake.pending_update_count
        or not bot.update_queue.empty()
        or bot.update_processor.current_concurrent_updates
    ):
        assert loop.time() < deadline, "the bot did not finish its updates"
        await asyncio.sleep(0.05)


async def answered_track(
    bot: BotApplication, fake: FakeTelegram, user: FakeUser, track: Path, file_id: str
) -> Call:
    """The user sends `track`; the edit that turned the status into the first result page."""
    await allow(bot, user)
    mark = fake.mark()
    await send_track(fake, user, track, file_id)
    done = await fake.wait_for_async(to(user.id, "editMessageText", "1. "), since=mark, timeout=120)
    await idle(bot, fake)  # the paging position is stored once the page was delivered
    return done[-1]


def numbers(text: str) -> list[int]:
    return [int(line.split(".")[0]) for line in text.split("\n") if line[:1].isdigit()]


async def test_a_5xx_on_the_analysing_message_still_analyses_and_answers(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    """One 502 on the status message: it is sent again and the track answered in it. When it
    cannot be sent at all (four 502s): the track is analysed anyway, the answer sent anew."""
    user = FakeUser(9101, "Unlucky")
    await allow(bot, user)

    def outcome(call: Call) -> bool:
        """The answer, edited in or sent anew, or the apology that replaced it before."""
        return any(
            to(user.id, method, fragment)(call)
            for method, fragment in (
                ("editMessageText", "Sounds like"),
                ("sendMessage", "Sounds like"),
                ("sendMessage", "went wrong"),
            )
        )

    mark = fake.mark()
    fake.fail_next("sendMessage", status=502, body=PROXY_502_PAGE)
    await send_track(fake, user, library[1], "status-502-once")
    done = await fake.wait_for_async(outcome, since=mark, timeout=120)
    get_files = [c for c in fake.calls("getFile") if c.params["file_id"] == "status-502-once"]
    print(
        f"\none 502 on the status: getFile {len(get_files)}, "
        f"downloads {fake.downloads('status-502-once')}, answer: {done[-1].method} "
        f"{done[-1].params['text'][:40]!r}"
    )
    assert done[-1].method == "editMessageText"  # into the status message, sent on the retry
    assert len(get_files) == 1 and fake.downloads("status-502-once") == 1
    statuses = [c.status for c in calls_to_any(fake, user.id, "sendMessage", mark)]
    assert statuses == [502, 200]

    await idle(bot, fake)
    mark = fake.mark()
    fake.fail_next("sendMessage", times=4, status=502, body=PROXY_502_PAGE)  # every attempt
    await send_track(fake, user, library[2], "status-502-always")
    done = await fake.wait_for_async(outcome, since=mark, timeout=120)
    print(
        f"four 502s on the status: downloads {fake.downloads('status-502-always')}, "
        f"answer: {done[-1].method} {done[-1].params['text'][:40]!r}"
    )
    assert done[-1].method == "sendMessage" and "Sounds like" in done[-1].params["text"]
    assert fake.downloads("status-502-always") == 1
    assert "More ▸" in str(done[-1].params["reply_markup"])
    await idle(bot, fake)
    query = await resources_of(bot).database.queries.latest_for_user(user.id)
    assert query is not None and query.position == 10  # /top continues after the answer
    assert not [c for c in fake.calls()[mark:] if to(user.id, "sendMessage", "wrong")(c)]


def calls_to_any(fake: FakeTelegram, chat_id: int, method: str, since: int) -> list[Call]:
    """Calls of `method` to `chat_id`, failed ones included."""
    return [
        c for c in fake.calls()[since:] if c.method == method and c.params.get("chat_id") == chat_id
    ]


async def test_fifty_presses_of_more_send_the_next_page_once(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(9102, "Impatient")
    first = await answered_track(bot, fake, user, library[CATALOG_SIZE], "more-burst")
    message_id = first.params["message_id"]
    more = [
        button["callback_data"]
        for row in first.params["reply_markup"]["inline_keyboard"]
        for button in row
        if button["callback_data"].startswith("more:")
    ]
    assert len(more) == 1

    mark = fake.mark()
    fake.push_updates([fake.callback_query(user, message_id, more[0]) for _ in range(BURST)])
    await fake.wait_for_async("answerCallbackQuery", BURST, since=mark, timeout=120)
    await idle(bot, fake)
    sent = calls_to(fake, user.id, "sendMessage", mark)
    pages = [numbers(c.params["text"]) for c in sent]
    print(f"\n{BURST} presses of More: {len(sent)} messages sent, pages {pages}")
    assert pages == [list(range(11, CATALOG_SIZE + 1))]  # once, and nothing else sent
    assert more[0].endswith(":10")  # the button names its page: a repeat is recognised
    answers = [c for c in fake.calls()[mark:] if c.method == "answerCallbackQuery"]
    assert len(answers) == BURST and all(c.ok for c in answers)
    query = await resources_of(bot).database.queries.latest_for_user(user.id)
    assert query is not None and query.position == CATALOG_SIZE

    mark = fake.mark()  # a later press of the same button: its page was sent, said in a toast
    fake.push_update(fake.callback_query(user, message_id, more[0]))
    toast = await fake.wait_for_async("answerCallbackQuery", since=mark)
    assert "already sent" in toast[-1].params["text"]
    await idle(bot, fake)
    assert not calls_to(fake, user.id, "sendMessage", mark)

    # a button from before buttons named their page (more:QUERY): a burst of it gives
    # successive pages from the stored position, never copies, at most two
    database = resources_of(bot).database
    assert await database.queries.set_position(query.id, 0) == 0
    mark = fake.mark()
    legacy = f"more:{query.id}"
    fake.push_updates([fake.callback_query(user, message_id, legacy) for _ in range(BURST)])
    await fake.wait_for_async("answerCallbackQuery", BURST, since=mark, timeout=120)
    await idle(bot, fake)
    pages = [numbers(c.params["text"]) for c in calls_to(fake, user.id, "sendMessage", mark)]
    print(f"{BURST} presses of an old More button from the top: pages {pages}")
    assert pages == [list(range(1, 11)), list(range(11, CATALOG_SIZE + 1))]


async def test_fifty_top_commands_send_successive_pages_and_at_most_one_notice(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(9103, "Typist")
    await answered_track(bot, fake, user, library[3], "top-burst")

    mark = fake.mark()
    fake.push_updates([fake.text_message(user, "/top") for _ in range(BURST)])
    await idle(bot, fake)
    sent = calls_to(fake, user.id, "sendMessage", mark)
    pages = [numbers(c.params["text"]) for c in sent if numbers(c.params["text"])]
    no_more = [c for c in sent if "That was everything" in c.params["text"]]
    notices = [c for c in sent if "on their way" in c.params["text"]]
    print(
        f"\n{BURST} /top: {len(sent)} messages sent, pages {pages}, "
        f"no more {len(no_more)}, notices {len(notices)}"
    )
    query = await resources_of(bot).database.queries.latest_for_user(user.id)
    assert query is not None and query.position == len(query)  # a catalog track: itself left out
    assert pages == [list(range(11, len(query) + 1))]  # successive pages only: here, one
    assert len(no_more) <= 1 and len(notices) <= 1  # the one waiting, the rest told once
    assert len(sent) == len(pages) + len(no_more) + len(notices)

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top"))
    await fake.wait_for_async(to(user.id, "sendMessage", "That was everything"), since=mark)

    # from the top again: the burst's pages follow each other
    assert await resources_of(bot).database.queries.set_position(query.id, 0) == 0
    mark = fake.mark()
    fake.push_updates([fake.text_message(user, "/top") for _ in range(BURST)])
    await idle(bot, fake)
    sent = calls_to(fake, user.id, "sendMessage", mark)
    pages = [numbers(c.params["text"]) for c in sent if numbers(c.params["text"])]
    print(f"{BURST} /top from the top: {len(sent)} messages sent, pages {pages}")
    assert pages == [list(range(1, 11)), list(range(11, len(query) + 1))]
    assert len(sent) <= 3


async def _fill(
    connector: Connector,
    probe: str,
    probe_args: tuple[Any, ...],
    filler: str,
    filler_args: Callable[[int], tuple[Any, ...]],
) -> int:
    """Add filler rows beside `probe`'s row until `probe` itself no longer fits under the
    file's page limit (tried and rolled back each time); the number of fillers added."""

    class RollbackError(Exception):
        pass

    added = 0
    for index in range(1, 200_000):
        try:
            async with connector.transaction() as tx:
                await tx.execute(probe, probe_args)
                raise RollbackError
        except RollbackError:
            pass
        except sqlite3.OperationalError as error:
            assert "full" in str(error), error
            return added
        try:
            await connector.execute(filler, filler_args(index))
            added += 1
        except sqlite3.OperationalError as error:  # its page is full; the next may not be
            assert "full" in str(error), error
    raise AssertionError("the page limit was never reached")


async def test_a_full_disk_on_allow_or_a_vote_says_the_disk_is_full(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    """SQLITE_FULL for real: the database file may not grow (PRAGMA max_page_count), and the
    pages the write needs are full."""
    voter = FakeUser(9104, "Голосующий", language_code="ru")
    answer = await answered_track(bot, fake, voter, library[4], "full-disk")
    database = resources_of(bot).database
    query = await database.queries.latest_for_user(voter.id)
    assert query is not None
    target = 4_000_000_000
    row = await database.connector.fetchone("PRAGMA page_count")
    assert row is not None
    await database.connector.execute(f"PRAGMA max_page_count = {int(row[0])}")
    try:
        users = await _fill(
            database.connector,
            "INSERT INTO users (telegram_id, whitelisted, added_by) VALUES (?, 1, ?)",
            (target, ADMIN.id),
            "INSERT INTO users (telegram_id, whitelisted, added_by) VALUES (?, 0, ?)",
            lambda i: (target - i if i % 2 else target + i, ADMIN.id),
        )
        votes = await _fill(
            database.connector,
            "INSERT INTO feedback (query_id, user_id, vote) VALUES (?, ?, 1)",
            (query.id, voter.id),
            "INSERT INTO feedback (query_id, user_id, vote) VALUES (?, ?, 1)",
            lambda i: (query.id, voter.id - i if i % 2 else voter.id + i),
        )
        print(f"\nfillers: {users} users, {votes} votes; max_page_count {int(row[0])}")

        mark = fake.mark()
        fake.push_update(fake.text_message(ADMIN, f"/allow {target}"))
        like = f"vote:{query.id}:1"
        fake.push_update(fake.callback_query(voter, answer.params["message_id"], like))
        await fake.wait_for_async("answerCallbackQuery", since=mark, timeout=60)
        await idle(bot, fake)
        replies = [c.params["text"] for c in calls_to(fake, ADMIN.id, "sendMessage", mark)]
        toasts = [c.params.get("text") for c in fake.calls("answerCallbackQuery")[-1:]]
        voter_messages = [c.params["text"] for c in calls_to(fake, voter.id, "sendMessage", mark)]
        print(f"/allow answered {replies}; 👍 answered {toasts}, messages {voter_messages}")
        assert replies == [
            "💾 Could not save: the server's disk is full. Nothing was changed; please try "
            "again later (an admin needs to free space)."
        ]
        assert len(toasts) == 1 and "закончилось место на диске" in str(toasts[0])
        assert voter_messages == []  # the toast said it; no "went wrong while analysing"
    finally:
        await database.connector.execute("PRAGMA max_page_count = 1073741823")
    assert not await database.users.is_whitelisted(target)
    assert (
        await database.connector.fetchone(
            "SELECT 1 FROM feedback WHERE query_id = ? AND user_id = ?", (query.id, voter.id)
        )
        is None
    )

    mark = fake.mark()  # space again: the same requests succeed
    fake.push_update(fake.text_message(ADMIN, f"/allow {target}"))
    await fake.wait_for_async(to(ADMIN.id, "sendMessage", "may use the bot"), since=mark)
    fake.push_update(fake.callback_query(voter, answer.params["message_id"], like))
    thanks = lambda c: c.method == "answerCallbackQuery" and "Спасибо" in str(c.params)  # noqa: E731
    await fake.wait_for_async(thanks, since=mark)
