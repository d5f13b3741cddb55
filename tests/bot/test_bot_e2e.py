"""The real Application (and the real `python -m bot` process) against the fake Bot API server:
what a person in the chat sees, end to end, with real audio, workers and SQLite."""

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from audio_factory import STYLES, encode, reencode_excerpt, style_for, synth_music
from bot_harness import (
    ADMIN,
    allow,
    resources_of,
    running,
    running_with_catalog,
    send_track,
    settings_for,
)
from fake_telegram import DOWNLOAD, PROXY_502_PAGE, Call, FakeTelegram, FakeUser

from bot.context import BotApplication
from catalog.importer import Importer
from catalog.metadata import MetadataTable, TrackMetadata

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
CATALOG_SIZE = 24  # more than two pages of results
LINKED = 5  # catalog track with Yandex ids


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("library")
    return [
        encode(
            synth_music(12.0, seed=i, **style_for(i)),
            folder / f"Artist {i} - Song {i}.mp3",
            channels=2,
        )
        for i in range(CATALOG_SIZE)
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake: FakeTelegram, library: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotApplication]:
    """One running bot with a 24-track catalog, shared by the tests (each uses its own user)."""
    database = tmp_path_factory.mktemp("db") / "bot.sqlite3"
    ids = TrackMetadata(yandex_track_id="777", yandex_album_id="55")
    meta = MetadataTable({library[LINKED].resolve(): ids}, [])
    async with running_with_catalog(fake, database, library, meta) as application:
        yield application


def edited_to(chat_id: int, fragment: str) -> Callable[[Call], bool]:
    return lambda call: (
        call.ok
        and call.method == "editMessageText"
        and call.params["chat_id"] == chat_id
        and fragment in call.params["text"]
    )


def sent_to(chat_id: int, fragment: str) -> Callable[[Call], bool]:
    return lambda call: (
        call.ok
        and call.method == "sendMessage"
        and call.params["chat_id"] == chat_id
        and fragment in call.params["text"]
    )


async def answer(fake: FakeTelegram, user: FakeUser, since: int, fragment: str) -> str:
    """The text the user's status message was finally edited to."""
    calls = await fake.wait_for_async(edited_to(user.id, fragment), since=since, timeout=90)
    return str(calls[-1].params["text"])


def links(text: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)">', text)


async def test_an_excerpt_of_a_catalog_track_comes_first_with_its_yandex_link(
    bot: BotApplication, fake: FakeTelegram, library: list[Path], tmp_path: Path
) -> None:
    user = FakeUser(2001, "Anna", "anna")
    await allow(bot, user)
    excerpt = reencode_excerpt(library[LINKED], tmp_path / "phone.mp3", start=2.0, seconds=8.0)
    mark = fake.mark()
    await send_track(fake, user, excerpt, "excerpt-1")

    text = await answer(fake, user, mark, "Sounds like")
    assert links(text)[0] == "https://music.yandex.ru/album/55/track/777"
    assert "Artist 5 — Song 5" in text
    assert len(re.findall(r"^\d+\. ", text, re.MULTILINE)) == 10
    since = fake.calls()[mark:]
    assert [c for c in since if sent_to(user.id, "Analysing phone.mp3")(c)]
    assert [c for c in since if c.method == "sendChatAction" and c.params["chat_id"] == user.id]
    assert fake.downloads("excerpt-1") == 1
    assert not list(resources_of(bot).downloads.iterdir())  # the temp file is gone


async def test_top_and_the_more_button_page_through_the_results(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(2002, "Boris", language_code="en")
    await allow(bot, user)
    mark = fake.mark()
    await send_track(fake, user, library[0], "page-1")
    first = await answer(fake, user, mark, "Sounds like")
    assert "10. " in first and "11. " not in first

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top"))
    second = await fake.wait_for_async(sent_to(user.id, "11. "), since=mark)
    text = second[-1].params["text"]
    assert "20. " in text and "10. " not in text and "21. " not in text

    keyboard = second[-1].params["reply_markup"]["inline_keyboard"]
    more = next(b for row in keyboard for b in row if b["text"] == "More ▸")
    message_id = second[-1].result["message_id"]
    mark = fake.mark()
    fake.push_update(fake.callback_query(user, message_id, more["callback_data"]))
    third = await fake.wait_for_async(sent_to(user.id, "21. "), since=mark)
    assert "20. " not in third[-1].params["text"]
    assert await fake.wait_for_async("answerCallbackQuery", since=mark)

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top"))
    await fake.wait_for_async(sent_to(user.id, "That was everything"), since=mark)

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top 15"))
    top = await fake.wait_for_async(sent_to(user.id, "15. "), since=mark)
    assert top[-1].params["text"].startswith("1. ") and "16. " not in top[-1].params["text"]

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top 99"))
    await fake.wait_for_async(sent_to(user.id, "/top N with N from 1 to 50"), since=mark)


async def test_feedback_buttons_store_the_vote(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(2003, "Vera")
    await allow(bot, user)
    mark = fake.mark()
    await send_track(fake, user, library[1], "vote-1")
    calls = await fake.wait_for_async(edited_to(user.id, "Sounds like"), since=mark, timeout=90)
    keyboard = calls[-1].params["reply_markup"]["inline_keyboard"]
    like = next(b for row in keyboard for b in row if b["text"] == "👍")
    query_id = int(like["callback_data"].split(":")[1])
    mark = fake.mark()
    message_id = calls[-1].params["message_id"]
    fake.push_update(fake.callback_query(user, message_id, like["callback_data"]))
    answered = await fake.wait_for_async("answerCallbackQuery", since=mark)
    assert answered[-1].params.get("text") == "Thanks for the feedback!"
    vote = await resources_of(bot).database.connector.fetchone(
        "SELECT vote FROM feedback WHERE query_id = ? AND user_id = ?", (query_id, user.id)
    )
    assert vote is not None and vote["vote"] == 1


async def test_a_stranger_is_refused_without_a_download_until_an_admin_allows_them(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    stranger = FakeUser(3001, "Stranger", language_code="ru")
    mark = fake.mark()
    await send_track(fake, stranger, library[2], "stranger-1")
    refusal = await fake.wait_for_async(sent_to(stranger.id, "3001"), since=mark)
    assert "закрытый бот" in refusal[-1].params["text"]
    fake.push_update(fake.text_message(stranger, "/top"))  # told once: the rest is ignored
    await asyncio.sleep(1.0)
    assert len([c for c in fake.calls()[mark:] if sent_to(stranger.id, "3001")(c)]) == 1
    assert fake.downloads("stranger-1") == 0
    assert not [c for c in fake.calls() if c.params.get("file_id") == "stranger-1"]

    member = FakeUser(2004, "Member")
    await allow(bot, member)
    mark = fake.mark()
    fake.push_update(fake.text_message(member, f"/allow {stranger.id}"))
    await fake.wait_for_async(sent_to(member.id, "for admins only"), since=mark)
    assert not await resources_of(bot).database.users.is_whitelisted(stranger.id)

    fake.push_update(fake.text_message(ADMIN, f"/allow {stranger.id}"))
    await fake.wait_for_async(sent_to(ADMIN.id, "may use the bot now"), since=mark)
    fake.push_update(fake.text_message(ADMIN, "/users"))
    listing = await fake.wait_for_async(sent_to(ADMIN.id, "Whitelisted users"), since=mark)
    assert "3001" in listing[-1].params["text"]

    mark = fake.mark()
    await send_track(fake, stranger, library[2], "stranger-2")
    assert "Похоже на" in await answer(fake, stranger, mark, "Похоже на")

    fake.push_update(fake.text_message(ADMIN, f"/deny {stranger.id}"))
    await fake.wait_for_async(sent_to(ADMIN.id, "may no longer use the bot"), since=mark)
    assert not await resources_of(bot).database.users.is_whitelisted(stranger.id)


async def test_bad_input_gets_its_own_message_and_the_bot_carries_on(
    bot: BotApplication, fake: FakeTelegram, library: list[Path], tmp_path: Path
) -> None:
    user = FakeUser(2005, "Gleb")
    await allow(bot, user)
    mark = fake.mark()
    fake.add_file("huge", b"\0" * 1024)
    fake.push_update(fake.audio_message(user, "huge", 30 * 1024 * 1024, file_name="long.mp3"))
    await fake.wait_for_async(sent_to(user.id, "up to 20 MB"), since=mark)
    assert fake.downloads("huge") == 0

    notes = tmp_path / "notes.txt"
    notes.write_text("not music")
    fake.add_file("notes", notes.read_bytes())
    fake.push_update(
        fake.document_message(user, "notes", 9, mime_type="text/plain", file_name="notes.txt")
    )
    await fake.wait_for_async(sent_to(user.id, "not an audio file"), since=mark)
    assert fake.downloads("notes") == 0

    corrupt = tmp_path / "broken.mp3"
    corrupt.write_bytes(library[3].read_bytes()[:300] + bytes(range(256)) * 40)
    await send_track(fake, user, corrupt, "corrupt")
    await answer(fake, user, mark, "could not decode")

    short = encode(synth_music(1.5), tmp_path / "short.mp3")
    await send_track(fake, user, short, "short")
    await answer(fake, user, mark, "too short")

    silent = encode(np.zeros(44_100 * 5, np.float32), tmp_path / "silent.ogg")
    await send_track(fake, user, silent, "silent", kind="voice")
    await answer(fake, user, mark, "silent")

    fake.fail_next(DOWNLOAD, times=1, status=502, body=PROXY_502_PAGE)
    await send_track(fake, user, library[7], "lost-download")
    await answer(fake, user, mark, "Something went wrong")  # the status is not left hanging

    fake.push_update(fake.text_message(user, "?"))  # too little to search for
    await fake.wait_for_async(sent_to(user.id, "Send me a track"), since=mark)

    voice = encode(synth_music(8.0, seed=3, **STYLES[3]), tmp_path / "voice.ogg")
    await send_track(fake, user, voice, "voice-ok", kind="voice")
    assert "Sounds like 🎤" in await answer(fake, user, mark, "Sounds like")


async def test_rate_limits_and_gateway_errors_lose_no_reply(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(2006, "Dina")
    await allow(bot, user)
    mark = fake.mark()
    fake.fail_next("getUpdates", times=2, status=502, body=PROXY_502_PAGE)
    fake.fail_next("sendMessage", times=2, status=429, retry_after=1)
    fake.fail_next("editMessageText", times=1, status=429, retry_after=1)
    fake.push_update(fake.text_message(user, "/help"))
    await send_track(fake, user, library[4], "limited")
    await fake.wait_for_async(sent_to(user.id, "finds music that sounds like"), since=mark)
    await answer(fake, user, mark, "Sounds like")
    failed = [c for c in fake.calls()[mark:] if not c.ok]  # the injected failures happened
    assert {c.status for c in failed} >= {429, 502}


async def test_five_users_at_once_are_all_answered(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    users = [FakeUser(2100 + i, f"User {i}") for i in range(5)]
    await allow(bot, *users)
    mark = fake.mark()
    for i, user in enumerate(users):
        await send_track(fake, user, library[6 + i], f"crowd-{i}")
    answers = await asyncio.gather(*(answer(fake, u, mark, "Sounds like") for u in users))
    assert all("1. " in text for text in answers)


async def test_a_users_second_track_waits_for_the_first(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(2007, "Egor")
    await allow(bot, user)
    mark = fake.mark()
    await send_track(fake, user, library[11], "first")
    await fake.wait_for_async(sent_to(user.id, "Analysing"), since=mark)
    await send_track(fake, user, library[12], "second")
    await fake.wait_for_async(sent_to(user.id, "is queued"), since=mark)
    await fake.wait_for_async(edited_to(user.id, "Sounds like"), count=2, since=mark, timeout=90)
    # the order of the calls: the queued track starts only once the first was answered
    calls = fake.calls()[mark:]
    statuses = [c for c in calls if sent_to(user.id, "")(c) and c.method == "sendMessage"]
    first, second = (call.result["message_id"] for call in statuses[:2])
    edits = [c for c in calls if edited_to(user.id, "")(c)]
    order = [
        (call.params["message_id"], "answer" if "Sounds like" in call.params["text"] else "start")
        for call in edits
    ]
    first_answered = order.index((first, "answer"))
    second_started = order.index((second, "start"))
    assert first_answered < second_started < order.index((second, "answer")), order


async def test_help_speaks_the_users_language(bot: BotApplication, fake: FakeTelegram) -> None:
    russian, english = FakeUser(2009, "Иван", language_code="ru"), FakeUser(2010, "Ian")
    await allow(bot, russian, english)
    mark = fake.mark()
    fake.push_update(fake.text_message(russian, "/start"))
    fake.push_update(fake.text_message(english, "/help"))
    await fake.wait_for_async(sent_to(russian.id, "находит музыку"), since=mark)
    await fake.wait_for_async(sent_to(english.id, "finds music"), since=mark)


async def test_an_empty_catalog_then_a_restart_keeps_top_working(
    fake: FakeTelegram, bot: BotApplication, library: list[Path], tmp_path: Path
) -> None:
    """A second bot on its own database (the shared one keeps running on its own chats)."""
    other = FakeTelegram()
    other.start()
    try:
        database = tmp_path / "restart.sqlite3"
        user = FakeUser(2008, "Zoya")
        async with running(settings_for(other, database, workers=1)) as application:
            await allow(application, user)
            mark = other.mark()
            await send_track(other, user, library[0], "empty")
            await answer(other, user, mark, "Ask an admin to import tracks")
            resources = resources_of(application)
            await Importer(resources.database, resources.recommender.embedder).run(library[:14])
            mark = other.mark()
            await send_track(other, user, library[1], "after-import")
            await answer(other, user, mark, "Sounds like")
        async with running(settings_for(other, database, workers=1)):
            mark = other.mark()
            other.push_update(other.text_message(user, "/top"))
            after = await other.wait_for_async(sent_to(user.id, "11. "), since=mark, timeout=60)
            assert "10. " not in after[-1].params["text"]
    finally:
        other.stop()
